package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"math"
	"slices"
	"time"

	"github.com/steward-iam/steward"
)

const membershipColumns = `id, account_id, user_id, kind, status, role, permissions, ends_at, granted_by, partner_id, parent_id,
	allow_redelegation, delegates_end_at, managed_by, created_at, updated_at, grants, auto_extend, term_started_at`

// CreateMembership inserts a membership; a second one for the same user and account is ECONFLICT.
func (s *Store) CreateMembership(ctx context.Context, m *steward.Membership) error {
	err := s.execLater(ctx, "insert membership", `INSERT INTO memberships (`+membershipColumns+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)`, membershipArgs(m)...)
	s.feedMember(m.AccountID, m.UserID)
	return err
}

func membershipArgs(m *steward.Membership) []any {
	return []any{m.ID, m.AccountID, m.UserID, string(m.Kind), string(m.Status), m.Role, jsonText(m.Permissions), microsPtr(m.EndsAt),
		m.GrantedBy, m.PartnerID, m.ParentID, boolInt(m.AllowRedelegation), microsPtr(m.DelegatesEndAt), m.ManagedBy,
		micros(m.CreatedAt), micros(m.UpdatedAt), grantsText(m.Grants), boolInt(m.AutoExtend), microsPtr(m.TermStartedAt)}
}

// grantsText keeps a membership's grants as a JSON list; none is "[]".
func grantsText(g []steward.Grant) string {
	if len(g) == 0 {
		return "[]"
	}
	return jsonText(g)
}

// FindMembership returns the membership of a user in an account or ENOTFOUND.
func (s *Store) FindMembership(ctx context.Context, accountID, userID string) (*steward.Membership, error) {
	return s.findMembership(ctx, `account_id = $1 AND user_id = $2`, accountID, userID)
}

// FindMembershipByID returns a membership of the account or ENOTFOUND.
func (s *Store) FindMembershipByID(ctx context.Context, accountID, id string) (*steward.Membership, error) {
	return s.findMembership(ctx, `account_id = $1 AND id = $2`, accountID, id)
}

func (s *Store) findMembership(ctx context.Context, cond, accountID, key string) (*steward.Membership, error) {
	m, err := scanMembership(s.q.QueryRowContext(ctx, `SELECT `+membershipColumns+` FROM memberships WHERE `+cond, accountID, key))
	if err == sql.ErrNoRows {
		return nil, steward.NotFound("membership", key)
	} else if err != nil {
		return nil, s.wrap(err, "find membership")
	}
	return m, nil
}

// FindMemberships pages through an account's memberships in id order.
func (s *Store) FindMemberships(ctx context.Context, f steward.MembershipFilter) ([]*steward.Membership, string, error) {
	var w where
	w.add(`account_id = ?`, f.AccountID)
	if f.UserID != "" {
		w.add(`user_id = ?`, f.UserID)
	}
	if f.Role != "" {
		w.add(`role = ?`, f.Role)
	}
	if f.Kind != "" {
		w.add(`kind = ?`, string(f.Kind))
	}
	if f.ParentID != "" {
		w.add(`parent_id = ?`, f.ParentID)
	}
	if f.GrantedBy != "" {
		w.add(`granted_by = ?`, f.GrantedBy)
	}
	if f.GrantsFrom != "" {
		// A LIKE narrows the rows ("_" in ids matches itself among others);
		// the grants themselves decide.
		w.add(`grants LIKE ?`, `%"granted_by":`+jsonText(f.GrantsFrom)+`%`)
	}
	if f.After != "" {
		w.add(`id > ?`, f.After)
	}
	limit := f.Page.Normalize().Limit
	ms, err := s.queryMemberships(ctx, `SELECT `+membershipColumns+` FROM memberships`+w.sql()+` ORDER BY id`+w.limit(limit), w.args...)
	if err != nil {
		return nil, "", err
	}
	ms, next := page(ms, limit, func(m *steward.Membership) string { return m.ID })
	if f.GrantsFrom != "" {
		ms = slices.DeleteFunc(ms, func(m *steward.Membership) bool {
			return !slices.ContainsFunc(m.Grants, func(g steward.Grant) bool { return g.GrantedBy == f.GrantsFrom })
		})
	}
	return ms, next, nil
}

// FindUserMemberships returns every membership of a user, in account order.
func (s *Store) FindUserMemberships(ctx context.Context, userID string) ([]*steward.Membership, error) {
	return s.queryMemberships(ctx, `SELECT `+membershipColumns+` FROM memberships WHERE user_id = $1 ORDER BY account_id`, userID)
}

func (s *Store) queryMemberships(ctx context.Context, query string, args ...any) ([]*steward.Membership, error) {
	rows, err := s.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.wrap(err, "find memberships")
	}
	defer rows.Close()
	out := []*steward.Membership{}
	for rows.Next() {
		m, err := scanMembership(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// UpdateMembership writes every field of m.
func (s *Store) UpdateMembership(ctx context.Context, m *steward.Membership) error {
	res, err := s.exec(ctx, "update membership", `UPDATE memberships SET user_id=$3, kind=$4, status=$5, role=$6, permissions=$7,
		ends_at=$8, granted_by=$9, partner_id=$10, parent_id=$11, allow_redelegation=$12, delegates_end_at=$13, managed_by=$14,
		created_at=$15, updated_at=$16, grants=$17, auto_extend=$18, term_started_at=$19 WHERE id=$1 AND account_id=$2`, membershipArgs(m)...)
	s.feedMember(m.AccountID, m.UserID)
	return mustAffect(res, err, "membership", m.ID)
}

// UpdateMembershipEnds writes the end dates and updated_at of many
// memberships of the account. On PostgreSQL it is one statement per
// thousand memberships (arrays unnested into the rows to update), not one
// round trip each; SQLite runs in process, where one prepared UPDATE per
// membership costs no round trip.
func (s *Store) UpdateMembershipEnds(ctx context.Context, accountID string, ms []*steward.Membership) error {
	feed := func(m *steward.Membership) { s.feedMember(accountID, m.UserID) }
	if len(ms) >= bulkFeed { // one change-feed entry for the account rather than one per membership
		s.feedMembers(accountID)
		feed = func(*steward.Membership) {}
	}
	if s.dialect.Name != "postgres" {
		for _, m := range ms {
			res, err := s.exec(ctx, "update membership ends", `UPDATE memberships SET ends_at=$3, delegates_end_at=$4, updated_at=$5
				WHERE account_id=$1 AND id=$2`, accountID, m.ID, microsPtr(m.EndsAt), microsPtr(m.DelegatesEndAt), micros(m.UpdatedAt))
			if err := mustAffect(res, err, "membership", m.ID); err != nil {
				return err
			}
			feed(m)
		}
		return nil
	}
	const chunk, none = 1000, math.MinInt64 // none stands for NULL in the arrays
	for len(ms) > 0 {
		n := min(chunk, len(ms))
		ids, ends, dends, updated := make([]string, n), make([]int64, n), make([]int64, n), make([]int64, n)
		for i, m := range ms[:n] {
			ids[i], ends[i], dends[i], updated[i] = m.ID, none, none, micros(m.UpdatedAt)
			if m.EndsAt != nil {
				ends[i] = micros(*m.EndsAt)
			}
			if m.DelegatesEndAt != nil {
				dends[i] = micros(*m.DelegatesEndAt)
			}
		}
		res, err := s.exec(ctx, "update membership ends", `UPDATE memberships AS m SET ends_at = NULLIF(v.e, $6), delegates_end_at = NULLIF(v.d, $6), updated_at = v.u
			FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::bigint[]) AS v(id, e, d, u)
			WHERE m.account_id = $1 AND m.id = v.id`, accountID, ids, ends, dends, updated, int64(none))
		if err != nil {
			return err
		}
		if got, err := res.RowsAffected(); err != nil {
			return err
		} else if got != int64(n) {
			return steward.NotFound("membership", ms[0].ID)
		}
		for _, m := range ms[:n] {
			feed(m)
		}
		ms = ms[n:]
	}
	return nil
}

// bulkFeed is how many memberships written at once make the change feed
// name the account's memberships as a whole (steward.ChangeMembers).
const bulkFeed = 64

// feedMembers records that many of the account's memberships changed.
func (s *Store) feedMembers(accountID string) {
	if s.fed != nil {
		*s.fed = append(*s.fed, steward.Change{AccountID: accountID, Entity: steward.ChangeMembers, EntityID: accountID})
	}
}

// DeleteMembership deletes a membership of the account.
func (s *Store) DeleteMembership(ctx context.Context, accountID, id string) error {
	var userID string
	err := s.q.QueryRowContext(ctx, `DELETE FROM memberships WHERE account_id=$1 AND id=$2 RETURNING user_id`, accountID, id).Scan(&userID)
	if err == sql.ErrNoRows {
		return steward.NotFound("membership", id)
	} else if err != nil {
		return s.wrap(err, "delete membership")
	}
	s.feedMember(accountID, userID)
	return nil
}

// CountActiveSuperAdmins counts the account's active, lasting super admins
// whose users are active: without an end date of their own, nor, for a
// partner membership, one of its relationship (R-LIFE-1).
func (s *Store) CountActiveSuperAdmins(ctx context.Context, accountID string, now time.Time) (int, error) {
	var n int
	err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.account_id = $1 AND m.role = $2 AND m.status = $3 AND m.ends_at IS NULL AND u.status = $4
		AND NOT (m.kind = 'partner' AND EXISTS (SELECT 1 FROM relationships r
			WHERE r.partner_id = m.partner_id AND r.client_id = m.account_id AND r.ends_at IS NOT NULL))`,
		accountID, steward.RoleSuperAdmin, string(steward.StatusActive), string(steward.UserActive)).Scan(&n)
	return n, s.wrap(err, "count super admins")
}

