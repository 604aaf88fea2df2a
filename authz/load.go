package authz

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/steward-iam/steward"
)

// Load builds the index from the store, then applies what committed while it
// read. It replaces whatever the index held.
func (ix *Index) Load(ctx context.Context) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.load(ctx)
}

func (ix *Index) load(ctx context.Context) error {
	start := time.Now()
	rev, err := ix.src.CurrentRevision(ctx)
	if err != nil {
		return err
	}
	var users [nShards]map[string]*user
	var accounts [nShards]map[string][]string
	for i := range nShards {
		users[i], accounts[i] = map[string]*user{}, map[string][]string{}
	}
	if err := ix.src.ScanAccountIDs(ctx, func(id string) error {
		accounts[shardOf(id)][ix.intern(id)] = nil
		return nil
	}); err != nil {
		return fmt.Errorf("load accounts: %w", err)
	}
	var rels [nShards]map[relKey]*relationship
	for i := range nShards {
		rels[i] = map[relKey]*relationship{}
	}
	if err := ix.src.ScanRelationships(ctx, func(r *steward.Relationship) error {
		rels[shardOf(r.ClientID)][relKey{ix.intern(r.PartnerID), ix.intern(r.ClientID)}] = &relationship{id: r.ID, status: r.Status, endsAt: r.EndsAt}
		return nil
	}); err != nil {
		return fmt.Errorf("load relationships: %w", err)
	}
	nUsers := 0
	if err := ix.src.ScanUsers(ctx, func(u *steward.User) error {
		users[shardOf(u.ID)][u.ID] = &user{active: u.Status == steward.UserActive}
		nUsers++
		return nil
	}); err != nil {
		return fmt.Errorf("load users: %w", err)
	}
	// Memberships stream in; a delegate's parent (an external membership)
	// may come later, so delegates are tied to their parents' users at the end.
	owner := map[string]string{} // external membership id → its user
	type pending struct {
		user string
		i    int
	}
	var delegates []pending
	n := 0
	if err := ix.src.ScanMemberships(ctx, func(m *steward.Membership) error {
		u := users[shardOf(m.UserID)][m.UserID]
		if u == nil {
			return nil
		}
		switch m.Kind {
		case steward.KindExternal:
			owner[m.ID] = m.UserID
		case steward.KindDelegate:
			delegates = append(delegates, pending{m.UserID, len(u.ms)})
		}
		u.ms = append(u.ms, ix.entry(m, ""))
		a := accounts[shardOf(m.AccountID)]
		a[m.AccountID] = append(a[m.AccountID], m.UserID)
		n++
		return nil
	}); err != nil {
		return fmt.Errorf("load memberships: %w", err)
	}
	for _, d := range delegates {
		e := &users[shardOf(d.user)][d.user].ms[d.i]
		e.parentOf = owner[e.parentID]
	}
	for i := range nShards {
		for _, u := range users[i] {
			sortByAccount(u.ms)
		}
		for id, members := range accounts[i] {
			slices.Sort(members)
			accounts[i][id] = members
		}
		ix.users[i].Store(&shard{users: users[i]})
		ix.accounts[i].Store(&accountShard{ids: accounts[i]})
		ix.rels[i].Store(&relShard{rels: rels[i]})
	}
	ix.setApplied(rev)
	ix.logger.Info("check index loaded", slog.Int("users", nUsers), slog.Int("memberships", n),
		slog.Int64("revision", rev), slog.Duration("took", time.Since(start)))
	return ix.catchUp(ctx)
}

// CatchUp applies every change committed since the last applied revision.
func (ix *Index) CatchUp(ctx context.Context) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.catchUp(ctx)
}

func (ix *Index) catchUp(ctx context.Context) error {
	for {
		from := ix.applied.Load()
		changes, err := ix.src.ChangesSince(ctx, from, batchRevs)
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			return nil
		}
		if changes[0].Revision > from+1 {
			// The feed no longer holds the revisions this index missed (they
			// were pruned): start again from the database.
			ix.logger.Warn("check index is behind the change feed's retention; reloading", slog.Int64("applied", from), slog.Int64("feed_starts_at", changes[0].Revision))
			return ix.load(ctx)
		}
		if err := ix.apply(ctx, changes); err != nil {
			return err
		}
		ix.setApplied(changes[len(changes)-1].Revision)
	}
}

