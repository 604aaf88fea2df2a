package sqlstore

import (
	"context"
	"database/sql"
	"slices"

	"github.com/steward-iam/steward"
)

const accountColumns = `id, name, kind, region, has_billing_info, plan, verified_domains, require_delegate_billing, created_at, updated_at`

// CreateAccount inserts an account and the head of its audit chain.
func (s *Store) CreateAccount(ctx context.Context, a *steward.Account) error {
	if _, err := s.exec(ctx, "insert account", `INSERT INTO accounts (`+accountColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
		a.ID, a.Name, string(a.Kind), a.Region, boolInt(a.Billing.HasBillingInfo), a.Billing.Plan, jsonText(a.VerifiedDomains),
		boolInt(a.DelegationPolicy.RequireDelegateBilling), micros(a.CreatedAt), micros(a.UpdatedAt)); err != nil {
		return err
	}
	_, err := s.exec(ctx, "insert audit head", `INSERT INTO audit_heads (account_id, seq, hash) VALUES ($1, 0, '')`, a.ID)
	return err
}

// FindAccountByID returns an account or ENOTFOUND.
func (s *Store) FindAccountByID(ctx context.Context, id string) (*steward.Account, error) {
	if s.locked != nil {
		if a, ok := (*s.locked)[id]; ok {
			c := *a
			c.VerifiedDomains = slices.Clone(a.VerifiedDomains)
			return &c, nil
		}
	}
	a, err := scanAccount(s.q.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1`, id))
	if err != nil {
		if err == sql.ErrNoRows {
			return nil, steward.NotFound("account", id)
		}
		return nil, s.wrap(err, "find account")
	}
	return a, nil
}

// UpdateAccount writes every field of a.
func (s *Store) UpdateAccount(ctx context.Context, a *steward.Account) error {
	res, err := s.exec(ctx, "update account", `UPDATE accounts SET name=$2, kind=$3, region=$4, has_billing_info=$5, plan=$6,
		verified_domains=$7, require_delegate_billing=$8, updated_at=$9 WHERE id=$1`,
		a.ID, a.Name, string(a.Kind), a.Region, boolInt(a.Billing.HasBillingInfo), a.Billing.Plan, jsonText(a.VerifiedDomains),
		boolInt(a.DelegationPolicy.RequireDelegateBilling), micros(a.UpdatedAt))
	return mustAffect(res, err, "account", a.ID)
}

// LockAccount locks the account's row for the rest of the transaction.
//
// The row it locked answers FindAccountByID for the rest of the
// transaction, until a statement updates an account (see txStore): the
// write that locks an account usually reads it next.
func (s *Store) LockAccount(ctx context.Context, id string) error {
	if s.locked == nil {
		var got string
		err := s.q.QueryRowContext(ctx, `SELECT id FROM accounts WHERE id = $1`+s.dialect.ForUpdate, id).Scan(&got)
		if err == sql.ErrNoRows {
			return steward.NotFound("account", id)
		}
		return s.wrap(err, "lock account")
	}
	// Usually a write's first statement: it goes with the BEGIN.
	a, err := scanAccount(s.queryRowSent(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1`+s.dialect.ForUpdate, id))
	if err == sql.ErrNoRows {
		return steward.NotFound("account", id)
	} else if err != nil {
		return s.wrap(err, "lock account")
	}
	if *s.locked == nil {
		*s.locked = map[string]*steward.Account{}
	}
	(*s.locked)[id] = a
	return nil
}

// FindAccountsByVerifiedDomain returns the ids of the accounts that verified
// domain. The domains are kept as a JSON list; a LIKE on the quoted name
// narrows the rows (a domain name holds no LIKE wildcards) and the list
// itself decides.
func (s *Store) FindAccountsByVerifiedDomain(ctx context.Context, domain string) ([]string, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT id, verified_domains FROM accounts WHERE verified_domains LIKE $1 ORDER BY id`,
		"%"+jsonText(domain)+"%")
	if err != nil {
		return nil, s.wrap(err, "find accounts by domain")
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id, raw string
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, err
		}
		domains, err := strings2(raw)
		if err != nil {
			return nil, err
		}
		if slices.Contains(domains, domain) {
			ids = append(ids, id)
		}
	}
	return ids, rows.Err()
}

// ListAccountIDs returns every account id in id order.
func (s *Store) ListAccountIDs(ctx context.Context) ([]string, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT id FROM accounts ORDER BY id`)
	if err != nil {
		return nil, s.wrap(err, "list accounts")
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func scanAccount(row interface{ Scan(...any) error }) (*steward.Account, error) {
	var a steward.Account
	var kind, domains string
	var billing, requireBilling int
	var created, updated int64
	if err := row.Scan(&a.ID, &a.Name, &kind, &a.Region, &billing, &a.Billing.Plan, &domains, &requireBilling, &created, &updated); err != nil {
		return nil, err
	}
	a.Kind, a.Billing.HasBillingInfo, a.DelegationPolicy.RequireDelegateBilling = steward.AccountKind(kind), billing != 0, requireBilling != 0
	a.CreatedAt, a.UpdatedAt = fromMicros(created), fromMicros(updated)
	var err error
	a.VerifiedDomains, err = strings2(domains)
	return &a, err
}
