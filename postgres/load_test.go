package postgres_test

import (
	"cmp"
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/authz"
	"github.com/steward-iam/steward/internal/synth"
	"github.com/steward-iam/steward/postgres"
)

// TestLoadScansInStreams reads a world's users and memberships with the
// loading scans in several streams over one snapshot, and compares them
// with what the one-stream scans of the shared store read: the same rows,
// each once, with every field the check index reads (R-CHECK-1).
func TestLoadScansInStreams(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	size := synth.Default
	size.Accounts, size.Partners, size.Users, size.BigAccountMembers, size.BigPartnerClients = 300, 20, 3000, 500, 100
	if _, err := synth.Generate(ctx, db, size, nil); err != nil {
		t.Fatal(err)
	}
	// Grants and end dates, which the synthetic world does not make.
	ms, _, err := db.FindMemberships(ctx, steward.MembershipFilter{Page: steward.Page{Limit: 20}})
	if err != nil {
		t.Fatal(err)
	}
	end := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	for i, m := range ms {
		m.EndsAt = &end
		if i%2 == 0 {
			m.Grants = []steward.Grant{{Permissions: []string{"reports.edit"}, GrantedBy: "usr_x", EndsAt: &end, RequestID: "req_1", CreatedAt: end}}
		}
		if err := db.UpdateMembership(ctx, m); err != nil {
			t.Fatal(err)
		}
	}

	var want []steward.Membership
	if err := db.Store.ScanMemberships(ctx, func(m *steward.Membership) error {
		want = append(want, loaded(m))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var wantUsers []string
	if err := db.Store.ScanUserStatuses(ctx, func(id string, s steward.UserStatus) error {
		wantUsers = append(wantUsers, id+" "+string(s))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, streams := range []int64{1, 3, 7} {
		restore := postgres.SetScanStreams(streams)
		var got []steward.Membership
		err := db.ScanMemberships(ctx, func(m *steward.Membership) error {
			got = append(got, loaded(m))
			return nil
		})
		var gotUsers []string
		if err == nil {
			err = db.ScanUserStatuses(ctx, func(id string, s steward.UserStatus) error {
				gotUsers = append(gotUsers, id+" "+string(s))
				return nil
			})
		}
		restore()
		if err != nil {
			t.Fatalf("%d streams: %v", streams, err)
		}
		byID := func(a, b steward.Membership) int { return cmp.Compare(a.ID, b.ID) }
		slices.SortFunc(got, byID)
		slices.SortFunc(want, byID)
		if len(got) != len(want) {
			t.Fatalf("%d streams: %d memberships, want %d", streams, len(got), len(want))
		}
		for i := range want {
			if g, w := got[i], want[i]; !equalLoaded(g, w) {
				t.Fatalf("%d streams: membership\n%+v\nwant\n%+v", streams, g, w)
			}
		}
		slices.Sort(gotUsers)
		slices.Sort(wantUsers)
		if !slices.Equal(gotUsers, wantUsers) {
			t.Fatalf("%d streams: %d users, want %d", streams, len(gotUsers), len(wantUsers))
		}
	}

	// And the index loaded through them answers as one loaded from the
	// shared store's scans.
	restore := postgres.SetScanStreams(3)
	defer restore()
	cat := steward.MustCatalogue(steward.DefaultProductPermissions())
	fast, slow := authz.New(db, cat, nil), authz.New(oneStream{db}, cat, nil)
	if err := fast.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := slow.Load(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range want {
		for _, perm := range []string{"reports.view", "reports.edit", "crm.deals.edit"} {
			q := steward.CheckRequest{UserID: m.UserID, AccountID: m.AccountID, Permission: perm}
			a, err := fast.Check(ctx, q, end.Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			b, err := slow.Check(ctx, q, end.Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("check %+v: %+v, one stream %+v", q, a, b)
			}
		}
	}
}

// oneStream loads through the shared store's one-stream scans.
type oneStream struct{ *postgres.DB }

func (s oneStream) ScanMemberships(ctx context.Context, fn func(*steward.Membership) error) error {
	return s.Store.ScanMemberships(ctx, fn)
}

func (s oneStream) ScanUserStatuses(ctx context.Context, fn func(string, steward.UserStatus) error) error {
	return s.Store.ScanUserStatuses(ctx, fn)
}

// loaded keeps what the loading scan fills.
func loaded(m *steward.Membership) steward.Membership {
	return steward.Membership{ID: m.ID, AccountID: m.AccountID, UserID: m.UserID, Kind: m.Kind, Status: m.Status, Role: m.Role,
		Permissions: slices.Clone(m.Permissions), EndsAt: m.EndsAt, PartnerID: m.PartnerID, ParentID: m.ParentID,
		AllowRedelegation: m.AllowRedelegation, DelegatesEndAt: m.DelegatesEndAt, Grants: m.Grants}
}

func equalLoaded(a, b steward.Membership) bool {
	sameTime := func(x, y *time.Time) bool { return (x == nil) == (y == nil) && (x == nil || x.Equal(*y)) }
	if len(a.Grants) != len(b.Grants) {
		return false
	}
	for i := range a.Grants {
		ga, gb := a.Grants[i], b.Grants[i]
		if !slices.Equal(ga.Permissions, gb.Permissions) || ga.GrantedBy != gb.GrantedBy || !sameTime(ga.EndsAt, gb.EndsAt) ||
			ga.RequestID != gb.RequestID || ga.ElevationID != gb.ElevationID || !sameTime(ga.StartsAt, gb.StartsAt) {
			return false
		}
	}
	return a.ID == b.ID && a.AccountID == b.AccountID && a.UserID == b.UserID && a.Kind == b.Kind && a.Status == b.Status &&
		a.Role == b.Role && slices.Equal(a.Permissions, b.Permissions) && sameTime(a.EndsAt, b.EndsAt) && a.PartnerID == b.PartnerID &&
		a.ParentID == b.ParentID && a.AllowRedelegation == b.AllowRedelegation && sameTime(a.DelegatesEndAt, b.DelegatesEndAt)
}
