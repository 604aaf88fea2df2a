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

// The scheduler's queries. Each reads a partial index of the rows that can
// be due, by due date; the status is written as a literal, since a database
// uses a partial index only for a query that states its condition (SQLite
// never proves it from a bound parameter). plan_test.go checks the plans.
const (
	// dueEndedSQL: active memberships whose end date has passed.
	dueEndedSQL = `SELECT ` + membershipColumns + ` FROM memberships m
		WHERE m.status = 'active' AND m.ends_at IS NOT NULL AND m.ends_at <= $1
		ORDER BY m.ends_at, m.id LIMIT $2`
	// dueDelegatesSQL: active memberships whose delegates' end date has
	// passed while an active delegate hangs on them (and whose own end has
	// not: dueEndedSQL has those).
	dueDelegatesSQL = `SELECT ` + membershipColumns + ` FROM memberships m
		WHERE m.status = 'active' AND m.delegates_end_at IS NOT NULL AND m.delegates_end_at <= $1
		AND (m.ends_at IS NULL OR m.ends_at > $1)
		AND EXISTS (SELECT 1 FROM memberships d WHERE d.account_id = m.account_id AND d.parent_id = m.id AND d.status = 'active')
		ORDER BY m.delegates_end_at, m.id LIMIT $2`
)

// endingSQL pages through active external and delegate memberships by the
// date column col (ends_at or delegates_end_at) within a window.
func endingSQL(col string) string {
	return `SELECT ` + membershipColumns + ` FROM memberships
		WHERE status = 'active' AND kind IN ($1, $2) AND ` + col + ` IS NOT NULL AND ` + col + ` > $3 AND ` + col + ` <= $4
		AND (` + col + ` > $5 OR (` + col + ` = $5 AND id > $6))
		ORDER BY ` + col + `, id LIMIT $7`
}

// DueMemberships returns active memberships whose end has passed, or whose
// delegates' end has passed while one of them is still active: first those
// by end date, then those by delegates' end date, each in date order. Both
// read the partial indexes of active memberships by date (migration 00013),
// so a membership that expired is no longer read.
func (s *Store) DueMemberships(ctx context.Context, now time.Time, limit int) ([]*steward.Membership, error) {
	ended, err := s.queryMemberships(ctx, dueEndedSQL, micros(now), limit)
	if err != nil || len(ended) == limit {
		return ended, err
	}
	delegates, err := s.queryMemberships(ctx, dueDelegatesSQL, micros(now), limit-len(ended))
	return append(ended, delegates...), err
}

// EndingMemberships pages through active external and delegate memberships
// whose ends_at (delegates: their delegates_end_at) falls in (from, by], in
// (date, id) order after the date and id of the cursor. It reads the partial
// index of active memberships by that date: only the window, never the rest.
func (s *Store) EndingMemberships(ctx context.Context, delegates bool, from, by time.Time, afterAt time.Time, afterID string, limit int) ([]*steward.Membership, error) {
	col := "ends_at"
	if delegates {
		col = "delegates_end_at"
	}
	return s.queryMemberships(ctx, endingSQL(col), string(steward.KindExternal), string(steward.KindDelegate),
		micros(from), micros(by), micros(afterAt), afterID, limit)
}

// extendingMembershipsSQL: active auto-extending memberships whose end
// date comes by a time (R-LIFE-1); it reads their partial index.
const extendingMembershipsSQL = `SELECT ` + membershipColumns + ` FROM memberships
	WHERE status = 'active' AND auto_extend = 1 AND ends_at IS NOT NULL AND ends_at <= $1 ORDER BY ends_at, id LIMIT $2`

// ExtendingMemberships returns active auto-extending memberships whose end
// date is at or before by.
func (s *Store) ExtendingMemberships(ctx context.Context, by time.Time, limit int) ([]*steward.Membership, error) {
	return s.queryMemberships(ctx, extendingMembershipsSQL, micros(by), limit)
}

// MarkWarningSent records the warning threshold days before the subject's
// end at endsAt, once (R-LIFE-2): the primary key decides, also between
// nodes, and the caller's transaction writes the mail with it.
func (s *Store) MarkWarningSent(ctx context.Context, subjectID string, endsAt time.Time, thresholdDays int, now time.Time) (bool, error) {
	res, err := s.exec(ctx, "record end warning", `INSERT INTO end_warnings (subject_id, ends_at, threshold_days, sent_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (subject_id, ends_at, threshold_days) DO NOTHING`, subjectID, micros(endsAt), thresholdDays, micros(now))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
