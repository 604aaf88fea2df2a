// Package storetest is the conformance suite every steward.Store passes: the
// store's own contract (tenant isolation, uniqueness, pages, the audit chain,
// the change feed) and the rules of the specification enforced through the
// Service on top of it. Each backend's tests call Run.
package storetest
