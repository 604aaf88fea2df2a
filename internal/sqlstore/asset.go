package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/steward-iam/steward"
)

const assetColumns = `account_id, type, asset_id, name, owner_user_id, created_at, updated_at`

// PutAsset creates or replaces an asset; its creation time stays.
func (s *Store) PutAsset(ctx context.Context, a *steward.Asset) error {
	_, err := s.exec(ctx, "put asset", `INSERT INTO assets (`+assetColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7)
		ON CONFLICT (account_id, type, asset_id) DO UPDATE SET name = excluded.name, owner_user_id = excluded.owner_user_id,
		updated_at = excluded.updated_at`,
		a.AccountID, a.Type, a.ID, a.Name, a.OwnerUserID, micros(a.CreatedAt), micros(a.UpdatedAt))
	return err
}

// FindAsset returns an asset of the account or ENOTFOUND.
func (s *Store) FindAsset(ctx context.Context, accountID, typ, id string) (*steward.Asset, error) {
	a, err := scanAsset(s.q.QueryRowContext(ctx, `SELECT `+assetColumns+` FROM assets WHERE account_id = $1 AND type = $2 AND asset_id = $3`,
		accountID, typ, id))
	if err == sql.ErrNoRows {
		return nil, steward.NotFound("asset", typ+"/"+id)
	} else if err != nil {
		return nil, s.wrap(err, "find asset")
	}
	return a, nil
}

// FindAssets pages through an account's assets in (type, id) order; the
// cursor is "type/id" of the last asset of the previous page.
func (s *Store) FindAssets(ctx context.Context, f steward.AssetFilter) ([]*steward.Asset, string, error) {
	var w where
	w.add(`account_id = ?`, f.AccountID)
	if f.OwnerUserID != "" {
		w.add(`owner_user_id = ?`, f.OwnerUserID)
	}
	if f.After != "" {
		typ, id, _ := strings.Cut(f.After, "/")
		w.args = append(w.args, typ, id)
		n := len(w.args)
		w.conds = append(w.conds, fmt.Sprintf(`(type > $%d OR (type = $%d AND asset_id > $%d))`, n-1, n-1, n))
	}
	limit := f.Page.Normalize().Limit
	rows, err := s.q.QueryContext(ctx, `SELECT `+assetColumns+` FROM assets`+w.sql()+` ORDER BY type, asset_id`+w.limit(limit), w.args...)
	if err != nil {
		return nil, "", s.wrap(err, "find assets")
	}
	defer rows.Close()
	var out []*steward.Asset
	for rows.Next() {
		a, err := scanAsset(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, "", s.wrap(err, "find assets")
	}
	out, next := page(out, limit, func(a *steward.Asset) string { return a.Type + "/" + a.ID })
	return out, next, nil
}

// FindUserAssets returns every asset the user owns, in any account, in
// (account, type, id) order.
func (s *Store) FindUserAssets(ctx context.Context, userID string) ([]*steward.Asset, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+assetColumns+` FROM assets WHERE owner_user_id = $1 ORDER BY account_id, type, asset_id`, userID)
	if err != nil {
		return nil, s.wrap(err, "find user assets")
	}
	defer rows.Close()
	var out []*steward.Asset
	for rows.Next() {
		a, err := scanAsset(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, s.wrap(rows.Err(), "find user assets")
}

// ReassignAssets moves every asset of the account owned by from to to.
func (s *Store) ReassignAssets(ctx context.Context, accountID, from, to string, now time.Time) (int, error) {
	res, err := s.exec(ctx, "reassign assets", `UPDATE assets SET owner_user_id = $3, updated_at = $4 WHERE account_id = $1 AND owner_user_id = $2`,
		accountID, from, to, micros(now))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func scanAsset(row interface{ Scan(...any) error }) (*steward.Asset, error) {
	var a steward.Asset
	var created, updated int64
	if err := row.Scan(&a.AccountID, &a.Type, &a.ID, &a.Name, &a.OwnerUserID, &created, &updated); err != nil {
		return nil, err
	}
	a.CreatedAt, a.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &a, nil
}
