package steward

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Access is one entry of an access listing: a user who can use a permission
// in an account, and why (R-CHECK-2).
type Access struct {
	UserID    string `json:"user_id"`
	AccountID string `json:"account_id"`
	// Permissions are the effective permissions the membership holds there,
	// sorted; only in a listing of a user's accounts asked without a
	// permission (SPEC §4 "Listings").
	Permissions []string `json:"permissions,omitempty"`
	Reason      Reason   `json:"reason"`
}

// AccessLister lists access from memory (package authz).
type AccessLister interface {
	FindAccess(accountID, perm string, at time.Time, after string, limit int) ([]Access, string)
	// FindUserAccounts lists the accounts in which the user can use perm or,
	// with perm empty, every account in which a membership of the user holds,
	// with its effective permissions. Those slices may be shared by several
	// answers: callers must not modify them.
	FindUserAccounts(userID, perm string, at time.Time, after string, limit int) ([]Access, string)
}

// indexKnows is what an AccessLister that is the check index also tells:
// whether it knows an account or a user.
type indexKnows interface {
	HasAccount(id string) bool
	HasUser(id string) bool
}

// AccessQuery selects an access listing.
type AccessQuery struct {
	Permission string
	At         *time.Time
	Page
}

// accessQuery validates a listing's query; anyPermission lets the
// permission be left out.
func (s *Service) accessQuery(q AccessQuery, anyPermission bool) (time.Time, Page, error) {
	if q.Permission == "" && !anyPermission {
		return time.Time{}, Page{}, Invalid("invalid_query", "The query is not valid.", FieldError{"permission", "is required"})
	}
	if q.Permission != "" && !s.Catalogue.Has(q.Permission) {
		return time.Time{}, Page{}, Invalid("unknown_permission", "Unknown permission; GET /v1/permissions lists the catalogue.",
			FieldError{"permission", "unknown permission " + quote(q.Permission)})
	}
	at := s.now()
	if q.At != nil {
		at = q.At.UTC()
	}
	return at, q.Page.Normalize(), nil
}

// FindAccess lists who can use a permission in the account, and why: the
// access review. It needs account.users.manage there, or the operator.
func (s *Service) FindAccess(ctx context.Context, accountID string, q AccessQuery) ([]Access, string, error) {
	if k, ok := s.Lister.(indexKnows); ok && ActorFromContext(ctx).IsOperator() && ValidText(accountID) && k.HasAccount(accountID) {
		// The operator holds everything in an account the listing's own
		// index knows: no read of the store needed to tell it from an
		// unknown one. An account the index does not know yet is looked up.
	} else {
		by, err := s.accessTo(ctx, s.Store, accountID)
		if err != nil {
			return nil, "", err
		}
		if err := by.require(PermUsersManage); err != nil {
			return nil, "", err
		}
	}
	at, page, err := s.accessQuery(q, false)
	if err != nil {
		return nil, "", err
	}
	if s.Lister != nil {
		items, next := s.Lister.FindAccess(accountID, q.Permission, at, page.After, page.Limit)
		return items, next, nil
	}
	// From the store: memberships in id order, the cursor a membership id.
	var out []Access
	last := "" // the last membership examined: where the next page starts
	for {
		ms, next, err := s.Store.FindMemberships(ctx, MembershipFilter{AccountID: accountID, Page: page})
		if err != nil {
			return nil, "", err
		}
		for _, m := range ms {
			ev, err := s.evaluate(ctx, s.Store, m, at)
			if err != nil {
				return nil, "", err
			}
			if ok, r := ev.reason(q.Permission); ok {
				if len(out) == page.Limit {
					return out, last, nil
				}
				out = append(out, Access{UserID: m.UserID, AccountID: accountID, Reason: r})
			}
			last = m.ID
		}
		if next == "" {
			return out, "", nil
		}
		page.After = next
	}
}

