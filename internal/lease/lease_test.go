package lease_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/steward-iam/steward/internal/lease"
	"github.com/steward-iam/steward/sqlite"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func open(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "steward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// runner returns a Runner of the queue "q" on the clock *now.
func runner(db *sqlite.DB, cfg lease.Config, now *time.Time) *lease.Runner {
	cfg.Name = "q"
	if cfg.Poll == 0 {
		cfg.Poll = 2 * time.Second
	}
	if cfg.Lease == 0 {
		cfg.Lease = 10 * time.Second
	}
	r := lease.New(db, cfg)
	if now != nil {
		r.Now = func() time.Time { return *now }
	}
	return r
}

func held(t *testing.T, r *lease.Runner) bool {
	t.Helper()
	ok, err := r.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// A node that dies keeps its lease for 10 s from its last renewal; then
// another takes the queue over, not after a minute.
func TestLapsesTenSecondsAfterTheHolderDies(t *testing.T) {
	db := open(t)
	now := t0
	a, b := runner(db, lease.Config{}, &now), runner(db, lease.Config{}, &now)
	if !held(t, a) {
		t.Fatal("the first runner did not get a free lease")
	}
	if a.Lease() != 10*time.Second {
		t.Fatalf("Lease() = %s, want 10s", a.Lease())
	}
	now = t0.Add(9 * time.Second)
	if held(t, b) {
		t.Fatal("another runner took the lease while it held")
	}
	if !held(t, a) {
		t.Fatal("the holder could not renew its lease")
	}
	now = now.Add(10 * time.Second)
	if !held(t, b) {
		t.Fatal("another runner did not take the lease 10 s after the holder's last renewal")
	}
	if held(t, a) {
		t.Fatal("the old holder got the lease back while the new one holds it")
	}
}

// A restarted process on a store of its own (SQLite) takes its
// predecessor's lease at once; the predecessor, if it still runs, loses it.
func TestTakeOverAtRestart(t *testing.T) {
	db := open(t)
	now := t0
	a := runner(db, lease.Config{TakeOver: true}, &now)
	if !held(t, a) {
		t.Fatal("first process: no lease")
	}
	now = t0.Add(time.Second)
	b := runner(db, lease.Config{TakeOver: true}, &now)
	if !held(t, b) {
		t.Fatal("restarted process: the lease was not taken over at once")
	}
	now = t0.Add(2 * time.Second)
	if held(t, a) {
		t.Fatal("the predecessor kept the lease after the takeover")
	}
	if !held(t, b) {
		t.Fatal("the restarted process lost the lease at its next renewal")
	}
}

// The lease is at least three polls long, so that a renewal at each pass
// keeps it.
func TestLeaseAtLeastThreePolls(t *testing.T) {
	r := lease.New(open(t), lease.Config{Name: "q", Poll: 5 * time.Second, Lease: time.Second})
	if r.Lease() != 15*time.Second {
		t.Fatalf("Lease() = %s, want 15s", r.Lease())
	}
}

// While a runner works past its lease, its heartbeat keeps the lease: no
// other node takes the queue over from a runner that is alive.
func TestBeatKeepsTheLeaseDuringWork(t *testing.T) {
	db := open(t)
	const poll = 50 * time.Millisecond
	a := runner(db, lease.Config{Poll: poll, Lease: 3 * poll}, nil)
	b := runner(db, lease.Config{Poll: poll, Lease: 3 * poll}, nil)
	if !held(t, a) {
		t.Fatal("no lease")
	}
	stop := a.Beat(context.Background())
	defer stop()
	for range 12 { // four leases long
		time.Sleep(poll)
		if held(t, b) {
			t.Fatal("another runner took the lease from a working one")
		}
	}
}

// Run makes a pass at once, again at once while the pass reports more
// work, then only when kicked (the poll is an hour here); it releases the
// lease when its context ends.
func TestRunPassesWhenKickedNotPolled(t *testing.T) {
	db := open(t)
	r := runner(db, lease.Config{Poll: time.Hour}, nil)
	passes := make(chan int, 10)
	var n atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- r.Run(ctx, func(ctx context.Context) (bool, error) {
			if ok, err := r.Acquire(ctx); err != nil || !ok {
				return false, err
			}
			i := int(n.Add(1))
			passes <- i
			return i == 1, nil // the first pass leaves more work
		})
	}()
	wait := func(want int) {
		t.Helper()
		select {
		case got := <-passes:
			if got != want {
				t.Fatalf("pass %d, want %d", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("pass %d did not come", want)
		}
	}
	wait(1)
	wait(2) // more work: again at once
	select {
	case got := <-passes:
		t.Fatalf("pass %d without a kick or a poll", got)
	case <-time.After(100 * time.Millisecond):
	}
	r.Kick()
	wait(3)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	other := runner(db, lease.Config{}, nil)
	if !held(t, other) {
		t.Fatal("the lease was not released when Run ended")
	}
}
