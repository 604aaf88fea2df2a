package authz

import (
	"slices"
	"strings"
	"time"

	"github.com/steward-iam/steward"
)

// FindAccess lists who can use perm in the account at the time at, and why:
// the access review. Users come in id order after the cursor after.
func (ix *Index) FindAccess(accountID, perm string, at time.Time, after string, limit int) ([]steward.Access, string) {
	a := ix.account(accountID)
	bit, ok := ix.bits[perm]
	if a == nil || !ok {
		return nil, ""
	}
	names := *ix.userNames.list.Load()
	members := a.members
	i, _ := slices.BinarySearchFunc(members, after, func(x uint32, id string) int { return strings.Compare(names[x], id) })
	if after != "" && i < len(members) && names[members[i]] == after {
		i++
	}
	us := at.UnixMicro()
	var out []steward.Access
	for ; i < len(members); i++ {
		id := names[members[i]]
		u := ix.user(id)
		if u == nil {
			continue
		}
		d := ix.decideIn(u, a.num, bit, us)
		if !d.Allowed {
			continue
		}
		if len(out) == limit {
			return out, out[len(out)-1].UserID
		}
		out = append(out, steward.Access{UserID: id, AccountID: accountID, Reason: ix.explain(d, id, at)})
	}
	return out, ""
}

// FindUserAccounts lists the accounts in which the user can use perm at the
// time at, and why, in account id order after the cursor after.
func (ix *Index) FindUserAccounts(userID, perm string, at time.Time, after string, limit int) ([]steward.Access, string) {
	u := ix.user(userID)
	bit, ok := ix.bits[perm]
	if u == nil || !ok {
		return nil, ""
	}
	type entry struct {
		id  string
		num uint32
	}
	accounts := make([]entry, 0, len(u.ms))
	for _, m := range u.ms {
		if id := ix.accountNames.get(m.account); id > after {
			accounts = append(accounts, entry{id, m.account})
		}
	}
	slices.SortFunc(accounts, func(x, y entry) int { return strings.Compare(x.id, y.id) })
	us := at.UnixMicro()
	var out []steward.Access
	for _, a := range accounts {
		d := ix.decideIn(u, a.num, bit, us)
		if !d.Allowed {
			continue
		}
		if len(out) == limit {
			return out, out[len(out)-1].AccountID
		}
		out = append(out, steward.Access{UserID: userID, AccountID: a.id, Reason: ix.explain(d, userID, at)})
	}
	return out, ""
}

// HasUser reports whether the index knows the user.
func (ix *Index) HasUser(id string) bool { return ix.user(id) != nil }

// HasAccount reports whether the index knows the account.
func (ix *Index) HasAccount(id string) bool { return ix.hasAccount(id) }
