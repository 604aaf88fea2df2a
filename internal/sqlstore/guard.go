package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/steward-iam/steward"
)

// FindPolicy returns an account's policy (SPEC §6 "Guardrails").
func (s *Store) FindPolicy(ctx context.Context, accountID string) (*steward.AccountPolicy, error) {
	var raw string
	err := s.q.QueryRowContext(ctx, `SELECT policy FROM accounts WHERE id = $1`, accountID).Scan(&raw)
	if err == sql.ErrNoRows {
		return nil, steward.NotFound("account", accountID)
	} else if err != nil {
		return nil, s.wrap(err, "find policy")
	}
	return decodePolicy(raw)
}

func decodePolicy(raw string) (*steward.AccountPolicy, error) {
	p := &steward.AccountPolicy{}
	if err := json.Unmarshal([]byte(raw), p); err != nil {
		return nil, err
	}
	if p.AllowedPartners == nil {
		p.AllowedPartners = []string{}
	}
	if p.NeverDelegable == nil {
		p.NeverDelegable = []string{}
	}
	return p, nil
}

// PutPolicy replaces an account's policy and feeds an account change, on
// which the check index reads the policy again (R-GUARD-4).
func (s *Store) PutPolicy(ctx context.Context, accountID string, p *steward.AccountPolicy) error {
	res, err := s.exec(ctx, "put policy", `UPDATE accounts SET policy = $2 WHERE id = $1`, accountID, jsonText(p))
	if s.fed != nil {
		*s.fed = append(*s.fed, steward.Change{AccountID: accountID, Entity: steward.ChangePolicy, EntityID: accountID})
	}
	return mustAffect(res, err, "account", accountID)
}

// ScanPolicies calls fn with every account whose policy names never-delegable permissions.
func (s *Store) ScanPolicies(ctx context.Context, fn func(string, *steward.AccountPolicy) error) error {
	rows, err := s.q.unbounded().QueryContext(ctx, `SELECT id, policy FROM accounts WHERE policy LIKE '%"never_delegable":["%'`)
	if err != nil {
		return s.wrap(err, "scan policies")
	}
	defer rows.Close()
	for rows.Next() {
		var id, raw string
		if err := rows.Scan(&id, &raw); err != nil {
			return err
		}
		p, err := decodePolicy(raw)
		if err != nil {
			return err
		}
		if len(p.NeverDelegable) == 0 {
			continue
		}
		if err := fn(id, p); err != nil {
			return err
		}
	}
	return rows.Err()
}

const accessRequestColumns = `id, account_id, user_id, membership_id, requested_by, permissions, reason, ends_at, status,
	expires_at, decided_by, decided_at, created_at, updated_at`

func accessRequestArgs(r *steward.AccessRequest) []any {
	return []any{r.ID, r.AccountID, r.UserID, r.MembershipID, r.RequestedBy, jsonText(r.Permissions), r.Reason, microsPtr(r.EndsAt),
		string(r.Status), micros(r.ExpiresAt), r.DecidedBy, microsPtr(r.DecidedAt), micros(r.CreatedAt), micros(r.UpdatedAt)}
}

// CreateAccessRequest inserts an access request.
func (s *Store) CreateAccessRequest(ctx context.Context, r *steward.AccessRequest) error {
	_, err := s.exec(ctx, "insert access request", `INSERT INTO access_requests (`+accessRequestColumns+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)`, accessRequestArgs(r)...)
	return err
}

// FindAccessRequest returns a request of the account or ENOTFOUND.
func (s *Store) FindAccessRequest(ctx context.Context, accountID, id string) (*steward.AccessRequest, error) {
	r, err := scanAccessRequest(s.q.QueryRowContext(ctx, `SELECT `+accessRequestColumns+` FROM access_requests WHERE account_id = $1 AND id = $2`, accountID, id))
	if err == sql.ErrNoRows {
		return nil, steward.NotFound("access request", id)
	} else if err != nil {
		return nil, s.wrap(err, "find access request")
	}
	return r, nil
}

// FindAccessRequests pages through an account's requests in id order.
func (s *Store) FindAccessRequests(ctx context.Context, f steward.AccessRequestFilter) ([]*steward.AccessRequest, string, error) {
	var w where
	w.add(`account_id = ?`, f.AccountID)
	if f.Status != "" {
		w.add(`status = ?`, string(f.Status))
	}
	if f.Party != "" {
		w.add(`(user_id = ? OR requested_by = ?)`, f.Party)
	}
	if f.After != "" {
		w.add(`id > ?`, f.After)
	}
	limit := f.Page.Normalize().Limit
	rs, err := s.queryAccessRequests(ctx, `SELECT `+accessRequestColumns+` FROM access_requests`+w.sql()+` ORDER BY id`+w.limit(limit), w.args...)
	if err != nil {
		return nil, "", err
	}
	rs, next := page(rs, limit, func(r *steward.AccessRequest) string { return r.ID })
	return rs, next, nil
}

// FindDueAccessRequests returns pending requests that expired by now.
func (s *Store) FindDueAccessRequests(ctx context.Context, now time.Time, limit int) ([]*steward.AccessRequest, error) {
	return s.queryAccessRequests(ctx, `SELECT `+accessRequestColumns+` FROM access_requests
		WHERE status = $1 AND expires_at <= $2 ORDER BY expires_at, id LIMIT $3`, string(steward.RequestPending), micros(now), limit)
}

// UpdateAccessRequest writes every field of r.
func (s *Store) UpdateAccessRequest(ctx context.Context, r *steward.AccessRequest) error {
	res, err := s.exec(ctx, "update access request", `UPDATE access_requests SET user_id=$3, membership_id=$4, requested_by=$5,
		permissions=$6, reason=$7, ends_at=$8, status=$9, expires_at=$10, decided_by=$11, decided_at=$12, created_at=$13, updated_at=$14
		WHERE id=$1 AND account_id=$2`, accessRequestArgs(r)...)
	return mustAffect(res, err, "access request", r.ID)
}

func (s *Store) queryAccessRequests(ctx context.Context, query string, args ...any) ([]*steward.AccessRequest, error) {
	rows, err := s.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.wrap(err, "find access requests")
	}
	defer rows.Close()
	out := []*steward.AccessRequest{}
	for rows.Next() {
		r, err := scanAccessRequest(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func scanAccessRequest(row interface{ Scan(...any) error }) (*steward.AccessRequest, error) {
	var r steward.AccessRequest
	var perms, status string
	var endsAt, decidedAt sql.NullInt64
	var expires, created, updated int64
	if err := row.Scan(&r.ID, &r.AccountID, &r.UserID, &r.MembershipID, &r.RequestedBy, &perms, &r.Reason, &endsAt, &status,
		&expires, &r.DecidedBy, &decidedAt, &created, &updated); err != nil {
		return nil, err
	}
	r.Status, r.EndsAt, r.DecidedAt = steward.AccessRequestStatus(status), fromNullMicros(endsAt), fromNullMicros(decidedAt)
	r.ExpiresAt, r.CreatedAt, r.UpdatedAt = fromMicros(expires), fromMicros(created), fromMicros(updated)
	var err error
	r.Permissions, err = strings2(perms)
	return &r, err
}