// apply reloads what a batch of changes touched, copying each affected shard once.
func (ix *Index) apply(ctx context.Context, changes []steward.Change) error {
	userShards := map[uint32]map[string]*user{}
	accountShards := map[uint32]map[string][]string{}
	membersOf := func(id string) map[string][]string {
		i := shardOf(id)
		if accountShards[i] == nil {
			accountShards[i] = maps.Clone(ix.accounts[i].Load().ids)
		}
		return accountShards[i]
	}
	relShards := map[uint32]map[relKey]*relationship{}
	seen := map[string]bool{}
	for _, c := range changes {
		switch c.Entity {
		case steward.ChangeRelationship: // AccountID is the client, EntityID the partner
			r, err := ix.src.FindRelationship(ctx, c.EntityID, c.AccountID)
			if err != nil && steward.ErrorKind(err) != steward.ENOTFOUND {
				return err
			}
			i := shardOf(c.AccountID)
			if relShards[i] == nil {
				relShards[i] = maps.Clone(ix.rels[i].Load().rels)
			}
			key := relKey{ix.intern(c.EntityID), ix.intern(c.AccountID)}
			if r == nil {
				delete(relShards[i], key)
			} else {
				relShards[i][key] = &relationship{id: r.ID, status: r.Status, endsAt: r.EndsAt}
			}
		case steward.ChangeUser:
			if seen[c.EntityID] {
				continue
			}
			seen[c.EntityID] = true
			u, err := ix.loadUser(ctx, c.EntityID)
			if err != nil {
				return err
			}
			i := shardOf(c.EntityID)
			if userShards[i] == nil {
				userShards[i] = maps.Clone(ix.users[i].Load().users)
			}
			old := userShards[i][c.EntityID]
			if u == nil {
				delete(userShards[i], c.EntityID)
			} else {
				userShards[i][c.EntityID] = u
			}
			// Keep the accounts' member lists in step: the copy-on-write
			// slices are replaced, never changed in place.
			for _, m := range old.memberships() {
				if u.find(m.account) == nil {
					a := membersOf(m.account)
					a[m.account] = without(a[m.account], c.EntityID)
				}
			}
			for _, m := range u.memberships() {
				if old.find(m.account) == nil {
					a := membersOf(m.account)
					a[m.account] = with(a[m.account], c.EntityID)
				}
			}
		case "account":
			if c.AccountID == "" || ix.hasAccount(c.AccountID) {
				continue
			}
			if _, err := ix.src.FindAccountByID(ctx, c.AccountID); err != nil {
				if steward.ErrorKind(err) == steward.ENOTFOUND {
					continue
				}
				return err
			}
			a := membersOf(c.AccountID)
			if _, ok := a[c.AccountID]; !ok {
				a[ix.intern(c.AccountID)] = nil
			}
		}
	}
	for i, m := range userShards {
		ix.users[i].Store(&shard{users: m})
	}
	for i, m := range accountShards {
		ix.accounts[i].Store(&accountShard{ids: m})
	}
	for i, m := range relShards {
		ix.rels[i].Store(&relShard{rels: m})
	}
	return nil
}

// with returns a copy of the sorted list with id added.
func with(list []string, id string) []string {
	i, found := slices.BinarySearch(list, id)
	if found {
		return list
	}
	return slices.Insert(slices.Clone(list), i, id)
}

// without returns a copy of the sorted list without id.
func without(list []string, id string) []string {
	i, found := slices.BinarySearch(list, id)
	if !found {
		return list
	}
	return slices.Delete(slices.Clone(list), i, i+1)
}

// loadUser reads a user and its memberships; nil when the user is gone.
func (ix *Index) loadUser(ctx context.Context, id string) (*user, error) {
	su, err := ix.src.FindUserByID(ctx, id)
	if steward.ErrorKind(err) == steward.ENOTFOUND {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	ms, err := ix.src.FindUserMemberships(ctx, id)
	if err != nil {
		return nil, err
	}
	u := &user{active: su.Status == steward.UserActive, ms: make([]membership, 0, len(ms))}
	for _, m := range ms {
		parentUser := ""
		if m.Kind == steward.KindDelegate {
			if p, err := ix.src.FindMembershipByID(ctx, m.AccountID, m.ParentID); err == nil {
				parentUser = p.UserID
			} else if steward.ErrorKind(err) != steward.ENOTFOUND {
				return nil, err
			}
		}
		u.ms = append(u.ms, ix.entry(m, parentUser))
	}
	sortByAccount(u.ms)
	return u, nil
}

// sortByAccount puts a user's memberships in account id order, the order of
// its account listing (one membership per account).
func sortByAccount(ms []membership) {
	slices.SortFunc(ms, func(a, b membership) int { return strings.Compare(a.account, b.account) })
}

func (ix *Index) setApplied(rev int64) {
	ix.applied.Store(rev)
	ix.wmu.Lock()
	close(ix.waiters)
	ix.waiters = make(chan struct{})
	ix.wmu.Unlock()
}

// WaitFor returns once the index has applied rev (R-CHECK-3), or an
// EUNAVAILABLE error, which the caller may retry, when ctx ends first.
func (ix *Index) WaitFor(ctx context.Context, rev int64) error {
	for {
		ix.wmu.Lock()
		ch := ix.waiters
		ix.wmu.Unlock()
		if ix.applied.Load() >= rev {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return &steward.Error{Kind: steward.EUNAVAILABLE, Code: "revision_not_applied",
				Message: fmt.Sprintf("This node has applied revision %d, not yet %d; retry shortly.", ix.applied.Load(), rev)}
		}
	}
}
