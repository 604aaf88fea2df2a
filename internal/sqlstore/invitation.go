package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/steward-iam/steward"
)

const invitationColumns = `id, account_id, role, email, status, token_hash, expires_at, invited_by, consent_version,
	consent_accepted_by, consent_accepted_at, allow_redelegation, ends_at, delegates_end_at, accepted_by_user_id,
	resolved_at, created_at, updated_at`

func invitationArgs(inv *steward.Invitation) []any {
	return []any{inv.ID, inv.AccountID, inv.Role, inv.Email, string(inv.Status), inv.TokenHash, micros(inv.ExpiresAt), inv.InvitedBy,
		inv.Consent.Version, inv.Consent.AcceptedBy, micros(inv.Consent.AcceptedAt), boolInt(inv.AllowRedelegation),
		microsPtr(inv.EndsAt), microsPtr(inv.DelegatesEndAt), inv.AcceptedByUserID, microsPtr(inv.ResolvedAt),
		micros(inv.CreatedAt), micros(inv.UpdatedAt)}
}

// CreateInvitation inserts an invitation; a second pending one for the same
// email in the account, or a reused token hash, is ECONFLICT.
func (s *Store) CreateInvitation(ctx context.Context, inv *steward.Invitation) error {
	_, err := s.exec(ctx, "insert invitation", `INSERT INTO invitations (`+invitationColumns+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)`, invitationArgs(inv)...)
	return err
}

// FindInvitationByID returns an invitation of the account or ENOTFOUND.
func (s *Store) FindInvitationByID(ctx context.Context, accountID, id string) (*steward.Invitation, error) {
	return s.findInvitation(ctx, `account_id = $1 AND id = $2`, accountID, id)
}

// FindInvitationByTokenHash returns the invitation whose token has the hash, or ENOTFOUND.
func (s *Store) FindInvitationByTokenHash(ctx context.Context, hash string) (*steward.Invitation, error) {
	return s.findInvitation(ctx, `token_hash = $1`, hash)
}

func (s *Store) findInvitation(ctx context.Context, cond string, args ...any) (*steward.Invitation, error) {
	inv, err := scanInvitation(s.q.QueryRowContext(ctx, `SELECT `+invitationColumns+` FROM invitations WHERE `+cond, args...))
	if err == sql.ErrNoRows {
		return nil, steward.NotFound("invitation", "")
	} else if err != nil {
		return nil, s.wrap(err, "find invitation")
	}
	return inv, nil
}

// FindInvitations pages through an account's invitations in id order.
func (s *Store) FindInvitations(ctx context.Context, f steward.InvitationFilter) ([]*steward.Invitation, string, error) {
	var w where
	w.add(`account_id = ?`, f.AccountID)
	if f.Role != "" {
		w.add(`role = ?`, f.Role)
	}
	if f.Email != "" {
		w.add(`email = ?`, f.Email)
	}
	if f.Status != "" {
		w.add(`status = ?`, string(f.Status))
	}
	if f.InvitedBy != "" {
		w.add(`invited_by = ?`, f.InvitedBy)
	}
	if f.ValidAt != nil {
		w.add(`expires_at > ?`, micros(*f.ValidAt))
	}
	if f.After != "" {
		w.add(`id > ?`, f.After)
	}
	limit := f.Page.Normalize().Limit
	invs, err := s.queryInvitations(ctx, `SELECT `+invitationColumns+` FROM invitations`+w.sql()+` ORDER BY id`+w.limit(limit), w.args...)
	if err != nil {
		return nil, "", err
	}
	invs, next := page(invs, limit, func(inv *steward.Invitation) string { return inv.ID })
	return invs, next, nil
}

// UpdateInvitation writes every field of inv.
func (s *Store) UpdateInvitation(ctx context.Context, inv *steward.Invitation) error {
	res, err := s.exec(ctx, "update invitation", `UPDATE invitations SET role=$3, email=$4, status=$5, token_hash=$6, expires_at=$7,
		invited_by=$8, consent_version=$9, consent_accepted_by=$10, consent_accepted_at=$11, allow_redelegation=$12, ends_at=$13,
		delegates_end_at=$14, accepted_by_user_id=$15, resolved_at=$16, created_at=$17, updated_at=$18
		WHERE id=$1 AND account_id=$2`, invitationArgs(inv)...)
	return mustAffect(res, err, "invitation", inv.ID)
}

// dueInvitationsSQL reads the partial index of pending invitations by
// expiry; the status is a literal so that the index applies (see job.go).
const dueInvitationsSQL = `SELECT ` + invitationColumns + ` FROM invitations WHERE status = 'pending' AND expires_at <= $1
	ORDER BY expires_at, id LIMIT $2`

// DueInvitations returns pending invitations whose lifetime has passed at now.
func (s *Store) DueInvitations(ctx context.Context, now time.Time, limit int) ([]*steward.Invitation, error) {
	return s.queryInvitations(ctx, dueInvitationsSQL, micros(now), limit)
}

// FindPendingInvitationsOf returns the pending invitations, of any account,
// addressed to email or sent by the user, in id order.
func (s *Store) FindPendingInvitationsOf(ctx context.Context, email, userID string) ([]*steward.Invitation, error) {
	return s.queryInvitations(ctx, `SELECT `+invitationColumns+` FROM invitations WHERE status = $1 AND (email = $2 OR invited_by = $3)
		ORDER BY id`, string(steward.InvitationPending), strings.ToLower(email), userID)
}

func (s *Store) queryInvitations(ctx context.Context, query string, args ...any) ([]*steward.Invitation, error) {
	rows, err := s.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.wrap(err, "find invitations")
	}
	defer rows.Close()
	out := []*steward.Invitation{}
	for rows.Next() {
		inv, err := scanInvitation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, inv)
	}
	return out, rows.Err()
}

func scanInvitation(row interface{ Scan(...any) error }) (*steward.Invitation, error) {
	var inv steward.Invitation
	var status string
	var expires, consentAt, created, updated int64
	var endsAt, delegatesEndAt, resolved sql.NullInt64
	var redelegation int
	if err := row.Scan(&inv.ID, &inv.AccountID, &inv.Role, &inv.Email, &status, &inv.TokenHash, &expires, &inv.InvitedBy,
		&inv.Consent.Version, &inv.Consent.AcceptedBy, &consentAt, &redelegation, &endsAt, &delegatesEndAt,
		&inv.AcceptedByUserID, &resolved, &created, &updated); err != nil {
		return nil, err
	}
	inv.Status, inv.AllowRedelegation = steward.InvitationStatus(status), redelegation != 0
	inv.ExpiresAt, inv.Consent.AcceptedAt = fromMicros(expires), fromMicros(consentAt)
	inv.EndsAt, inv.DelegatesEndAt, inv.ResolvedAt = fromNullMicros(endsAt), fromNullMicros(delegatesEndAt), fromNullMicros(resolved)
	inv.CreatedAt, inv.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &inv, nil
}
