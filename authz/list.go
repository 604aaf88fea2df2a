package authz

import (
	"slices"
	"time"

	"github.com/steward-iam/steward"
)

// FindAccess lists who can use perm in the account at the time at, and why:
// the access review. Users come in id order after the cursor after.
func (ix *Index) FindAccess(accountID, perm string, at time.Time, after string, limit int) ([]steward.Access, string) {
	members := ix.accounts[shardOf(accountID)].Load().ids[accountID]
	i, _ := slices.BinarySearch(members, after)
	if after != "" && i < len(members) && members[i] == after {
		i++
	}
	us := at.UnixMicro()
	var out []steward.Access
	for ; i < len(members); i++ {
		d := ix.decide(members[i], accountID, perm, us)
		if !d.Allowed {
			continue
		}
		if len(out) == limit {
			return out, out[len(out)-1].UserID
		}
		out = append(out, steward.Access{UserID: members[i], AccountID: accountID, Reason: ix.explain(d, members[i], at)})
	}
	return out, ""
}

// FindUserAccounts lists the accounts in which the user can use perm at the
// time at, and why, in account id order after the cursor after.
func (ix *Index) FindUserAccounts(userID, perm string, at time.Time, after string, limit int) ([]steward.Access, string) {
	u := ix.user(userID)
	if u == nil {
		return nil, ""
	}
	accounts := make([]string, 0, len(u.ms))
	for _, m := range u.ms {
		if m.account > after {
			accounts = append(accounts, m.account)
		}
	}
	slices.Sort(accounts)
	us := at.UnixMicro()
	var out []steward.Access
	for _, a := range accounts {
		d := ix.decide(userID, a, perm, us)
		if !d.Allowed {
			continue
		}
		if len(out) == limit {
			return out, out[len(out)-1].AccountID
		}
		out = append(out, steward.Access{UserID: userID, AccountID: a, Reason: ix.explain(d, userID, at)})
	}
	return out, ""
}

// HasUser reports whether the index knows the user.
func (ix *Index) HasUser(id string) bool { return ix.user(id) != nil }

// HasAccount reports whether the index knows the account.
func (ix *Index) HasAccount(id string) bool { return ix.hasAccount(id) }
