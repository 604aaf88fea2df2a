package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/steward-iam/steward"
)

const eligibilityColumns = `id, account_id, user_id, membership_id, role, max_minutes, approval_required, granted_by, created_at`

// CreateEligibility inserts an eligibility; ECONFLICT when the membership
// is eligible for the role already.
func (s *Store) CreateEligibility(ctx context.Context, e *steward.Eligibility) error {
	_, err := s.exec(ctx, "insert eligibility", `INSERT INTO eligibilities (`+eligibilityColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
		e.ID, e.AccountID, e.UserID, e.MembershipID, e.Role, e.MaxMinutes, boolInt(e.ApprovalRequired), e.GrantedBy, micros(e.CreatedAt))
	return err
}

// FindEligibility returns an eligibility of the account or ENOTFOUND.
func (s *Store) FindEligibility(ctx context.Context, accountID, id string) (*steward.Eligibility, error) {
	e, err := scanEligibility(s.q.QueryRowContext(ctx, `SELECT `+eligibilityColumns+` FROM eligibilities WHERE account_id = $1 AND id = $2`, accountID, id))
	if err == sql.ErrNoRows {
		return nil, steward.NotFound("eligibility", id)
	} else if err != nil {
		return nil, s.wrap(err, "find eligibility")
	}
	return e, nil
}

