package authz

import (
	"math/bits"
	"slices"
	"strings"
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
// time at, and why, in account id order after the cursor after. With perm
// empty it lists every account in which a membership of the user holds, with
// its effective permissions (SPEC §4 "Listings"); those slices are shared
// with the index and must not be modified. The user's memberships are kept
// in account order, so a page costs no sort and no copy of them.
func (ix *Index) FindUserAccounts(userID, perm string, at time.Time, after string, limit int) ([]steward.Access, string) {
	u := ix.user(userID)
	if u == nil {
		return nil, ""
	}
	bit := -1
	if perm != "" {
		b, ok := ix.bits[perm]
		if !ok {
			return nil, ""
		}
		bit = b
	}
	i, _ := slices.BinarySearchFunc(u.ms, after, func(m membership, a string) int { return strings.Compare(m.account, a) })
	if after != "" && i < len(u.ms) && u.ms[i].account == after {
		i++
	}
	us := at.UnixMicro()
	var out []steward.Access
	for ; i < len(u.ms); i++ {
		a := u.ms[i].account
		d := ix.follow(u, a, bit, us)
		if !d.Allowed {
			continue
		}
		if len(out) == limit {
			return out, out[len(out)-1].AccountID
		}
		if out == nil {
			out = make([]steward.Access, 0, min(limit, len(u.ms)-i))
		}
		item := steward.Access{UserID: userID, AccountID: a, Reason: ix.explain(d, userID, at)}
		if bit < 0 {
			var capped bool
			item.Permissions, capped = ix.effective(d.m, a)
			item.Reason.Code, item.Reason.Message = steward.ReasonHolds, steward.ReasonMessage(steward.ReasonHolds)
			if capped && !d.m.super {
				item.Reason.Source = "capped_by_parent"
			}
		}
		out = append(out, item)
	}
	return out, ""
}

// effective returns the effective permissions of a membership that holds in
// the account, and whether a delegating parent narrowed them (R-EXT-9). Only
// a delegate's chain builds a new slice; otherwise the set's own keys serve.
func (ix *Index) effective(m *membership, accountID string) ([]string, bool) {
	own := func(x *membership) []uint64 {
		if x.super {
			return ix.allWords
		}
		return x.perms.w
	}
	if m.kind != steward.KindDelegate {
		if m.super {
			return ix.cat.All(), false
		}
		return m.perms.keys, false
	}
	w := slices.Clone(own(m))
	n, capped := ones(w), false
	for cur := m; cur.kind == steward.KindDelegate; {
		parent := ix.parent(cur, accountID)
		if parent == nil {
			break
		}
		pw := own(parent)
		for i := range w {
			w[i] &= pw[i]
		}
		if c := ones(w); c < n {
			n, capped = c, true
		}
		cur = parent
	}
	return ix.keysOf(w), capped
}

// parent returns a delegate's parent membership in the account, nil if gone.
func (ix *Index) parent(m *membership, accountID string) *membership {
	pu := ix.user(m.parentOf)
	if pu == nil {
		return nil
	}
	if p := pu.find(accountID); p != nil && p.id == m.parentID {
		return p
	}
	return nil
}

func ones(w []uint64) int {
	n := 0
	for _, x := range w {
		n += bits.OnesCount64(x)
	}
	return n
}

// HasUser reports whether the index knows the user.
func (ix *Index) HasUser(id string) bool { return ix.user(id) != nil }

// HasAccount reports whether the index knows the account.
func (ix *Index) HasAccount(id string) bool { return ix.hasAccount(id) }
