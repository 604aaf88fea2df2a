package sqlstore

import (
	"context"
	"database/sql"
	"strings"

	"github.com/steward-iam/steward"
)

const roleColumns = `id, account_id, name, permissions, created_at, updated_at`

// CreateRole inserts a custom role; a taken name (any case) is ECONFLICT.
func (s *Store) CreateRole(ctx context.Context, r *steward.Role) error {
	_, err := s.exec(ctx, "insert role", `INSERT INTO roles (`+roleColumns+`, name_key) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
		r.ID, r.AccountID, r.Name, jsonText(r.Permissions), micros(r.CreatedAt), micros(r.UpdatedAt), strings.ToLower(r.Name))
	return err
}

// FindRoleByID returns a custom role of the account or ENOTFOUND.
func (s *Store) FindRoleByID(ctx context.Context, accountID, id string) (*steward.Role, error) {
	r, err := scanRole(s.q.QueryRowContext(ctx, `SELECT `+roleColumns+` FROM roles WHERE account_id = $1 AND id = $2`, accountID, id))
	if err == sql.ErrNoRows {
		return nil, steward.NotFound("role", id)
	}
	return r, s.wrap(err, "find role")
}

// FindRoles pages through the account's custom roles in id order.
func (s *Store) FindRoles(ctx context.Context, accountID string, p steward.Page) ([]*steward.Role, string, error) {
	var w where
	w.add(`account_id = ?`, accountID)
	if p.After != "" {
		w.add(`id > ?`, p.After)
	}
	query := `SELECT ` + roleColumns + ` FROM roles` + w.sql() + ` ORDER BY id` + w.limit(p.Limit)
	rows, err := s.q.QueryContext(ctx, query, w.args...)
	if err != nil {
		return nil, "", s.wrap(err, "find roles")
	}
	defer rows.Close()
	var out []*steward.Role
	for rows.Next() {
		r, err := scanRole(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	out, next := page(out, p.Limit, func(r *steward.Role) string { return r.ID })
	return out, next, nil
}

// UpdateRole writes a role's name and permissions.
func (s *Store) UpdateRole(ctx context.Context, r *steward.Role) error {
	res, err := s.exec(ctx, "update role", `UPDATE roles SET name=$3, name_key=$4, permissions=$5, updated_at=$6 WHERE account_id=$1 AND id=$2`,
		r.AccountID, r.ID, r.Name, strings.ToLower(r.Name), jsonText(r.Permissions), micros(r.UpdatedAt))
	return mustAffect(res, err, "role", r.ID)
}

// DeleteRole deletes a custom role.
func (s *Store) DeleteRole(ctx context.Context, accountID, id string) error {
	res, err := s.exec(ctx, "delete role", `DELETE FROM roles WHERE account_id=$1 AND id=$2`, accountID, id)
	return mustAffect(res, err, "role", id)
}

func scanRole(row interface{ Scan(...any) error }) (*steward.Role, error) {
	var r steward.Role
	var perms string
	var created, updated int64
	if err := row.Scan(&r.ID, &r.AccountID, &r.Name, &perms, &created, &updated); err != nil {
		return nil, err
	}
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	var err error
	r.Permissions, err = strings2(perms)
	return &r, err
}
