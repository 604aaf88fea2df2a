package authz

import (
	"cmp"
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
	// Names keep their numbers across reloads, so that the tables only grow
	// and nothing a reader holds is renumbered under it.
	var accounts [nShards]map[string]*account
	var users [nShards]map[string]*user
	var rels [nShards]map[relKey]*relationship
	for i := range nShards {
		accounts[i], users[i], rels[i] = map[string]*account{}, map[string]*user{}, map[relKey]*relationship{}
	}
	accountNum := func(id string) uint32 {
		if a := accounts[shardOf(id)][id]; a != nil {
			return a.num
		}
		a := &account{num: ix.numberAccount(id)}
		accounts[shardOf(id)][id] = a
		return a.num
	}
	if err := ix.src.ScanAccountIDs(ctx, func(id string) error {
		accountNum(id)
		return nil
	}); err != nil {
		return fmt.Errorf("load accounts: %w", err)
	}
	if err := ix.src.ScanRelationships(ctx, func(r *steward.Relationship) error {
		k := relKey{accountNum(r.PartnerID), accountNum(r.ClientID)}
		rels[k.client&(nShards-1)][k] = &relationship{id: r.ID, status: r.Status, endsAt: r.EndsAt}
		return nil
	}); err != nil {
		return fmt.Errorf("load relationships: %w", err)
	}
	ix.never = map[uint32][]string{}
	if err := ix.src.ScanPolicies(ctx, func(id string, p *steward.AccountPolicy) error {
		ix.never[accountNum(id)] = p.NeverDelegable // R-GUARD-3
		return nil
	}); err != nil {
		return fmt.Errorf("load policies: %w", err)
	}
	nUsers := 0
	if err := ix.src.ScanUserStatuses(ctx, func(id string, status steward.UserStatus) error {
		users[shardOf(id)][id] = &user{num: ix.numberUser(id), active: status == steward.UserActive}
		nUsers++
		return nil
	}); err != nil {
		return fmt.Errorf("load users: %w", err)
	}
	// Memberships stream into one flat array, then go to their users in
	// one counting sort: each user's memberships are a slice of it, with no
	// allocation per user. A delegate's parent (an external membership) may
	// come later, so delegates are tied to their parents' users at the end.
	var (
		all       chunked[membership]
		owners    chunked[uint32]
		delegates []int
		external  = map[[16]byte]uint32{} // external membership → its user
	)
	if err := ix.src.ScanMemberships(ctx, func(m *steward.Membership) error {
		u := users[shardOf(m.UserID)][m.UserID]
		if u == nil {
			return nil
		}
		var partner uint32
		if m.PartnerID != "" {
			partner = accountNum(m.PartnerID)
		}
		e := ix.entry(m, accountNum(m.AccountID), partner, noUser)
		switch m.Kind {
		case steward.KindExternal:
			external[e.id] = u.num
		case steward.KindDelegate:
			delegates = append(delegates, all.n)
		}
		all.add(e)
		owners.add(u.num)
		return nil
	}); err != nil {
		return fmt.Errorf("load memberships: %w", err)
	}
	for _, i := range delegates {
		if pu, ok := external[ix.parentIDs.get(all.at(i).parentRef)]; ok {
			all.at(i).link = pu // a delegate's
		}
	}
	byNum := make([]*user, ix.userNames.len())
	for i := range nShards {
		for _, u := range users[i] {
			byNum[u.num] = u
		}
	}
	next := make([]uint32, len(byNum)+1) // where each user's memberships start
	for i := range owners.n {
		next[*owners.at(i)+1]++
	}
	for n := 1; n < len(next); n++ {
		next[n] += next[n-1]
	}
	flat := make([]membership, all.n)
	for n, u := range byNum {
		if u != nil && next[n+1] > next[n] {
			u.ms = flat[next[n]:next[n+1]:next[n+1]]
		}
	}
	for i := range owners.n {
		n := *owners.at(i)
		flat[next[n]] = *all.at(i)
		next[n]++
	}
	all, owners = chunked[membership]{}, chunked[uint32]{}
	// Each account's members, in user number order, then by user id.
	byAccount := make([]*account, ix.accountNames.len())
	for i := range nShards {
		for _, a := range accounts[i] {
			byAccount[a.num] = a
		}
	}
	counts := make([]int, len(byAccount))
	for _, m := range flat {
		counts[m.account]++
	}
	for n, a := range byAccount {
		if a != nil && counts[n] > 0 {
			a.members = make([]uint32, 0, counts[n])
		}
	}
	// Accounts numbered in id order (a first load: ScanAccountIDs gives
	// them in order) sort by number, without reading their ids.
	accountNames := *ix.accountNames.list.Load()
	byNumber := slices.IsSorted(accountNames)
	for n, u := range byNum {
		if u == nil {
			continue
		}
		if byNumber {
			slices.SortFunc(u.ms, func(a, b membership) int { return cmp.Compare(a.account, b.account) })
		} else {
			ix.sortByAccount(u.ms)
		}
		for _, m := range u.ms {
			a := byAccount[m.account]
			a.members = append(a.members, uint32(n))
		}
	}
	names := *ix.userNames.list.Load()
	for i := range nShards {
		for _, a := range accounts[i] {
			slices.SortFunc(a.members, func(x, y uint32) int { return strings.Compare(names[x], names[y]) })
		}
		ix.users[i].Store(&userShard{users: users[i]})
		ix.accounts[i].Store(&accountShard{accounts: accounts[i]})
		ix.rels[i].Store(&relShard{rels: rels[i]})
	}
	ix.setApplied(rev)
	ix.loads.Add(1)
	ix.notify(nil, true)
	ix.logger.Info("check index loaded", slog.Int("users", nUsers), slog.Int("memberships", len(flat)),
		slog.Int64("revision", rev), slog.Duration("took", time.Since(start)))
	return ix.catchUp(ctx)
}

