package sqlstore

import (
	"context"
	"time"

	"github.com/steward-iam/steward"
)

// AcquireJobLease takes the named lease for holder if it is free, expired or
// already holder's. The decision is one UPDATE guarded by its WHERE clause,
// so of several nodes asking at once exactly one gets the row.
func (s *Store) AcquireJobLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	if _, err := s.exec(ctx, "insert job lease", `INSERT INTO job_leases (name, holder, expires_at) VALUES ($1, '', 0)
		ON CONFLICT (name) DO NOTHING`, name); err != nil {
		return false, err
	}
	res, err := s.exec(ctx, "take job lease", `UPDATE job_leases SET holder = $2, expires_at = $4
		WHERE name = $1 AND (holder = $2 OR holder = '' OR expires_at <= $3)`, name, holder, micros(now), micros(until))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ReleaseJobLease frees the lease if holder has it.
func (s *Store) ReleaseJobLease(ctx context.Context, name, holder string) error {
	_, err := s.exec(ctx, "release job lease", `UPDATE job_leases SET holder = '', expires_at = 0 WHERE name = $1 AND holder = $2`, name, holder)
	return err
}

// DueMemberships returns active memberships whose end has passed, or whose
// delegates' end has passed while one of them is still active.
func (s *Store) DueMemberships(ctx context.Context, now time.Time, limit int) ([]*steward.Membership, error) {
	active := string(steward.StatusActive)
	return s.queryMemberships(ctx, `SELECT `+membershipColumns+` FROM memberships m WHERE m.status = $1 AND (
		(m.ends_at IS NOT NULL AND m.ends_at <= $2) OR
		(m.delegates_end_at IS NOT NULL AND m.delegates_end_at <= $2 AND EXISTS (
			SELECT 1 FROM memberships d WHERE d.account_id = m.account_id AND d.parent_id = m.id AND d.status = $1)))
		ORDER BY m.id LIMIT $3`, active, micros(now), limit)
}

// EndingMemberships pages through active external and delegate memberships
// with an end date at or before by.
func (s *Store) EndingMemberships(ctx context.Context, by time.Time, after string, limit int) ([]*steward.Membership, error) {
	return s.queryMemberships(ctx, `SELECT `+membershipColumns+` FROM memberships WHERE status = $1 AND kind IN ($2, $3)
		AND ((ends_at IS NOT NULL AND ends_at <= $4) OR (delegates_end_at IS NOT NULL AND delegates_end_at <= $4))
		AND id > $5 ORDER BY id LIMIT $6`,
		string(steward.StatusActive), string(steward.KindExternal), string(steward.KindDelegate), micros(by), after, limit)
}

// MarkReminderSent records a reminder once per membership and end date.
func (s *Store) MarkReminderSent(ctx context.Context, membershipID string, endsAt, now time.Time) (bool, error) {
	res, err := s.exec(ctx, "record reminder", `INSERT INTO expiry_reminders (membership_id, ends_at, sent_at) VALUES ($1, $2, $3)
		ON CONFLICT (membership_id, ends_at) DO NOTHING`, membershipID, micros(endsAt), micros(now))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
