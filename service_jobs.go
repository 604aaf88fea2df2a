package steward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// The scheduler. Access never waits for it: a check at time t decides with t
// (R-CHECK-1), so an end date takes effect exactly when it passes. The jobs
// bring the stored state in line afterwards (statuses, mail, audit events).

// jobBatch is how many rows a job handles per query.
const jobBatch = 100

// Job is one task of the scheduler. Run must be safe to repeat: it handles
// what is due at the time it runs and leaves nothing half-done.
type Job struct {
	Name string
	Run  func(ctx context.Context) error
}

// Jobs returns the scheduler's tasks in the order RunDueJobs runs them.
func (s *Service) Jobs() []Job {
	return []Job{
		// ---- JOB LIST: every periodic task of the scheduler. Add new ones here. ----
		{"expire_invitations", s.ExpireInvitations},               // R-EXT-5
		{"extend_due", s.ExtendDue},                               // R-LIFE-1: ahead of the end, by AutoExtendLead
		{"expire_memberships", s.ExpireMemberships},               // R-EXT-4, R-EXT-9
		{"warn_ending", s.WarnEnding},                             // R-LIFE-2: 30, 7 and 1 days before every end
		{"end_lapsed_relationships", s.endLapsedRelationshipsJob}, // R-PARTNER-10
		{"close_due_reviews", s.CloseDueReviews},                  // R-REVIEW-3: at the due date
		{"expire_access_requests", s.ExpireAccessRequests},        // R-REQUEST-2: 7 days unanswered
		{"expire_elevations", s.ExpireElevations},                 // R-ELEVATE-2: 7 days unanswered
		{"prune_housekeeping", s.pruneHousekeeping},               // change feed, idempotency keys, console links
		// ---- end of JOB LIST ----
	}
}

// RunDueJobs runs every job once. A job that fails does not stop the others;
// the errors are returned together.
func (s *Service) RunDueJobs(ctx context.Context) error {
	var errs []error
	for _, j := range s.Jobs() {
		if err := j.Run(ctx); err != nil {
			s.Logger.LogAttrs(ctx, slog.LevelError, "job failed", slog.String("job", j.Name), slog.Any("err", err))
			errs = append(errs, fmt.Errorf("%s: %w", j.Name, err))
		}
	}
	return errors.Join(errs...)
}

// JobStore keeps what the scheduler needs: a lease so that one node runs the
// jobs at a time, the rows that are due, and the reminders already sent.
type JobStore interface {
	// AcquireJobLease gives the lease name to holder until until, if it is
	// free, has expired at now, or is already holder's. It reports whether
	// holder has it.
	AcquireJobLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error)
	// ReleaseJobLease frees the lease if holder has it.
	ReleaseJobLease(ctx context.Context, name, holder string) error
	// DueMemberships returns up to limit active memberships, of any account,
	// whose ends_at has passed at now, or whose delegates_end_at has passed
	// while an active delegate hangs on them. It reads only those (an index
	// on the due date), whatever the number of memberships.
	DueMemberships(ctx context.Context, now time.Time, limit int) ([]*Membership, error)
	// EndingMemberships pages through active external and delegate
	// memberships, of any account, whose ends_at (with delegates true: whose
	// delegates_end_at) is in (from, by], in (that date, id) order after
	// (afterAt, afterID). It reads only that window.
	EndingMemberships(ctx context.Context, delegates bool, from, by, afterAt time.Time, afterID string, limit int) ([]*Membership, error)
	// MarkWarningSent records the warning thresholdDays before the end at
	// endsAt of a subject (a membership or a relationship id); it reports
	// false when that warning was already recorded (R-LIFE-2).
	MarkWarningSent(ctx context.Context, subjectID string, endsAt time.Time, thresholdDays int, now time.Time) (bool, error)
	// ExtendingMemberships returns up to limit active memberships with
	// auto_extend whose ends_at is at or before by (R-LIFE-1), reading only
	// those.
	ExtendingMemberships(ctx context.Context, by time.Time, limit int) ([]*Membership, error)
	// ExtendingRelationships is ExtendingMemberships for active relationships.
	ExtendingRelationships(ctx context.Context, by time.Time, limit int) ([]*Relationship, error)
	// EndingRelationships pages through active relationships whose ends_at
	// is in (from, by], in (ends_at, id) order after (afterAt, afterID),
	// reading only that window.
	EndingRelationships(ctx context.Context, from, by, afterAt time.Time, afterID string, limit int) ([]*Relationship, error)
}