// chunked is a list that grows in chunks: growing copies nothing, which
// matters for millions of memberships.
type chunked[T any] struct {
	chunks [][]T
	n      int
}

const chunkBits = 16

func (c *chunked[T]) add(v T) {
	if c.n&(1<<chunkBits-1) == 0 {
		c.chunks = append(c.chunks, make([]T, 1<<chunkBits))
	}
	c.chunks[c.n>>chunkBits][c.n&(1<<chunkBits-1)] = v
	c.n++
}

func (c *chunked[T]) at(i int) *T { return &c.chunks[i>>chunkBits][i&(1<<chunkBits-1)] }

// numberAccount returns the account's number, giving it one if it has
// none. Writers only.
func (ix *Index) numberAccount(id string) uint32 {
	if a := ix.account(id); a != nil {
		return a.num
	}
	return ix.accountNames.add(id)
}

// numberUser returns the user's number, giving it one if it has none.
// Writers only.
func (ix *Index) numberUser(id string) uint32 {
	if u := ix.user(id); u != nil {
		return u.num
	}
	return ix.userNames.add(id)
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
		last := changes[len(changes)-1].Revision
		ix.setApplied(last)
		if last < from+batchRevs {
			// Revisions commit in order and without gaps: the read saw
			// none after last, so there is nothing more to ask for.
			return nil
		}
	}
}

