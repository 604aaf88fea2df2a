package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/steward-iam/steward"
)

// PutSCIMProfile inserts or replaces a user's SCIM profile; a userName
// another user of the account holds (any case) is ECONFLICT.
func (s *Store) PutSCIMProfile(ctx context.Context, p *steward.SCIMProfile) error {
	emails := p.Emails
	if emails == nil {
		emails = []steward.SCIMEmail{}
	}
	_, err := s.exec(ctx, "put scim profile", `INSERT INTO scim_users
		(user_id, account_id, user_name, user_name_key, external_id, given_name, family_name, emails, created_at, updated_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)
		ON CONFLICT (user_id) DO UPDATE SET user_name = excluded.user_name, user_name_key = excluded.user_name_key,
			external_id = excluded.external_id, given_name = excluded.given_name, family_name = excluded.family_name,
			emails = excluded.emails, updated_at = excluded.updated_at`,
		p.UserID, p.AccountID, p.UserName, strings.ToLower(p.UserName), p.ExternalID, p.GivenName, p.FamilyName,
		jsonText(emails), micros(p.CreatedAt), micros(p.UpdatedAt))
	return err
}

// FindProvisionedUsers returns the account's home users with their home
// role and SCIM profile, in id order.
func (s *Store) FindProvisionedUsers(ctx context.Context, accountID string, f steward.ProvisionedUserFilter) ([]*steward.ProvisionedUser, error) {
	var w where
	w.add(`u.home_account_id = ?`, accountID)
	if f.UserID != "" {
		w.add(`u.id = ?`, f.UserID)
	}
	if f.UserName != "" {
		w.add(`(p.user_name_key = ? OR (p.user_id IS NULL AND u.email = ?))`, strings.ToLower(f.UserName))
	}
	if f.ExternalID != "" {
		w.add(`p.external_id = ?`, f.ExternalID)
	}
	if f.Role != "" {
		w.add(`m.role = ?`, f.Role)
	}
	rows, err := s.q.QueryContext(ctx, `SELECT u.id, u.email, u.name, u.home_account_id, u.status, u.created_at, u.updated_at, m.role,
			p.user_id, COALESCE(p.user_name, ''), COALESCE(p.external_id, ''), COALESCE(p.given_name, ''), COALESCE(p.family_name, ''),
			COALESCE(p.emails, '[]'), COALESCE(p.created_at, 0), COALESCE(p.updated_at, 0)
		FROM users u
		JOIN memberships m ON m.account_id = u.home_account_id AND m.user_id = u.id
		LEFT JOIN scim_users p ON p.user_id = u.id`+w.sql()+` ORDER BY u.id`+offsetLimit(&w, f.Offset, f.Limit), w.args...)
	if err != nil {
		return nil, s.wrap(err, "find provisioned users")
	}
	defer rows.Close()
	out := []*steward.ProvisionedUser{}
	for rows.Next() {
		var u steward.ProvisionedUser
		var p steward.SCIMProfile
		var status, emails string
		var profileID sql.NullString
		var created, updated, pCreated, pUpdated int64
		if err := rows.Scan(&u.ID, &u.Email, &u.Name, &u.HomeAccountID, &status, &created, &updated, &u.Role,
			&profileID, &p.UserName, &p.ExternalID, &p.GivenName, &p.FamilyName, &emails, &pCreated, &pUpdated); err != nil {
			return nil, s.wrap(err, "scan provisioned user")
		}
		u.Status, u.CreatedAt, u.UpdatedAt = steward.UserStatus(status), fromMicros(created), fromMicros(updated)
		if profileID.Valid {
			p.UserID, p.AccountID, p.CreatedAt, p.UpdatedAt = u.ID, accountID, fromMicros(pCreated), fromMicros(pUpdated)
			if err := json.Unmarshal([]byte(emails), &p.Emails); err != nil {
				return nil, s.wrap(err, "read scim emails")
			}
			u.Profile = &p
		}
		out = append(out, &u)
	}
	return out, s.wrap(rows.Err(), "find provisioned users")
}

// offsetLimit pages a query by offset; a limit of zero keeps every row.
func offsetLimit(w *where, offset, limit int) string {
	if limit <= 0 && offset <= 0 {
		return ""
	}
	if limit <= 0 {
		limit = math.MaxInt32
	}
	w.args = append(w.args, limit, max(offset, 0))
	return fmt.Sprintf(" LIMIT $%d OFFSET $%d", len(w.args)-1, len(w.args))
}

// CountProvisionedUsers counts the account's home users.
func (s *Store) CountProvisionedUsers(ctx context.Context, accountID string) (int, error) {
	var n int
	err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM users u
		JOIN memberships m ON m.account_id = u.home_account_id AND m.user_id = u.id
		WHERE u.home_account_id = $1`, accountID).Scan(&n)
	return n, s.wrap(err, "count provisioned users")
}

// PutSCIMGroup sets the externalId a provisioning client gave a role.
func (s *Store) PutSCIMGroup(ctx context.Context, accountID, roleID, externalID string) error {
	_, err := s.exec(ctx, "put scim group", `INSERT INTO scim_groups (account_id, role_id, external_id) VALUES ($1,$2,$3)
		ON CONFLICT (account_id, role_id) DO UPDATE SET external_id = excluded.external_id`, accountID, roleID, externalID)
	return err
}

// DeleteSCIMGroup forgets a role's externalId; an unknown one is no error.
func (s *Store) DeleteSCIMGroup(ctx context.Context, accountID, roleID string) error {
	_, err := s.exec(ctx, "delete scim group", `DELETE FROM scim_groups WHERE account_id = $1 AND role_id = $2`, accountID, roleID)
	return err
}

// FindSCIMGroups returns the externalIds of the account's roles by role id.
func (s *Store) FindSCIMGroups(ctx context.Context, accountID string) (map[string]string, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT role_id, external_id FROM scim_groups WHERE account_id = $1`, accountID)
	if err != nil {
		return nil, s.wrap(err, "find scim groups")
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, ext string
		if err := rows.Scan(&id, &ext); err != nil {
			return nil, s.wrap(err, "scan scim group")
		}
		out[id] = ext
	}
	return out, s.wrap(rows.Err(), "find scim groups")
}
