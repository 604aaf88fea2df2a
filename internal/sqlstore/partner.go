package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/steward-iam/steward"
)

const relationshipColumns = `id, partner_id, client_id, status, alias, last_activity_at, ending_since, ends_at, ended_at, created_at, updated_at,
	auto_extend, term_started_at, approved_at`

func relationshipArgs(r *steward.Relationship) []any {
	return []any{r.ID, r.PartnerID, r.ClientID, string(r.Status), r.Alias, micros(r.LastActivityAt), microsPtr(r.EndingSince),
		microsPtr(r.EndsAt), microsPtr(r.EndedAt), micros(r.CreatedAt), micros(r.UpdatedAt),
		boolInt(r.AutoExtend), microsPtr(r.TermStartedAt), microsPtr(r.ApprovedAt)}
}

// CreateRelationship inserts P→C; a second one for the same pair is ECONFLICT.
func (s *Store) CreateRelationship(ctx context.Context, r *steward.Relationship) error {
	_, err := s.exec(ctx, "insert relationship", `INSERT INTO relationships (`+relationshipColumns+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)`, relationshipArgs(r)...)
	s.feedRelationship(r.PartnerID, r.ClientID)
	return err
}

// feedRelationship records that P→C changed, for the check index.
func (s *Store) feedRelationship(partnerID, clientID string) {
	if s.fed != nil {
		*s.fed = append(*s.fed, steward.Change{AccountID: clientID, Entity: steward.ChangeRelationship, EntityID: partnerID})
	}
}

// FindRelationship returns P→C or ENOTFOUND.
func (s *Store) FindRelationship(ctx context.Context, partnerID, clientID string) (*steward.Relationship, error) {
	r, err := scanRelationship(s.q.QueryRowContext(ctx, `SELECT `+relationshipColumns+` FROM relationships
		WHERE partner_id = $1 AND client_id = $2`, partnerID, clientID))
	if err == sql.ErrNoRows {
		return nil, steward.NotFound("relationship", partnerID+"→"+clientID)
	} else if err != nil {
		return nil, s.wrap(err, "find relationship")
	}
	return r, nil
}

// UpdateRelationship writes every field of r but the pair.
func (s *Store) UpdateRelationship(ctx context.Context, r *steward.Relationship) error {
	res, err := s.exec(ctx, "update relationship", `UPDATE relationships SET status=$4, alias=$5, last_activity_at=$6,
		ending_since=$7, ends_at=$8, ended_at=$9, created_at=$10, updated_at=$11,
		auto_extend=$12, term_started_at=$13, approved_at=$14
		WHERE id=$1 AND partner_id=$2 AND client_id=$3`, relationshipArgs(r)...)
	s.feedRelationship(r.PartnerID, r.ClientID)
	return mustAffect(res, err, "relationship", r.ID)
}

// TouchRelationship records partner activity at at in P→C unless the
// relationship has ended (also by its grace passing); an ending relationship
// then ends at endsAt. One statement, so that it never overwrites a
// concurrent change of status.
func (s *Store) TouchRelationship(ctx context.Context, partnerID, clientID string, at, endsAt time.Time) error {
	res, err := s.exec(ctx, "touch relationship", `UPDATE relationships SET last_activity_at = $3, updated_at = $3,
		ends_at = CASE WHEN status = 'ending' THEN $4 ELSE ends_at END
		WHERE partner_id = $1 AND client_id = $2 AND last_activity_at <= $3 AND status <> 'ended'
		AND NOT (status = 'ending' AND ends_at <= $3)`, partnerID, clientID, micros(at), micros(endsAt))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n > 0 {
		s.feedRelationship(partnerID, clientID)
	}
	return nil
}

func scanRelationship(row interface{ Scan(...any) error }, extra ...any) (*steward.Relationship, error) {
	var r steward.Relationship
	var status string
	var last, created, updated int64
	var endingSince, endsAt, endedAt, termStarted, approved sql.NullInt64
	var autoExtend int
	dest := append([]any{&r.ID, &r.PartnerID, &r.ClientID, &status, &r.Alias, &last, &endingSince, &endsAt, &endedAt, &created, &updated,
		&autoExtend, &termStarted, &approved}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	r.AutoExtend, r.TermStartedAt, r.ApprovedAt = autoExtend != 0, fromNullMicros(termStarted), fromNullMicros(approved)
	r.Status, r.LastActivityAt = steward.RelationshipStatus(status), fromMicros(last)
	r.EndingSince, r.EndsAt, r.EndedAt = fromNullMicros(endingSince), fromNullMicros(endsAt), fromNullMicros(endedAt)
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &r, nil
}

// likePattern returns a LIKE pattern (ESCAPE '\') that matches s anywhere, lower-cased.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

// statusAt adds the condition that a relationship's status at now is status:
// an ending relationship past its end, or an active one past its end date,
// is ended (R-PARTNER-10, R-LIFE-1).
func statusAt(w *where, status steward.RelationshipStatus, now time.Time) {
	switch status {
	case steward.RelationshipActive:
		w.add(`(status = 'active' AND (ends_at IS NULL OR ends_at > ?))`, micros(now))
	case steward.RelationshipEnding:
		w.add(`(status = 'ending' AND (ends_at IS NULL OR ends_at > ?))`, micros(now))
	case steward.RelationshipEnded:
		w.add(`(status = 'ended' OR (status <> 'ended' AND ends_at <= ?))`, micros(now))
	default:
		w.add(`status = ?`, string(status))
	}
}

// FindClients pages through a partner's clients with the counts of its memberships there.
func (s *Store) FindClients(ctx context.Context, f steward.ClientFilter) ([]*steward.Client, string, error) {
	var w where
	w.add(`partner_id = ?`, f.PartnerID)
	if f.Status != "" {
		statusAt(&w, f.Status, f.Now)
	}
	if f.Search != "" {
		// The client's own name is searched only while the relationship has not ended.
		w.args = append(w.args, likePattern(f.Search), micros(f.Now))
		pat, now := len(w.args)-1, len(w.args)
		w.conds = append(w.conds, fmt.Sprintf(`(LOWER(alias) LIKE $%d ESCAPE '\' OR (LOWER(client_name) LIKE $%d ESCAPE '\'
			AND status <> 'ended' AND NOT (ends_at IS NOT NULL AND ends_at <= $%d)))`, pat, pat, now))
	}
	switch f.AccessType {
	case steward.AccessTypePartnerAdmin:
		w.conds = append(w.conds, `partner_admins > 0`)
	case steward.AccessTypeEmployees:
		w.conds = append(w.conds, `partner_admins = 0 AND employees > 0`)
	case steward.AccessTypeNone:
		w.conds = append(w.conds, `employees = 0`)
	}
	if f.After != "" {
		w.add(`id > ?`, f.After)
	}
	limit := f.Page.Normalize().Limit
	pm := `FROM memberships m WHERE m.account_id = r.client_id AND m.kind = 'partner' AND m.partner_id = r.partner_id`
	counts := `(SELECT COUNT(*) ` + pm + `) AS employees,
			(SELECT COUNT(*) ` + pm + ` AND m.status = 'active') AS active_employees,
			(SELECT COUNT(*) ` + pm + ` AND m.status = 'active' AND m.role = 'partner_admin') AS partner_admins`
	var query string
	if f.AccessType == "" {
		// Page first, then count only the page's memberships: a partner of
		// 10,000 clients answers its first page without counting them all.
		query = `SELECT ` + relationshipColumns + `, client_name, ` + strings.ReplaceAll(counts, "r.", "x.") + ` FROM (
			SELECT * FROM (SELECT r.*, a.name AS client_name FROM relationships r JOIN accounts a ON a.id = r.client_id) y` +
			w.sql() + ` ORDER BY id` + w.limit(limit) + `) x ORDER BY id`
	} else {
		query = `SELECT ` + relationshipColumns + `, client_name, employees, active_employees, partner_admins FROM (
		SELECT r.*, a.name AS client_name, ` + counts + `
		FROM relationships r JOIN accounts a ON a.id = r.client_id) x` + w.sql() + ` ORDER BY id` + w.limit(limit)
	}
	rows, err := s.q.QueryContext(ctx, query, w.args...)
	if err != nil {
		return nil, "", s.wrap(err, "find clients")
	}
	defer rows.Close()
	var out []*steward.Client
	for rows.Next() {
		var c steward.Client
		r, err := scanRelationship(rows, &c.ClientName, &c.Employees, &c.Active, &c.PartnerAdmins)
		if err != nil {
			return nil, "", err
		}
		c.Relationship = *r.At(f.Now)
		switch {
		case c.PartnerAdmins > 0:
			c.AccessType = steward.AccessTypePartnerAdmin
		case c.Employees > 0:
			c.AccessType = steward.AccessTypeEmployees
		default:
			c.AccessType = steward.AccessTypeNone
		}
		out = append(out, &c)
	}
	if err := rows.Err(); err != nil {
		return nil, "", s.wrap(err, "find clients")
	}
	out, next := page(out, limit, func(c *steward.Client) string { return c.ID })
	return out, next, nil
}

// FindPartners pages through a client's partners.
func (s *Store) FindPartners(ctx context.Context, clientID string, now time.Time, p steward.Page) ([]*steward.Partner, string, error) {
	var w where
	w.add(`r.client_id = ?`, clientID)
	if p.After != "" {
		w.add(`r.id > ?`, p.After)
	}
	limit := p.Normalize().Limit
	cols := "r." + strings.ReplaceAll(relationshipColumns, ", ", ", r.")
	query := `SELECT ` + cols + `, a.name,
		(SELECT COUNT(*) FROM memberships m WHERE m.account_id = r.client_id AND m.kind = 'partner' AND m.partner_id = r.partner_id)
		FROM relationships r JOIN accounts a ON a.id = r.partner_id` + w.sql() + ` ORDER BY r.id` + w.limit(limit)
	rows, err := s.q.QueryContext(ctx, query, w.args...)
	if err != nil {
		return nil, "", s.wrap(err, "find partners")
	}
	defer rows.Close()
	var out []*steward.Partner
	for rows.Next() {
		var pt steward.Partner
		r, err := scanRelationship(rows, &pt.PartnerName, &pt.Employees)
		if err != nil {
			return nil, "", err
		}
		pt.SharedRelationship = *r.Shared(now)
		out = append(out, &pt)
	}
	if err := rows.Err(); err != nil {
		return nil, "", s.wrap(err, "find partners")
	}
	out, next := page(out, limit, func(pt *steward.Partner) string { return pt.ID })
	return out, next, nil
}

// FindEndingRelationships returns ending relationships whose grace has
// passed, then active relationships whose end date has (R-LIFE-1): each
// query reads a partial index by end date.
func (s *Store) FindEndingRelationships(ctx context.Context, now time.Time, limit int) ([]*steward.Relationship, error) {
	ending, err := s.queryRelationships(ctx, dueEndingSQL, micros(now), limit)
	if err != nil || len(ending) == limit {
		return ending, err
	}
	ended, err := s.queryRelationships(ctx, dueEndDateSQL, micros(now), limit-len(ending))
	return append(ending, ended...), err
}

// The relationship queries of the scheduler; plan_test.go checks their plans.
const (
	dueEndingSQL  = `SELECT ` + relationshipColumns + ` FROM relationships WHERE status = 'ending' AND ends_at <= $1 ORDER BY ends_at, id LIMIT $2`
	dueEndDateSQL = `SELECT ` + relationshipColumns + ` FROM relationships
		WHERE status = 'active' AND ends_at IS NOT NULL AND ends_at <= $1 ORDER BY ends_at, id LIMIT $2`
	// endingRelationshipsSQL pages through active relationships whose end
	// date falls in a window, for the warnings (R-LIFE-2).
	endingRelationshipsSQL = `SELECT ` + relationshipColumns + ` FROM relationships
		WHERE status = 'active' AND ends_at IS NOT NULL AND ends_at > $1 AND ends_at <= $2
		AND (ends_at > $3 OR (ends_at = $3 AND id > $4)) ORDER BY ends_at, id LIMIT $5`
	// extendingRelationshipsSQL: active auto-extending relationships whose
	// end date comes by a time (R-LIFE-1).
	extendingRelationshipsSQL = `SELECT ` + relationshipColumns + ` FROM relationships
		WHERE status = 'active' AND ends_at IS NOT NULL AND ends_at <= $1 AND auto_extend = 1 ORDER BY ends_at, id LIMIT $2`
)

// EndingRelationships pages through active relationships whose end date is
// in (from, by], in (ends_at, id) order after (afterAt, afterID).
func (s *Store) EndingRelationships(ctx context.Context, from, by, afterAt time.Time, afterID string, limit int) ([]*steward.Relationship, error) {
	return s.queryRelationships(ctx, endingRelationshipsSQL, micros(from), micros(by), micros(afterAt), afterID, limit)
}

// ExtendingRelationships returns active auto-extending relationships whose
// end date is at or before by.
func (s *Store) ExtendingRelationships(ctx context.Context, by time.Time, limit int) ([]*steward.Relationship, error) {
	return s.queryRelationships(ctx, extendingRelationshipsSQL, micros(by), limit)
}

func (s *Store) queryRelationships(ctx context.Context, query string, args ...any) ([]*steward.Relationship, error) {
	rows, err := s.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.wrap(err, "find ending relationships")
	}
	defer rows.Close()
	var out []*steward.Relationship
	for rows.Next() {
		r, err := scanRelationship(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, s.wrap(rows.Err(), "find ending relationships")
}

// CountPartnerMemberships counts P's partner memberships in C.
func (s *Store) CountPartnerMemberships(ctx context.Context, partnerID, clientID string) (int, error) {
	var n int
	err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM memberships WHERE account_id = $1 AND kind = $2 AND partner_id = $3`,
		clientID, string(steward.KindPartner), partnerID).Scan(&n)
	return n, s.wrap(err, "count partner memberships")
}