// apply reloads what a batch of changes touched, copying each affected shard once.
func (ix *Index) apply(ctx context.Context, changes []steward.Change) error {
	b := &batch{ix: ix, users: map[uint32]map[string]*user{}, accounts: map[uint32]map[string]*account{}, rels: map[uint32]map[relKey]*relationship{}}
	if err := b.prefetchMembers(ctx, changes); err != nil {
		return err
	}
	seen := map[string]bool{}          // users reloaded whole
	seenMember := map[[2]string]bool{} // memberships reloaded
	var changed []string               // users, for the watchers
	// An account many of whose memberships changed at once (a policy's new
	// maximum clipping every outsider, R-GUARD-4), or whose never-delegable
	// permissions changed (every outsider's entry holds them), is read once,
	// in pages, rather than one query per membership.
	perAccount := map[string]int{}
	for _, c := range changes {
		switch {
		case c.Entity == steward.ChangeMember:
			perAccount[c.AccountID]++
		case c.Entity == steward.ChangeMembers:
			perAccount[c.AccountID] += bulkMembers
		case c.Entity == steward.ChangePolicy && c.AccountID != "":
			changedNever, err := b.readPolicy(ctx, c.AccountID)
			if err != nil {
				return err
			}
			if changedNever {
				perAccount[c.AccountID] += bulkMembers
			}
		}
	}
	for accountID, n := range perAccount {
		if n < bulkMembers {
			continue
		}
		if err := b.reloadAccount(ctx, accountID, seenMember); err != nil {
			return err
		}
	}
	for _, c := range changes {
		switch c.Entity {
		case steward.ChangeRelationship: // AccountID is the client, EntityID the partner
			r, err := ix.src.FindRelationship(ctx, c.EntityID, c.AccountID)
			if err != nil && steward.ErrorKind(err) != steward.ENOTFOUND {
				return err
			}
			k := relKey{b.account(c.EntityID).num, b.account(c.AccountID).num}
			rels := b.relShard(k.client)
			if r == nil {
				delete(rels, k)
			} else {
				rels[k] = &relationship{id: r.ID, status: r.Status, endsAt: r.EndsAt}
			}
		case steward.ChangeUser:
			if seen[c.EntityID] {
				continue
			}
			seen[c.EntityID] = true
			changed = append(changed, c.EntityID)
			if err := b.reloadUser(ctx, c.EntityID); err != nil {
				return err
			}
		case steward.ChangeMember:
			k := [2]string{c.AccountID, c.EntityID}
			if seen[c.EntityID] || seenMember[k] { // a whole reload read it already
				continue
			}
			seenMember[k] = true
			if err := b.reloadMember(ctx, c.AccountID, c.EntityID); err != nil {
				return err
			}
		case steward.ChangePolicy: // also every event about an account
			// R-GUARD-4: read above, with the account's members when its
			// never-delegable permissions changed, so that the next check
			// answers under the new policy.
		}
	}
	for i, m := range b.users {
		ix.users[i].Store(&userShard{users: m})
	}
	for i, m := range b.accounts {
		ix.accounts[i].Store(&accountShard{accounts: m})
	}
	for i, m := range b.rels {
		ix.rels[i].Store(&relShard{rels: m})
	}
	if len(changed) > 0 {
		ix.notify(changed, false)
	}
	return nil
}

// batch is the shards one apply changes: copies of the published ones,
// published together at its end.
type batch struct {
	ix       *Index
	users    map[uint32]map[string]*user
	accounts map[uint32]map[string]*account
	rels     map[uint32]map[relKey]*relationship
	// read holds the memberships prefetchMembers read, by account and
	// user (nil: the user has none there).
	read map[[2]string]*steward.Membership
}

// manyMembers is a source that reads many users' memberships of one
// account in one statement.
type manyMembers interface {
	FindMembershipsOfUsers(ctx context.Context, accountID string, userIDs []string) ([]*steward.Membership, error)
}

