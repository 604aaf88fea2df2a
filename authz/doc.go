// Package authz is the check index: every user's memberships held in memory,
// built from the store at start and kept current from the change feed, so
// that a check never touches SQL (R-CHECK-1).
//
// The index is split into shards by user. A shard is immutable once
// published: a writer copies the shard it changes and swaps the pointer, so
// readers take no lock — one atomic load per shard they visit. Expiry is
// decided from the check's own time, never from when the index last changed.
package authz