// jobDetails marks the details of the scheduler's audit events, which have
// no actor: no user and no operator acted.
func jobDetails(details map[string]any) map[string]any {
	details["by"] = "scheduler"
	return details
}

// ExpireInvitations marks pending invitations whose lifetime has passed as
// expired, each with its audit event.
func (s *Service) ExpireInvitations(ctx context.Context) error {
	for {
		due, err := s.Store.DueInvitations(ctx, s.now(), jobBatch)
		if err != nil || len(due) == 0 {
			return err
		}
		done := 0
		for _, inv := range due {
			_, err := s.write(ctx, func(t *txn) error {
				if err := t.LockAccount(t.ctx, inv.AccountID); err != nil { // against a concurrent acceptance
					return err
				}
				cur, err := t.FindInvitationByID(t.ctx, inv.AccountID, inv.ID)
				if err != nil {
					return err
				}
				if cur.Status != InvitationPending || t.now.Before(cur.ExpiresAt) {
					return errNotDue
				}
				return t.resolveInvitation(nil, cur, InvitationExpired, "invitation.expired",
					jobDetails(map[string]any{"email": cur.Email, "expires_at": cur.ExpiresAt}))
			})
			if err != nil && !errors.Is(err, errNotDue) {
				return err
			}
			done++
		}
		if done == 0 {
			return nil
		}
	}
}

// errNotDue ends a job's write that found, on a second look under its
// transaction, that the row is no longer due.
var errNotDue = errors.New("nothing due")

// ExpireMemberships marks memberships whose end date has passed as expired,
// and with them their delegates; and ends the delegates of members whose
// delegates_end_at has passed. Each change has its audit event.
func (s *Service) ExpireMemberships(ctx context.Context) error {
	for {
		due, err := s.Store.DueMemberships(ctx, s.now(), jobBatch)
		if err != nil || len(due) == 0 {
			return err
		}
		for _, m := range due {
			_, err := s.write(ctx, func(t *txn) error {
				if err := t.LockAccount(t.ctx, m.AccountID); err != nil {
					return err
				}
				cur, err := t.FindMembershipByID(t.ctx, m.AccountID, m.ID)
				if err != nil {
					return err
				}
				if cur.Status != StatusActive {
					return errNotDue
				}
				recorded := len(t.events)
				if cur.DelegatesEndAt != nil && !t.now.Before(*cur.DelegatesEndAt) {
					if err := t.endDelegates(nil, cur, "delegates_end_at"); err != nil {
						return err
					}
				}
				if cur.EndedAt(t.now) {
					if err := t.endDelegates(nil, cur, "parent_ended"); err != nil {
						return err
					}
					cur.Status, cur.UpdatedAt = StatusExpired, t.now
					if err := t.UpdateMembership(t.ctx, cur); err != nil {
						return err
					}
					t.record(cur.AccountID, nil, "member.expired", "membership", cur.ID,
						jobDetails(map[string]any{"user_id": cur.UserID, "kind": cur.Kind, "ends_at": cur.EndsAt}))
				}
				if len(t.events) == recorded {
					return errNotDue
				}
				return nil
			})
			if err != nil && !errors.Is(err, errNotDue) {
				return err
			}
		}
		// Every due row was handled: it is expired, or its delegates are, so
		// the next query moves on. A row that stays due would be a bug; stop
		// rather than spin.
		again, err := s.Store.DueMemberships(ctx, s.now(), 1)
		if err != nil || len(again) == 0 || again[0].ID == due[0].ID {
			return err
		}
	}
}

// JobLeaseName is the lease that lets one node at a time run the jobs.
const JobLeaseName = "scheduler"