// prefetchMembers reads in one statement per account the memberships that
// the changes touched where an account has several (a partner adding its
// employees to a client, say), instead of one statement each.
func (b *batch) prefetchMembers(ctx context.Context, changes []steward.Change) error {
	src, ok := b.ix.src.(manyMembers)
	if !ok {
		return nil
	}
	byAccount := map[string][]string{}
	seen := map[[2]string]bool{}
	for _, c := range changes {
		if k := [2]string{c.AccountID, c.EntityID}; c.Entity == steward.ChangeMember && !seen[k] {
			seen[k] = true
			byAccount[c.AccountID] = append(byAccount[c.AccountID], c.EntityID)
		}
	}
	for accountID, users := range byAccount {
		if len(users) < 2 {
			continue
		}
		ms, err := src.FindMembershipsOfUsers(ctx, accountID, users)
		if err != nil {
			return err
		}
		if b.read == nil {
			b.read = map[[2]string]*steward.Membership{}
		}
		for _, u := range users {
			b.read[[2]string{accountID, u}] = nil
		}
		for _, m := range ms {
			b.read[[2]string{accountID, m.UserID}] = m
		}
	}
	return nil
}

// userWithMemberships is a source that reads a user and its memberships
// in one statement.
type userWithMemberships interface {
	FindUserWithMemberships(ctx context.Context, id string) (*steward.User, []*steward.Membership, error)
}