func scanMembership(row interface{ Scan(...any) error }) (*steward.Membership, error) {
	var m steward.Membership
	var kind, status, perms, grants string
	var endsAt, delegatesEndAt, termStarted sql.NullInt64
	var redelegation, autoExtend int
	var created, updated int64
	if err := row.Scan(&m.ID, &m.AccountID, &m.UserID, &kind, &status, &m.Role, &perms, &endsAt, &m.GrantedBy, &m.PartnerID,
		&m.ParentID, &redelegation, &delegatesEndAt, &m.ManagedBy, &created, &updated, &grants, &autoExtend, &termStarted); err != nil {
		return nil, err
	}
	m.AutoExtend, m.TermStartedAt = autoExtend != 0, fromNullMicros(termStarted)
	if grants != "" && grants != "[]" {
		if err := json.Unmarshal([]byte(grants), &m.Grants); err != nil {
			return nil, err
		}
	}
	m.Kind, m.Status, m.AllowRedelegation = steward.MembershipKind(kind), steward.MembershipStatus(status), redelegation != 0
	m.EndsAt, m.DelegatesEndAt = fromNullMicros(endsAt), fromNullMicros(delegatesEndAt)
	m.CreatedAt, m.UpdatedAt = fromMicros(created), fromMicros(updated)
	var err error
	m.Permissions, err = strings2(perms)
	return &m, err
}

