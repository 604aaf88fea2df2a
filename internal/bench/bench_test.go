package bench_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/internal/bench"
	"github.com/steward-iam/steward/internal/synth"
	"github.com/steward-iam/steward/sqlite"
)

// TestRun runs the whole benchmark on a tiny world and checks that every
// figure was measured: nothing is a placeholder.
func TestRun(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "bench.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	size := synth.Size{Accounts: 40, Partners: 4, Users: 400, MembershipsPerUser: 4, PartnerShare: 1, DelegateShare: 0.3,
		BigAccountMembers: 100, BigPartnerClients: 10, Seed: 3}
	var progress bytes.Buffer
	r, err := bench.Run(ctx, db, steward.MustCatalogue(steward.DefaultProductPermissions()), bench.Config{
		Size: size, Connections: []int{1, 4}, Duration: 200 * time.Millisecond, Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Load <= 0 || r.RSSAfter == 0 || len(r.InProcess) != 4 || len(r.HTTP) != 4 || len(r.Listings) != 3 {
		t.Fatalf("report = %+v, want every figure", r)
	}
	for _, k := range r.InProcess {
		if k.NsPerOp <= 0 || k.AllocsPerOp != 0 {
			t.Errorf("in-process %s: %.0f ns/op, %d allocs/op; want a time and no allocation", k.Kind, k.NsPerOp, k.AllocsPerOp)
		}
	}
	// The index's heap is not checked: in a world this small the collector's
	// noise can exceed it.
	if len(r.Writes) != 2 || len(r.HTTPListings) != 4 || r.Bulk == nil {
		t.Fatalf("writes %+v, HTTP listings %+v, bulk %+v; want every figure", r.Writes, r.HTTPListings, r.Bulk)
	}
	for _, f := range append(append(r.HTTP, r.Writes...), r.HTTPListings...) {
		if f.Requests == 0 || f.P99 == 0 {
			t.Errorf("HTTP %s at %d: %+v, want requests", f.Target, f.Connections, f)
		}
	}
	if b := r.Bulk; b.Clients == 0 || b.Memberships != b.Clients*b.Employees || b.Total <= 0 {
		t.Errorf("bulk = %+v, want memberships added", b)
	}
	var out bytes.Buffer
	r.Print(&out)
	t.Log("\n" + out.String())
	for _, want := range []string{"load the check index", "delegate", "POST /v1/check", "access review", "grants/s", "GET /v1/users/{user}/accounts", "AddEmployees", "bytes per membership"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(progress.String(), "memberships") {
		t.Errorf("no progress shown: %q", progress.String())
	}
}
