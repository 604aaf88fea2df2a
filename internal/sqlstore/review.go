package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/steward-iam/steward"
)

const reviewColumns = `id, account_id, status, include_internal, reviewer_ids, due_at, default_decision, created_by,
	created_at, updated_at, closed_at, closed_by, outcome`

const reviewItemColumns = `id, review_id, account_id, membership_id, user_id, email, kind, role, status, chain, permissions,
	granted_by, last_activity_at, decision, note, decided_by, decided_at, outcome`

func reviewArgs(r *steward.Review) []any {
	outcome := r.Outcome
	if outcome == nil {
		outcome = map[string]int{}
	}
	return []any{r.ID, r.AccountID, string(r.Status), boolInt(r.IncludeInternal), jsonText(r.ReviewerIDs), micros(r.DueAt),
		string(r.DefaultDecision), r.CreatedBy, micros(r.CreatedAt), micros(r.UpdatedAt), microsPtr(r.ClosedAt), r.ClosedBy, jsonText(outcome)}
}

func reviewItemArgs(it *steward.ReviewItem) []any {
	chain := it.Chain
	if chain == nil {
		chain = []steward.ChainLink{}
	}
	perms := it.Permissions
	if perms == nil {
		perms = []string{}
	}
	return []any{it.ID, it.ReviewID, it.AccountID, it.MembershipID, it.UserID, it.Email, string(it.Kind), it.Role, string(it.Status),
		jsonText(chain), jsonText(perms), it.GrantedBy, microsPtr(it.LastActivityAt), string(it.Decision), it.Note, it.DecidedBy,
		microsPtr(it.DecidedAt), it.Outcome}
}