// readUser returns a user and its memberships in account order.
func (b *batch) readUser(ctx context.Context, id string) (*steward.User, []*steward.Membership, error) {
	if src, ok := b.ix.src.(userWithMemberships); ok {
		return src.FindUserWithMemberships(ctx, id)
	}
	u, err := b.ix.src.FindUserByID(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	ms, err := b.ix.src.FindUserMemberships(ctx, id)
	return u, ms, err
}

// findMembership returns the user's membership of the account, from what
// prefetchMembers read when it did.
func (b *batch) findMembership(ctx context.Context, accountID, userID string) (*steward.Membership, error) {
	if m, ok := b.read[[2]string{accountID, userID}]; ok {
		if m == nil {
			return nil, steward.NotFound("membership", userID)
		}
		return m, nil
	}
	return b.ix.src.FindMembership(ctx, accountID, userID)
}

func (b *batch) userShard(id string) map[string]*user {
	i := shardOf(id)
	if b.users[i] == nil {
		b.users[i] = maps.Clone(b.ix.users[i].Load().users)
	}
	return b.users[i]
}

func (b *batch) accountShard(id string) map[string]*account {
	i := shardOf(id)
	if b.accounts[i] == nil {
		b.accounts[i] = maps.Clone(b.ix.accounts[i].Load().accounts)
	}
	return b.accounts[i]
}

func (b *batch) relShard(client uint32) map[relKey]*relationship {
	i := client & (nShards - 1)
	if b.rels[i] == nil {
		b.rels[i] = maps.Clone(b.ix.rels[i].Load().rels)
	}
	return b.rels[i]
}

// findAccount returns the account as this batch sees it; nil if unknown.
func (b *batch) findAccount(id string) *account {
	if m := b.accounts[shardOf(id)]; m != nil {
		return m[id]
	}
	return b.ix.account(id)
}

// account returns the account, adding it if unknown.
func (b *batch) account(id string) *account {
	if a := b.findAccount(id); a != nil {
		return a
	}
	a := &account{num: b.ix.accountNames.add(id)}
	b.accountShard(id)[id] = a
	return a
}

// setMembers replaces an account's member list (copy on write).
func (b *batch) setMembers(id string, members []uint32) {
	a := *b.account(id)
	a.members = members
	b.accountShard(id)[id] = &a
}

// reloadUser reads a user and its memberships again and keeps the
// accounts' member lists in step.
func (b *batch) reloadUser(ctx context.Context, id string) error {
	ix := b.ix
	shard := b.userShard(id)
	old := shard[id]
	su, ms, err := b.readUser(ctx, id)
	if steward.ErrorKind(err) == steward.ENOTFOUND {
		delete(shard, id)
		for _, m := range old.memberships() {
			name := ix.accountNames.get(m.account)
			b.setMembers(name, b.without(b.account(name).members, old.num))
		}
		return nil
	} else if err != nil {
		return err
	}
	u := &user{active: su.Status == steward.UserActive, ms: make([]membership, 0, len(ms))}
	if old != nil {
		u.num = old.num
	} else {
		u.num = ix.userNames.add(id)
	}
	for _, m := range ms {
		e, err := b.entry(ctx, m)
		if err != nil {
			return err
		}
		u.ms = append(u.ms, e)
	}
	ix.sortByAccount(u.ms)
	shard[id] = u
	for _, m := range old.memberships() {
		if u.find(m.account) == nil {
			name := ix.accountNames.get(m.account)
			b.setMembers(name, b.without(b.account(name).members, u.num))
		}
	}
	for _, m := range u.ms {
		if old.find(m.account) == nil {
			name := ix.accountNames.get(m.account)
			b.setMembers(name, b.with(b.account(name).members, u.num))
		}
	}
	return nil
}

// sortByAccount puts a user's memberships in account id order, the order of
// its account listing (one membership per account).
func (ix *Index) sortByAccount(ms []membership) {
	names := *ix.accountNames.list.Load()
	slices.SortFunc(ms, func(a, b membership) int { return strings.Compare(names[a.account], names[b.account]) })
}

// readPolicy reads the account's policy again and reports whether its
// never-delegable permissions changed.
func (b *batch) readPolicy(ctx context.Context, accountID string) (bool, error) {
	ix := b.ix
	p, err := ix.src.FindPolicy(ctx, accountID)
	if steward.ErrorKind(err) == steward.ENOTFOUND {
		return false, nil
	} else if err != nil {
		return false, err
	}
	a := b.account(accountID)
	if slices.Equal(p.NeverDelegable, ix.never[a.num]) {
		return false, nil
	}
	if len(p.NeverDelegable) == 0 {
		delete(ix.never, a.num)
	} else {
		ix.never[a.num] = p.NeverDelegable
	}
	return true, nil
}

// bulkMembers is how many changed memberships of one account in a batch
// make it read the account's memberships in pages instead of one by one.
const bulkMembers = 64

// reloadAccount reads every membership of the account again, in pages, and
// puts each in place of its user's entry for the account; members the
// account no longer has lose theirs. Users the index does not know yet are
// read whole. done records the memberships read, so that the batch's
// changes of them read nothing more.
func (b *batch) reloadAccount(ctx context.Context, accountID string, done map[[2]string]bool) error {
	byID := map[string]*steward.Membership{}
	var ms []*steward.Membership
	for page := (steward.Page{Limit: steward.MaxPageLimit}); ; {
		batch, next, err := b.ix.src.FindMemberships(ctx, steward.MembershipFilter{AccountID: accountID, Page: page})
		if err != nil {
			return err
		}
		for _, m := range batch {
			byID[m.ID] = m
		}
		ms = append(ms, batch...)
		if next == "" {
			break
		}
		page.After = next
	}
	users := map[string]bool{}
	for _, un := range b.account(accountID).members {
		users[b.ix.userNames.get(un)] = false
	}
	for _, m := range ms {
		users[m.UserID] = true
		if err := b.putMember(ctx, accountID, m.UserID, m, byID); err != nil {
			return err
		}
		done[[2]string{accountID, m.UserID}] = true
	}
	for id, present := range users {
		if present {
			continue
		}
		if err := b.putMember(ctx, accountID, id, nil, byID); err != nil {
			return err
		}
		done[[2]string{accountID, id}] = true
	}
	return nil
}

// reloadMember reads one membership of a user again, the user's others
// staying as they are, and keeps the account's member list in step. A user
// the index does not know yet is read whole.
func (b *batch) reloadMember(ctx context.Context, accountID, userID string) error {
	if b.userShard(userID)[userID] == nil {
		return b.reloadUser(ctx, userID)
	}
	m, err := b.findMembership(ctx, accountID, userID)
	if err != nil && steward.ErrorKind(err) != steward.ENOTFOUND {
		return err
	}
	return b.putMember(ctx, accountID, userID, m, nil)
}

// putMember sets the user's entry for the account to m (nil: none), the
// user's others staying as they are, and keeps the account's member list in
// step. A user the index does not know yet is read whole. parents, when
// given, are the account's memberships by id, for a delegate's parent.
func (b *batch) putMember(ctx context.Context, accountID, userID string, m *steward.Membership, parents map[string]*steward.Membership) error {
	ix := b.ix
	shard := b.userShard(userID)
	old := shard[userID]
	if old == nil {
		if m == nil {
			return nil
		}
		return b.reloadUser(ctx, userID)
	}
	acc := b.account(accountID).num
	u := &user{num: old.num, active: old.active, ms: make([]membership, 0, len(old.ms)+1)}
	for _, e := range old.ms {
		if e.account != acc {
			u.ms = append(u.ms, e)
		}
	}
	if m != nil {
		e, err := b.entryWith(ctx, m, parents)
		if err != nil {
			return err
		}
		u.ms = append(u.ms, e)
	}
	ix.sortByAccount(u.ms)
	shard[userID] = u
	switch had := old.find(acc) != nil; {
	case had && m == nil:
		b.setMembers(accountID, b.without(b.account(accountID).members, u.num))
	case !had && m != nil:
		b.setMembers(accountID, b.with(b.account(accountID).members, u.num))
	}
	return nil
}

// entry packs a membership as this batch sees its accounts and users.
func (b *batch) entry(ctx context.Context, m *steward.Membership) (membership, error) {
	return b.entryWith(ctx, m, nil)
}

// entryWith is entry with the account's memberships by id at hand (nil:
// read a delegate's parent from the store).
func (b *batch) entryWith(ctx context.Context, m *steward.Membership, parents map[string]*steward.Membership) (membership, error) {
	ix := b.ix
	parentUser := uint32(noUser)
	if m.Kind == steward.KindDelegate && parents != nil {
		if p := parents[m.ParentID]; p != nil {
			if pu := b.findUser(p.UserID); pu != nil {
				parentUser = pu.num
			} else {
				parentUser = ix.userNames.add(p.UserID)
			}
		}
	} else if m.Kind == steward.KindDelegate {
		if p, err := ix.src.FindMembershipByID(ctx, m.AccountID, m.ParentID); err == nil {
			if pu := b.findUser(p.UserID); pu != nil {
				parentUser = pu.num
			} else {
				parentUser = ix.userNames.add(p.UserID)
			}
		} else if steward.ErrorKind(err) != steward.ENOTFOUND {
			return membership{}, err
		}
	}
	var partner uint32
	if m.PartnerID != "" {
		partner = b.account(m.PartnerID).num
	}
	return ix.entry(m, b.account(m.AccountID).num, partner, parentUser), nil
}

// findUser returns the user as this batch sees it; nil if unknown.
func (b *batch) findUser(id string) *user {
	if m := b.users[shardOf(id)]; m != nil {
		return m[id]
	}
	return b.ix.user(id)
}

// search finds a user number's place in a member list sorted by user id.
func (b *batch) search(list []uint32, num uint32) (int, bool) {
	names := *b.ix.userNames.list.Load()
	return slices.BinarySearchFunc(list, names[num], func(x uint32, id string) int { return strings.Compare(names[x], id) })
}

// with returns a copy of the sorted list with num added.
func (b *batch) with(list []uint32, num uint32) []uint32 {
	i, found := b.search(list, num)
	if found {
		return list
	}
	return slices.Insert(slices.Clone(list), i, num)
}

// without returns a copy of the sorted list without num.
func (b *batch) without(list []uint32, num uint32) []uint32 {
	i, found := b.search(list, num)
	if !found {
		return list
	}
	return slices.Delete(slices.Clone(list), i, i+1)
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