// FindEmployees pages through the partner's users with their client counts.
func (s *Store) FindEmployees(ctx context.Context, partnerID string, p steward.Page) ([]*steward.Employee, string, error) {
	var w where
	w.add(`u.home_account_id = ?`, partnerID)
	w.add(`u.status <> ?`, string(steward.UserDeleted))
	if p.After != "" {
		w.add(`u.id > ?`, p.After)
	}
	limit := p.Normalize().Limit
	cols := "u." + strings.ReplaceAll(userColumns, ", ", ", u.")
	query := `SELECT ` + cols + `, (SELECT COUNT(*) FROM memberships m WHERE m.user_id = u.id AND m.account_id <> u.home_account_id
			AND ((m.kind = 'partner' AND m.partner_id = u.home_account_id) OR m.managed_by = u.home_account_id))
		FROM users u` + w.sql() + ` ORDER BY u.id` + w.limit(limit)
	rows, err := s.q.QueryContext(ctx, query, w.args...)
	if err != nil {
		return nil, "", s.wrap(err, "find employees")
	}
	defer rows.Close()
	var out []*steward.Employee
	for rows.Next() {
		var e steward.Employee
		var status string
		var created, updated int64
		if err := rows.Scan(&e.ID, &e.Email, &e.Name, &e.HomeAccountID, &status, &e.PasswordHash, &created, &updated, &e.Clients); err != nil {
			return nil, "", err
		}
		e.Status, e.CreatedAt, e.UpdatedAt = steward.UserStatus(status), fromMicros(created), fromMicros(updated)
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", s.wrap(err, "find employees")
	}
	out, next := page(out, limit, func(e *steward.Employee) string { return e.ID })
	return out, next, nil
}

