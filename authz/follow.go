package authz

import (
	"context"
	"log/slog"
	"time"

	"github.com/steward-iam/steward"
)

// Follow keeps the index current until ctx ends: it catches up whenever kick
// fires (a write committed on this node, or a notification from another
// node) and at least every poll interval, which also heals after a missed
// notification. A failed catch-up is logged and retried on the next tick.
func (ix *Index) Follow(ctx context.Context, kick <-chan struct{}, poll time.Duration) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-t.C:
		}
		if err := ix.CatchUp(ctx); err != nil && ctx.Err() == nil {
			ix.logger.Warn("check index catch-up failed; retrying", slog.Any("err", err))
		}
	}
}

// Kicker coalesces wake-ups for Follow: Kick never blocks, and any number of
// kicks before Follow wakes count as one.
type Kicker chan struct{}

// NewKicker returns a Kicker.
func NewKicker() Kicker { return make(Kicker, 1) }

// Kick wakes the follower.
func (k Kicker) Kick() {
	select {
	case k <- struct{}{}:
	default:
	}
}

// ownWriteWait bounds how long a write's answer waits for its node's index.
const ownWriteWait = 2 * time.Second

// OnCommit applies a write of this node before its answer leaves, so that a
// node always reads its own writes; it is meant for Service.OnCommit. Should
// the catch-up fail, the follower's next tick repairs it.
func (ix *Index) OnCommit(rev int64) {
	if ix.applied.Load() >= rev {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), ownWriteWait)
	defer cancel()
	// The bound covers the wait for the index's lock too, which a catch-up
	// of the follower may hold while the database hangs: the catch-up runs
	// aside, and gives up on its own once it has the lock and ctx is over.
	done := make(chan error, 1)
	go func() { done <- ix.catchUpTo(ctx, rev) }()
	select {
	case err := <-done:
		if err != nil {
			ix.logger.Warn("check index catch-up after a write failed; the follower will retry", slog.Any("err", err))
		}
	case <-ctx.Done():
		ix.logger.Warn("check index catch-up after a write did not finish in time; the follower will retry", slog.Duration("waited", ownWriteWait))
	}
	if ix.applied.Load() < rev {
		// The write answers before the index has seen what it changed:
		// watchers forget everything rather than keep what it revoked.
		ix.notify(nil, true)
	}
}

// catchUpTo catches up unless, once it holds the index's lock, rev is
// applied already: concurrent writes of this node queue for the lock, and
// the catch-up of one usually applies the others' revisions too, so they
// need not each read the feed again.
func (ix *Index) catchUpTo(ctx context.Context, rev int64) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	from := ix.applied.Load()
	if from >= rev {
		return nil
	}
	// Revisions this process committed itself need not be read back: the
	// store remembers their feed rows. Any revision in between that it
	// did not commit (another node's) sends the catch-up to the feed.
	if src, ok := ix.src.(ownCommits); ok {
		if changes, ok := src.CommittedChanges(from, rev); ok {
			if err := ix.apply(ctx, changes); err != nil {
				return err
			}
			ix.setApplied(rev)
			return nil
		}
	}
	return ix.catchUp(ctx)
}

// ownCommits is a source that remembers the change-feed rows of the
// revisions its process committed.
type ownCommits interface {
	// CommittedChanges returns the rows of every revision in (from, to],
	// in feed order; ok is false unless this process committed each.
	CommittedChanges(from, to int64) ([]steward.Change, bool)
}

// Watch registers fn to be told, after the index has applied changes, the
// ids of the users whose rows (status, memberships, tokens) they touched, or
// all=true when anything may have changed: after a full load, and when
// OnCommit could not apply a write before its answer. fn runs on the
// index's writer and must be quick; it must not call the index's writers.
func (ix *Index) Watch(fn func(userIDs []string, all bool)) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var fns []func([]string, bool)
	if old := ix.watchers.Load(); old != nil {
		fns = append(fns, *old...)
	}
	fns = append(fns, fn)
	ix.watchers.Store(&fns)
}

func (ix *Index) notify(userIDs []string, all bool) {
	if fns := ix.watchers.Load(); fns != nil {
		for _, fn := range *fns {
			fn(userIDs, all)
		}
	}
}
