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
	var links []steward.ChainLink // the page's chains, in one array
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
		if out == nil {
			out = make([]steward.Access, 0, min(limit, len(members)-i))
			links = make([]steward.ChainLink, 0, 2*cap(out))
		}
		out = append(out, steward.Access{UserID: id, AccountID: accountID, Reason: ix.explainInto(d, id, at, &links)})
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
	names := *ix.accountNames.list.Load()
	i, _ := slices.BinarySearchFunc(u.ms, after, func(m membership, a string) int { return strings.Compare(names[m.account], a) })
	if after != "" && i < len(u.ms) && names[u.ms[i].account] == after {
		i++
	}
	us := at.UnixMicro()
	var out []steward.Access
	var links []steward.ChainLink // the page's chains, in one array
	for ; i < len(u.ms); i++ {
		a := names[u.ms[i].account]
		d := ix.decideIn(u, u.ms[i].account, bit, us)
		if !d.Allowed {
			continue
		}
		if len(out) == limit {
			return out, out[len(out)-1].AccountID
		}
		if out == nil {
			out = make([]steward.Access, 0, min(limit, len(u.ms)-i))
			links = make([]steward.ChainLink, 0, 2*cap(out))
		}
		item := steward.Access{UserID: userID, AccountID: a, Reason: ix.explainInto(d, userID, at, &links)}
		if bit < 0 {
			var capped bool
			item.Permissions, capped = ix.effective(d.m, us)
			item.Reason.Code, item.Reason.Message = steward.ReasonHolds, steward.ReasonMessage(steward.ReasonHolds)
			if capped && !d.m.super() {
				item.Reason.Source = "capped_by_parent"
			}
		}
		out = append(out, item)
	}
	return out, ""
}

// effective returns the effective permissions of a membership that holds,
// and whether a delegating parent narrowed them (R-EXT-9). Only a
// delegate's chain builds a new slice; otherwise the set's own keys serve.
func (ix *Index) effective(m *membership, at int64) ([]string, bool) {
	buf := make([]uint64, ix.words)
	own := func(x *membership) []uint64 { return ix.ownWords(x, at, buf) }
	switch {
	case m.kind == kindInternal && m.allBits():
		return ix.cat.All(), false
	case m.kind == kindInternal && m.flags&flagGrants == 0:
		return ix.permSets.get(m.perms).keys, false
	}
	// R-PARTNER-1: partner.* is held only through an internal membership.
	w := slices.Clone(own(m))
	if m.kind != kindInternal {
		for i := range w {
			w[i] &^= ix.partnerMask[i]
		}
	}
	n, capped := ones(w), false
	for cur := m; cur.kind == kindDelegate; {
		_, parent := ix.parentOf(cur)
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
