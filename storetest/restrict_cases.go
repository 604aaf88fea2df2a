package storetest

import (
	"testing"

	"github.com/steward-iam/steward"
)

func init() {
	partnerCases = append(partnerCases, suiteCase{"R-RESTRICT-1_RegionMigration", testRRestrict1},
		suiteCase{"R-RESTRICT-1_SCIMProvisioning", testRRestrict1SCIM})
}

// testRRestrict1: moving an account to another region needs
// account.region.migrate, which a partner admin never holds.
func testRRestrict1(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	partner, _ := w.Account(steward.AccountPartner)
	client, owner := w.Account(steward.AccountStandard)
	admin := w.PartnerAdmin(partner.ID, client.ID, owner.ID)

	w.unchanged(t, func() {
		_, _, err := w.Svc.MigrateRegion(w.As(admin.ID), client.ID, steward.RegionMigration{Region: "eu"})
		WantCode(t, err, steward.EFORBIDDEN, "permission_required")
	}, client.ID)
	acc, _, err := w.Svc.MigrateRegion(w.As(owner.ID), client.ID, steward.RegionMigration{Region: "eu"})
	if err != nil {
		t.Fatalf("the super admin's migration: %v", err)
	}
	if acc.Region != "eu" {
		t.Errorf("Region = %q, want eu", acc.Region)
	}
	_, _, err = w.Svc.MigrateRegion(w.As(owner.ID), client.ID, steward.RegionMigration{Region: "eu"})
	WantCode(t, err, steward.ECONFLICT, "same_region")
	_, _, err = w.Svc.MigrateRegion(w.As(owner.ID), client.ID, steward.RegionMigration{Region: "Mars 1"})
	WantCode(t, err, steward.EINVALID, "invalid_region")
	events, _, err := w.Svc.FindEvents(w.As(owner.ID), steward.AuditFilter{AccountID: client.ID, Action: "account.region_migrated"})
	if err != nil || len(events) != 1 {
		t.Errorf("region_migrated events = %d, %v; want 1", len(events), err)
	}
}

// testRRestrict1SCIM: SCIM provisioning needs account.scim.provision, which a
// partner admin never holds; a super admin provisions and deactivates.
func testRRestrict1SCIM(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	partner, _ := w.Account(steward.AccountPartner)
	client, owner := w.Account(steward.AccountStandard)
	admin := w.PartnerAdmin(partner.ID, client.ID, owner.ID)

	w.unchanged(t, func() {
		_, _, err := w.Svc.ProvisionUser(w.As(admin.ID), client.ID, steward.SCIMUserInput{UserName: "new@client.example", Active: true})
		WantCode(t, err, steward.EFORBIDDEN, "permission_required")
		_, err = w.Svc.ProvisionedUsers(w.As(admin.ID), client.ID, steward.ProvisionedUserFilter{})
		WantCode(t, err, steward.EFORBIDDEN, "permission_required")
	}, client.ID)
	u, _, err := w.Svc.ProvisionUser(w.As(owner.ID), client.ID, steward.SCIMUserInput{UserName: "new@client.example", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Svc.SetProvisionedActive(w.As(owner.ID), client.ID, u.ID, false); err != nil {
		t.Fatal(err)
	}
	if w.Allowed(u.ID, client.ID, "reports.view") {
		t.Error("a deprovisioned user is allowed")
	}
	// The partner's own users are not the client's to provision.
	_, err = w.Svc.ProvisionedUser(w.As(owner.ID), client.ID, admin.ID)
	WantCode(t, err, steward.ENOTFOUND, "")
}
