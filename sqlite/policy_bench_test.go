package sqlite_test

import (
	"testing"

	"github.com/steward-iam/steward/storetest"
)

// BenchmarkPolicyChange times a policy change over 10,000 outside
// memberships on SQLite, until the check index answers under it
// (R-GUARD-4).
//
//	go test -run xxx -bench PolicyChange -benchtime 10x ./sqlite
func BenchmarkPolicyChange(b *testing.B) {
	storetest.BenchPolicyChange(b, MustOpen(b), 10000)
}
