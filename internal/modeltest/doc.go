// Package modeltest holds the model-based property tests of Steward's
// rules: random sequences of every write the service offers, by random
// actors of several tenants, checked after every step against an
// independent model of SPEC §2 (see escalation_test.go). It has no
// non-test code.
package modeltest