// JobRunner runs the scheduler's jobs every Interval, on one node at a time:
// before each round it takes the database lease JobLeaseName for LeaseTTL,
// so several nodes over one database never run jobs at once; a node that
// dies leaves the lease to expire.
type JobRunner struct {
	Service *Service
	// Holder names this node; NewJobRunner makes a random one.
	Holder   string
	Interval time.Duration
	LeaseTTL time.Duration
	// OnJob, when set, is told of each job run and its error (nil when it
	// succeeded); the server counts them in its metrics.
	OnJob func(name string, err error)
}

// NewJobRunner returns a runner of s's jobs every minute with a 5-minute lease.
func NewJobRunner(s *Service) *JobRunner {
	return &JobRunner{Service: s, Holder: NewSecret("node_")[:24], Interval: time.Minute, LeaseTTL: 5 * time.Minute}
}

// RunOnce runs the jobs if this node can take the lease, and reports whether
// it did. The lease is renewed before each job, so a long round keeps it,
// and a node that lost it (paused past LeaseTTL, say) stops at once.
func (r *JobRunner) RunOnce(ctx context.Context) (bool, error) {
	s := r.Service
	take := func() (bool, error) {
		now := s.now()
		return s.Store.AcquireJobLease(ctx, JobLeaseName, r.Holder, now, now.Add(r.LeaseTTL))
	}
	if ok, err := take(); err != nil || !ok {
		return false, err
	}
	defer func() {
		// Released with a fresh context: a cancelled run still frees the lease.
		if err := s.Store.ReleaseJobLease(context.WithoutCancel(ctx), JobLeaseName, r.Holder); err != nil {
			s.Logger.LogAttrs(ctx, slog.LevelWarn, "release job lease", slog.Any("err", err))
		}
	}()
	var errs []error
	for i, j := range s.Jobs() {
		if i > 0 {
			if ok, err := take(); err != nil || !ok {
				return true, errors.Join(append(errs, fmt.Errorf("job lease lost before %s: %v", j.Name, err))...)
			}
		}
		err := j.Run(ctx)
		if r.OnJob != nil {
			r.OnJob(j.Name, err)
		}
		if err != nil {
			s.Logger.LogAttrs(ctx, slog.LevelError, "job failed", slog.String("job", j.Name), slog.Any("err", err))
			errs = append(errs, fmt.Errorf("%s: %w", j.Name, err))
		}
	}
	return true, errors.Join(errs...)
}

// Run runs the jobs every Interval until ctx ends. Errors are logged, not
// returned: the next round tries again.
func (r *JobRunner) Run(ctx context.Context) error {
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		if _, err := r.RunOnce(ctx); err != nil && ctx.Err() == nil {
			r.Service.Logger.LogAttrs(ctx, slog.LevelError, "scheduler round failed", slog.Any("err", err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Retention of the housekeeping tables.
const (
	// ChangeRetention is how long the change feed keeps a change. A node
	// further behind than that reloads its index whole (package authz).
	ChangeRetention = 7 * 24 * time.Hour
	// IdempotencyRetention is how long a POST's answer is kept for retries.
	IdempotencyRetention = 24 * time.Hour
)

// pruneHousekeeping drops change-feed entries and idempotency answers past
// their retention. They are bookkeeping, not changes of any account, so
// pruning them records no audit event.
func (s *Service) pruneHousekeeping(ctx context.Context) error {
	now := s.now()
	changes, err := s.Store.PruneChanges(ctx, now.Add(-ChangeRetention))
	if err != nil {
		return err
	}
	keys, err := s.Store.PruneIdempotencyKeys(ctx, now.Add(-IdempotencyRetention))
	if err != nil {
		return err
	}
	links, err := s.Store.PruneConsoleLinks(ctx, now.Add(-ConsoleLinkRetention))
	if err != nil {
		return err
	}
	if changes+keys+links > 0 {
		s.Logger.LogAttrs(ctx, slog.LevelInfo, "pruned housekeeping", slog.Int("changes", changes), slog.Int("idempotency_keys", keys),
			slog.Int("console_links", links))
	}
	return nil
}