// FindEligibilities pages through an account's eligibilities in id order.
func (s *Store) FindEligibilities(ctx context.Context, f steward.EligibilityFilter) ([]*steward.Eligibility, string, error) {
	var w where
	w.add(`account_id = ?`, f.AccountID)
	if f.UserID != "" {
		w.add(`user_id = ?`, f.UserID)
	}
	if f.MembershipID != "" {
		w.add(`membership_id = ?`, f.MembershipID)
	}
	if f.GrantedBy != "" {
		w.add(`granted_by = ?`, f.GrantedBy)
	}
	if f.After != "" {
		w.add(`id > ?`, f.After)
	}
	limit := f.Page.Normalize().Limit
	rows, err := s.q.QueryContext(ctx, `SELECT `+eligibilityColumns+` FROM eligibilities`+w.sql()+` ORDER BY id`+w.limit(limit), w.args...)
	if err != nil {
		return nil, "", s.wrap(err, "find eligibilities")
	}
	defer rows.Close()
	out := []*steward.Eligibility{}
	for rows.Next() {
		e, err := scanEligibility(rows)
		if err != nil {
			return nil, "", s.wrap(err, "scan eligibility")
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", s.wrap(err, "find eligibilities")
	}
	out, next := page(out, limit, func(e *steward.Eligibility) string { return e.ID })
	return out, next, nil
}

// DeleteEligibility deletes an eligibility of the account.
func (s *Store) DeleteEligibility(ctx context.Context, accountID, id string) error {
	res, err := s.exec(ctx, "delete eligibility", `DELETE FROM eligibilities WHERE account_id = $1 AND id = $2`, accountID, id)
	return mustAffect(res, err, "eligibility", id)
}

func scanEligibility(row interface{ Scan(...any) error }) (*steward.Eligibility, error) {
	var e steward.Eligibility
	var approval int
	var created int64
	if err := row.Scan(&e.ID, &e.AccountID, &e.UserID, &e.MembershipID, &e.Role, &e.MaxMinutes, &approval, &e.GrantedBy, &created); err != nil {
		return nil, err
	}
	e.ApprovalRequired, e.CreatedAt = approval != 0, fromMicros(created)
	return &e, nil
}

const elevationColumns = `id, account_id, user_id, membership_id, eligibility_id, role, minutes, reason, status, permissions,
	expires_at, starts_at, ends_at, approved_by, approved_at, ended_by, ended_at, end_reason, created_at, updated_at`

func elevationArgs(e *steward.Elevation) []any {
	return []any{e.ID, e.AccountID, e.UserID, e.MembershipID, e.EligibilityID, e.Role, e.Minutes, e.Reason, string(e.Status), jsonText(e.Permissions),
		microsPtr(e.ExpiresAt), microsPtr(e.StartsAt), microsPtr(e.EndsAt), e.ApprovedBy, microsPtr(e.ApprovedAt), e.EndedBy, microsPtr(e.EndedAt),
		e.EndReason, micros(e.CreatedAt), micros(e.UpdatedAt)}
}

// CreateElevation inserts an elevation.
func (s *Store) CreateElevation(ctx context.Context, e *steward.Elevation) error {
	_, err := s.exec(ctx, "insert elevation", `INSERT INTO elevations (`+elevationColumns+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20)`, elevationArgs(e)...)
	return err
}

// FindElevation returns an elevation of the account or ENOTFOUND.
func (s *Store) FindElevation(ctx context.Context, accountID, id string) (*steward.Elevation, error) {
	e, err := scanElevation(s.q.QueryRowContext(ctx, `SELECT `+elevationColumns+` FROM elevations WHERE account_id = $1 AND id = $2`, accountID, id))
	if err == sql.ErrNoRows {
		return nil, steward.NotFound("elevation", id)
	} else if err != nil {
		return nil, s.wrap(err, "find elevation")
	}
	return e, nil
}

// FindElevations pages through an account's elevations in id order.
func (s *Store) FindElevations(ctx context.Context, f steward.ElevationFilter) ([]*steward.Elevation, string, error) {
	var w where
	w.add(`account_id = ?`, f.AccountID)
	if f.UserID != "" {
		w.add(`user_id = ?`, f.UserID)
	}
	if f.MembershipID != "" {
		w.add(`membership_id = ?`, f.MembershipID)
	}
	if f.EligibilityID != "" {
		w.add(`eligibility_id = ?`, f.EligibilityID)
	}
	if f.Open {
		w.add(`status <> ?`, string(steward.ElevationEnded))
	}
	if f.Status != "" {
		w.add(`status = ?`, string(f.Status))
	}
	if f.After != "" {
		w.add(`id > ?`, f.After)
	}
	limit := f.Page.Normalize().Limit
	es, err := s.queryElevations(ctx, `SELECT `+elevationColumns+` FROM elevations`+w.sql()+` ORDER BY id`+w.limit(limit), w.args...)
	if err != nil {
		return nil, "", err
	}
	es, next := page(es, limit, func(e *steward.Elevation) string { return e.ID })
	return es, next, nil
}

// dueElevationsSQL reads the partial index of pending elevations by
// expiry; the status is a literal so that the index applies.
const dueElevationsSQL = `SELECT ` + elevationColumns + ` FROM elevations WHERE status = 'pending' AND expires_at <= $1
	ORDER BY expires_at, id LIMIT $2`

// FindDueElevations returns pending elevations whose wait has passed at now.
func (s *Store) FindDueElevations(ctx context.Context, now time.Time, limit int) ([]*steward.Elevation, error) {
	return s.queryElevations(ctx, dueElevationsSQL, micros(now), limit)
}

// UpdateElevation writes every field of e.
func (s *Store) UpdateElevation(ctx context.Context, e *steward.Elevation) error {
	res, err := s.exec(ctx, "update elevation", `UPDATE elevations SET user_id=$3, membership_id=$4, eligibility_id=$5, role=$6, minutes=$7,
		reason=$8, status=$9, permissions=$10, expires_at=$11, starts_at=$12, ends_at=$13, approved_by=$14, approved_at=$15, ended_by=$16,
		ended_at=$17, end_reason=$18, created_at=$19, updated_at=$20 WHERE id=$1 AND account_id=$2`, elevationArgs(e)...)
	return mustAffect(res, err, "elevation", e.ID)
}

func (s *Store) queryElevations(ctx context.Context, query string, args ...any) ([]*steward.Elevation, error) {
	rows, err := s.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.wrap(err, "find elevations")
	}
	defer rows.Close()
	out := []*steward.Elevation{}
	for rows.Next() {
		e, err := scanElevation(rows)
		if err != nil {
			return nil, s.wrap(err, "scan elevation")
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func scanElevation(row interface{ Scan(...any) error }) (*steward.Elevation, error) {
	var e steward.Elevation
	var status, perms string
	var expires, starts, ends, approved, ended sql.NullInt64
	var created, updated int64
	if err := row.Scan(&e.ID, &e.AccountID, &e.UserID, &e.MembershipID, &e.EligibilityID, &e.Role, &e.Minutes, &e.Reason, &status, &perms,
		&expires, &starts, &ends, &e.ApprovedBy, &approved, &e.EndedBy, &ended, &e.EndReason, &created, &updated); err != nil {
		return nil, err
	}
	var err error
	if e.Permissions, err = strings2(perms); err != nil {
		return nil, err
	}
	e.Status = steward.ElevationStatus(status)
	e.ExpiresAt, e.StartsAt, e.EndsAt = fromNullMicros(expires), fromNullMicros(starts), fromNullMicros(ends)
	e.ApprovedAt, e.EndedAt = fromNullMicros(approved), fromNullMicros(ended)
	e.CreatedAt, e.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &e, nil
}