// CreateSuspension marks a membership suspended by a cascade.
func (s *Store) CreateSuspension(ctx context.Context, sp *steward.Suspension) error {
	_, err := s.exec(ctx, "insert suspension", `INSERT INTO suspensions (membership_id, account_id, user_id, reason, prior_status, created_at)
		VALUES ($1,$2,$3,$4,$5,$6)`, sp.MembershipID, sp.AccountID, sp.UserID, sp.Reason, string(sp.PriorStatus), micros(sp.CreatedAt))
	return err
}

// FindSuspensions returns the markers of a user's memberships.
func (s *Store) FindSuspensions(ctx context.Context, userID string) ([]*steward.Suspension, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT membership_id, account_id, user_id, reason, prior_status, created_at
		FROM suspensions WHERE user_id = $1 ORDER BY account_id`, userID)
	if err != nil {
		return nil, s.wrap(err, "find suspensions")
	}
	defer rows.Close()
	var out []*steward.Suspension
	for rows.Next() {
		var sp steward.Suspension
		var prior string
		var created int64
		if err := rows.Scan(&sp.MembershipID, &sp.AccountID, &sp.UserID, &sp.Reason, &prior, &created); err != nil {
			return nil, err
		}
		sp.PriorStatus, sp.CreatedAt = steward.MembershipStatus(prior), fromMicros(created)
		out = append(out, &sp)
	}
	return out, s.wrap(rows.Err(), "find suspensions")
}

// DeleteSuspension removes a membership's marker; a missing one is no error.
func (s *Store) DeleteSuspension(ctx context.Context, membershipID string) error {
	_, err := s.exec(ctx, "delete suspension", `DELETE FROM suspensions WHERE membership_id = $1`, membershipID)
	return err
}

const accessLinkColumns = `id, token_hash, partner_id, user_id, requested_by, status, client_id, decided_by, expires_at, used_at, created_at`

// CreateAccessLink inserts a link.
func (s *Store) CreateAccessLink(ctx context.Context, l *steward.AccessLink) error {
	_, err := s.exec(ctx, "insert access link", `INSERT INTO access_links (`+accessLinkColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
		l.ID, l.TokenHash, l.PartnerID, l.UserID, l.RequestedBy, string(l.Status), l.ClientID, l.DecidedBy, micros(l.ExpiresAt),
		microsPtr(l.UsedAt), micros(l.CreatedAt))
	return err
}

// FindAccessLinkByHash returns the link with the token hash or ENOTFOUND.
func (s *Store) FindAccessLinkByHash(ctx context.Context, hash string) (*steward.AccessLink, error) {
	var l steward.AccessLink
	var status string
	var expires, created int64
	var used sql.NullInt64
	err := s.q.QueryRowContext(ctx, `SELECT `+accessLinkColumns+` FROM access_links WHERE token_hash = $1`, hash).Scan(
		&l.ID, &l.TokenHash, &l.PartnerID, &l.UserID, &l.RequestedBy, &status, &l.ClientID, &l.DecidedBy, &expires, &used, &created)
	if err == sql.ErrNoRows {
		return nil, &steward.Error{Kind: steward.ENOTFOUND, Code: "access_link_not_found", Message: "No such access link."}
	} else if err != nil {
		return nil, s.wrap(err, "find access link")
	}
	l.Status, l.ExpiresAt, l.UsedAt, l.CreatedAt = steward.AccessLinkStatus(status), fromMicros(expires), fromNullMicros(used), fromMicros(created)
	return &l, nil
}

// UseAccessLink records the decision on a link still unused. The condition
// on used_at makes a concurrent second use wait for the first and then find
// no row: ECONFLICT.
func (s *Store) UseAccessLink(ctx context.Context, l *steward.AccessLink) error {
	res, err := s.exec(ctx, "use access link", `UPDATE access_links SET status=$2, client_id=$3, decided_by=$4, used_at=$5
		WHERE id=$1 AND used_at IS NULL`, l.ID, string(l.Status), l.ClientID, l.DecidedBy, microsPtr(l.UsedAt))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return &steward.Error{Kind: steward.ECONFLICT, Code: "access_link_used", Message: "This access link has been used already."}
	}
	return nil
}