// ScanUserStatuses calls fn with every user's id and status but the
// deleted ones', for loading the check index.
func (s *Store) ScanUserStatuses(ctx context.Context, fn func(id string, status steward.UserStatus) error) error {
	rows, err := s.q.unbounded().QueryContext(ctx, `SELECT id, status FROM users WHERE status <> $1`, string(steward.UserDeleted))
	if err != nil {
		return s.wrap(err, "scan users")
	}
	defer rows.Close()
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			return err
		}
		if err := fn(id, steward.UserStatus(status)); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ScanMemberships calls fn with every membership, in no particular order,
// for loading the check index.
func (s *Store) ScanMemberships(ctx context.Context, fn func(*steward.Membership) error) error {
	rows, err := s.q.unbounded().QueryContext(ctx, `SELECT `+membershipColumns+` FROM memberships`)
	if err != nil {
		return s.wrap(err, "scan memberships")
	}
	defer rows.Close()
	for rows.Next() {
		m, err := scanMembership(rows)
		if err != nil {
			return err
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ScanAccountIDs calls fn with every account id, in id order.
func (s *Store) ScanAccountIDs(ctx context.Context, fn func(string) error) error {
	rows, err := s.q.unbounded().QueryContext(ctx, `SELECT id FROM accounts ORDER BY id`)
	if err != nil {
		return s.wrap(err, "scan accounts")
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		if err := fn(id); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ScanRelationships calls fn with every partner relationship.
func (s *Store) ScanRelationships(ctx context.Context, fn func(*steward.Relationship) error) error {
	rows, err := s.q.unbounded().QueryContext(ctx, `SELECT `+relationshipColumns+` FROM relationships`)
	if err != nil {
		return s.wrap(err, "scan relationships")
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRelationship(rows)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}
