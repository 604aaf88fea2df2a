package storetest

import (
	"testing"
)

// Run runs the whole suite against the store that open returns.
// suiteCase is one named test of the suite.
type suiteCase struct {
	name string
	fn   func(t *testing.T, open Opener)
}

// partnerCases (partner access, R-PARTNER-…) and externalCases (external
// users, R-EXT-…) are the suite's cases for those capabilities, each kept in
// its own file.
var partnerCases, externalCases []suiteCase

func Run(t *testing.T, open Opener) {
	tests := []suiteCase{
		{"TenantIsolation", testTenantIsolation},
		{"EmailUniqueCaseInsensitive", testEmailUnique},
		{"OneMembershipPerAccount", testOneMembership},
		{"MembershipRoundTrip", testMembershipRoundTrip},
		{"Pages", testPages},
		{"ActiveSuperAdminCount", testSuperAdminCount},
		{"ChangeFeed", testChangeFeed},
		{"ConcurrentRevisions", testConcurrentRevisions},
		{"R-CHECK-3_R-AUDIT-2_ConcurrentWritersInManyAccounts", testConcurrentWriters},
		{"Idempotency", testIdempotency},
		{"Settings", testSettings},
		{"Tokens", testTokens},
		{"AuditFilters", testAuditFilters},
		{"R-GRANT-1_NoEscalation", testRGrant1},
		{"R-GRANT-2_ReportsExample", testRGrant2},
		{"R-GRANT-3_RoleEditPropagates", testRGrant3},
		{"R-GRANT-4_GranterRecorded", testRGrant4},
		{"R-SUPER-1_LastSuperAdminStays", testRSuper1},
		{"R-SUPER-1_ConcurrentDemotions", testRSuper1Concurrent},
		{"R-SUPER-2_OnlySuperAdminManagers", testRSuper2},
		{"R-AUDIT-1_ChangeAndEventTogether", testRAudit1},
		{"R-AUDIT-2_TamperEvident", testRAudit2},
		{"R-CHECK-1_InternalMemberships", testRCheck1Internal},
		{"R-CHECK-2_Explains", testRCheck2},
		{"DelegationExpiry", testDelegationExpiry},
		{"ManyAtOnceReads", testManyAtOnce},
		{"HeldBackFailure", testHeldBackFailure},
	}
	tests = append(tests, outboxCases...)
	tests = append(tests, idemCases...)
	tests = append(tests, partnerCases...)
	tests = append(tests, externalCases...)
	tests = append(tests, contractCases...)
	tests = append(tests, consoleCases...)
	tests = append(tests, reviewCases...)
	tests = append(tests, guardCases...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}