// FindUserAccounts lists the accounts in which a user can use a permission,
// and why; without a permission, every account in which a membership of the
// user holds at the time, each with its effective permissions and the reason
// (SPEC §4 "Listings"). Accounts come in id order after the cursor. The
// operator may ask about anyone, a user about itself.
func (s *Service) FindUserAccounts(ctx context.Context, userID string, q AccessQuery) ([]Access, string, error) {
	if err := s.requireCheckCaller(ctx, userID); err != nil {
		return nil, "", err
	}
	at, page, err := s.accessQuery(q, true)
	if err != nil {
		return nil, "", err
	}
	if k, ok := s.Lister.(indexKnows); ok && k.HasUser(userID) {
		// The listing's own index knows the user: no read of the store
		// needed to tell it from an unknown one.
	} else if _, err := s.Store.FindUserByID(ctx, userID); err != nil {
		return nil, "", err
	}
	if s.Lister != nil {
		items, next := s.Lister.FindUserAccounts(userID, q.Permission, at, page.After, page.Limit)
		return items, next, nil
	}
	ms, err := s.Store.FindUserMemberships(ctx, userID)
	if err != nil {
		return nil, "", err
	}
	slices.SortFunc(ms, func(a, b *Membership) int { return strings.Compare(a.AccountID, b.AccountID) })
	var out []Access
	for _, m := range ms {
		if m.AccountID <= page.After {
			continue
		}
		ev, err := s.evaluate(ctx, s.Store, m, at)
		if err != nil {
			return nil, "", err
		}
		a := Access{UserID: userID, AccountID: m.AccountID}
		var ok bool
		if q.Permission == "" {
			if ok = ev.holds; ok {
				a.Permissions, a.Reason = slices.Clone(ev.effective), ev.holdsReason()
			}
		} else {
			ok, a.Reason = ev.reason(q.Permission)
		}
		if ok {
			if len(out) == page.Limit {
				return out, out[len(out)-1].AccountID, nil
			}
			out = append(out, a)
		}
	}
	return out, "", nil
}

// MaxBatchChecks is the most checks one batch may ask.
const MaxBatchChecks = 1000

// BatchCheckRequest asks several checks at once.
type BatchCheckRequest struct {
	Checks      []CheckRequest `json:"checks" minItems:"1" maxItems:"1000"`
	MinRevision int64          `json:"min_revision,omitempty"`
}

// BatchCheckResult answers a batch in request order.
type BatchCheckResult struct {
	Results []CheckResult `json:"results"`
}

// CheckBatch answers up to MaxBatchChecks checks in request order. A bad
// check refuses the whole batch, naming it by index.
func (s *Service) CheckBatch(ctx context.Context, req BatchCheckRequest) (*BatchCheckResult, error) {
	if len(req.Checks) == 0 || len(req.Checks) > MaxBatchChecks {
		return nil, Invalid("invalid_batch", fmt.Sprintf("A batch holds 1 to %d checks.", MaxBatchChecks),
			FieldError{"checks", fmt.Sprintf("has %d checks, want 1 to %d", len(req.Checks), MaxBatchChecks)})
	}
	out := &BatchCheckResult{Results: make([]CheckResult, len(req.Checks))}
	for i, c := range req.Checks {
		if i == 0 {
			c.MinRevision = req.MinRevision
		}
		res, err := s.Check(ctx, c)
		if err != nil {
			if e, ok := err.(*Error); ok {
				prefixed := *e
				prefixed.Message = fmt.Sprintf("checks[%d]: %s", i, e.Message)
				prefixed.Fields = nil
				for _, f := range e.Fields {
					prefixed.Fields = append(prefixed.Fields, FieldError{Field: fmt.Sprintf("checks[%d].%s", i, f.Field), Message: f.Message})
				}
				if len(prefixed.Fields) == 0 {
					prefixed.Fields = []FieldError{{Field: fmt.Sprintf("checks[%d]", i), Message: e.Message}}
				}
				return nil, &prefixed
			}
			return nil, err
		}
		out.Results[i] = *res
	}
	return out, nil
}