// CreateReview inserts a review and its items.
func (s *Store) CreateReview(ctx context.Context, r *steward.Review, items []*steward.ReviewItem) error {
	if _, err := s.exec(ctx, "insert review", `INSERT INTO reviews (`+reviewColumns+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)`, reviewArgs(r)...); err != nil {
		return err
	}
	for _, it := range items {
		if _, err := s.exec(ctx, "insert review item", `INSERT INTO review_items (`+reviewItemColumns+`)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)`, reviewItemArgs(it)...); err != nil {
			return err
		}
	}
	return nil
}

// FindReviewByID returns a review of the account or ENOTFOUND.
func (s *Store) FindReviewByID(ctx context.Context, accountID, id string) (*steward.Review, error) {
	r, err := scanReview(s.q.QueryRowContext(ctx, `SELECT `+reviewColumns+` FROM reviews WHERE account_id = $1 AND id = $2`, accountID, id))
	if err == sql.ErrNoRows {
		return nil, steward.NotFound("review", id)
	} else if err != nil {
		return nil, s.wrap(err, "find review")
	}
	return r, nil
}

// FindReviews pages through an account's reviews in id order.
func (s *Store) FindReviews(ctx context.Context, accountID string, p steward.Page) ([]*steward.Review, string, error) {
	var w where
	w.add(`account_id = ?`, accountID)
	if p.After != "" {
		w.add(`id > ?`, p.After)
	}
	limit := p.Normalize().Limit
	rs, err := s.queryReviews(ctx, `SELECT `+reviewColumns+` FROM reviews`+w.sql()+` ORDER BY id`+w.limit(limit), w.args...)
	if err != nil {
		return nil, "", err
	}
	rs, next := page(rs, limit, func(r *steward.Review) string { return r.ID })
	return rs, next, nil
}

// UpdateReview writes a review's status, closing and outcome.
func (s *Store) UpdateReview(ctx context.Context, r *steward.Review) error {
	res, err := s.exec(ctx, "update review", `UPDATE reviews SET status=$3, include_internal=$4, reviewer_ids=$5, due_at=$6,
		default_decision=$7, created_by=$8, created_at=$9, updated_at=$10, closed_at=$11, closed_by=$12, outcome=$13
		WHERE id=$1 AND account_id=$2`, reviewArgs(r)...)
	return mustAffect(res, err, "review", r.ID)
}

// DueReviews returns open reviews whose due date has passed at now.
func (s *Store) DueReviews(ctx context.Context, now time.Time, limit int) ([]*steward.Review, error) {
	return s.queryReviews(ctx, `SELECT `+reviewColumns+` FROM reviews WHERE status = $1 AND due_at <= $2
		ORDER BY due_at, id LIMIT $3`, string(steward.ReviewOpen), micros(now), limit)
}

func (s *Store) queryReviews(ctx context.Context, query string, args ...any) ([]*steward.Review, error) {
	rows, err := s.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.wrap(err, "find reviews")
	}
	defer rows.Close()
	out := []*steward.Review{}
	for rows.Next() {
		r, err := scanReview(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func scanReview(row interface{ Scan(...any) error }) (*steward.Review, error) {
	var r steward.Review
	var status, reviewers, decision, outcome string
	var internal int
	var due, created, updated int64
	var closed sql.NullInt64
	if err := row.Scan(&r.ID, &r.AccountID, &status, &internal, &reviewers, &due, &decision, &r.CreatedBy,
		&created, &updated, &closed, &r.ClosedBy, &outcome); err != nil {
		return nil, err
	}
	r.Status, r.IncludeInternal, r.DefaultDecision = steward.ReviewStatus(status), internal != 0, steward.ReviewDecision(decision)
	r.DueAt, r.CreatedAt, r.UpdatedAt, r.ClosedAt = fromMicros(due), fromMicros(created), fromMicros(updated), fromNullMicros(closed)
	var err error
	if r.ReviewerIDs, err = strings2(reviewers); err != nil {
		return nil, err
	}
	if outcome != "" && outcome != "{}" {
		if err := json.Unmarshal([]byte(outcome), &r.Outcome); err != nil {
			return nil, err
		}
	}
	return &r, nil
}

// FindReviewItems pages through a review's items in id order.
func (s *Store) FindReviewItems(ctx context.Context, accountID, reviewID string, p steward.Page) ([]*steward.ReviewItem, string, error) {
	var w where
	w.add(`account_id = ?`, accountID)
	w.add(`review_id = ?`, reviewID)
	if p.After != "" {
		w.add(`id > ?`, p.After)
	}
	limit := p.Normalize().Limit
	rows, err := s.q.QueryContext(ctx, `SELECT `+reviewItemColumns+` FROM review_items`+w.sql()+` ORDER BY id`+w.limit(limit), w.args...)
	if err != nil {
		return nil, "", s.wrap(err, "find review items")
	}
	defer rows.Close()
	out := []*steward.ReviewItem{}
	for rows.Next() {
		it, err := scanReviewItem(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	out, next := page(out, limit, func(it *steward.ReviewItem) string { return it.ID })
	return out, next, nil
}

// FindReviewItemByID returns an item of the review or ENOTFOUND.
func (s *Store) FindReviewItemByID(ctx context.Context, accountID, reviewID, id string) (*steward.ReviewItem, error) {
	it, err := scanReviewItem(s.q.QueryRowContext(ctx, `SELECT `+reviewItemColumns+` FROM review_items
		WHERE account_id = $1 AND review_id = $2 AND id = $3`, accountID, reviewID, id))
	if err == sql.ErrNoRows {
		return nil, steward.NotFound("review item", id)
	} else if err != nil {
		return nil, s.wrap(err, "find review item")
	}
	return it, nil
}

// UpdateReviewItem writes an item's decision and outcome.
func (s *Store) UpdateReviewItem(ctx context.Context, it *steward.ReviewItem) error {
	res, err := s.exec(ctx, "update review item", `UPDATE review_items SET decision=$4, note=$5, decided_by=$6, decided_at=$7, outcome=$8
		WHERE id=$1 AND review_id=$2 AND account_id=$3`,
		it.ID, it.ReviewID, it.AccountID, string(it.Decision), it.Note, it.DecidedBy, microsPtr(it.DecidedAt), it.Outcome)
	return mustAffect(res, err, "review item", it.ID)
}

func scanReviewItem(row interface{ Scan(...any) error }) (*steward.ReviewItem, error) {
	var it steward.ReviewItem
	var kind, status, chain, perms, decision string
	var last, decided sql.NullInt64
	if err := row.Scan(&it.ID, &it.ReviewID, &it.AccountID, &it.MembershipID, &it.UserID, &it.Email, &kind, &it.Role, &status,
		&chain, &perms, &it.GrantedBy, &last, &decision, &it.Note, &it.DecidedBy, &decided, &it.Outcome); err != nil {
		return nil, err
	}
	it.Kind, it.Status, it.Decision = steward.MembershipKind(kind), steward.MembershipStatus(status), steward.ReviewDecision(decision)
	it.LastActivityAt, it.DecidedAt = fromNullMicros(last), fromNullMicros(decided)
	if err := json.Unmarshal([]byte(chain), &it.Chain); err != nil {
		return nil, err
	}
	var err error
	it.Permissions, err = strings2(perms)
	return &it, err
}

// LastActivity returns the time of the user's last event as actor in the account.
func (s *Store) LastActivity(ctx context.Context, accountID, userID string) (*time.Time, error) {
	var last sql.NullInt64
	if err := s.q.QueryRowContext(ctx, `SELECT MAX(time) FROM audit_events WHERE account_id = $1 AND actor_user_id = $2`,
		accountID, userID).Scan(&last); err != nil {
		return nil, s.wrap(err, "find last activity")
	}
	return fromNullMicros(last), nil
}
