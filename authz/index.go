package authz

import (
	"context"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/steward-iam/steward"
)

// Source is what the index reads from the store.
type Source interface {
	// ScanUserStatuses calls fn with every user's id and status but the
	// deleted ones'.
	ScanUserStatuses(ctx context.Context, fn func(id string, status steward.UserStatus) error) error
	// ScanMemberships calls fn with every membership. A store may leave
	// out what the index does not read (GrantedBy, ManagedBy, AutoExtend,
	// TermStartedAt, CreatedAt, UpdatedAt) and may reuse m after fn
	// returns.
	ScanMemberships(ctx context.Context, fn func(m *steward.Membership) error) error
	// ScanAccountIDs calls fn with every account id, in id order.
	ScanAccountIDs(ctx context.Context, fn func(string) error) error
	ScanRelationships(ctx context.Context, fn func(*steward.Relationship) error) error
	FindRelationship(ctx context.Context, partnerID, clientID string) (*steward.Relationship, error)
	FindUserByID(ctx context.Context, id string) (*steward.User, error)
	FindUserMemberships(ctx context.Context, userID string) ([]*steward.Membership, error)
	FindMembershipByID(ctx context.Context, accountID, id string) (*steward.Membership, error)
	FindMembership(ctx context.Context, accountID, userID string) (*steward.Membership, error)
	FindMemberships(ctx context.Context, f steward.MembershipFilter) ([]*steward.Membership, string, error)
	FindAccountByID(ctx context.Context, id string) (*steward.Account, error)
	ScanPolicies(ctx context.Context, fn func(accountID string, p *steward.AccountPolicy) error) error
	FindPolicy(ctx context.Context, accountID string) (*steward.AccountPolicy, error)
	ChangesSince(ctx context.Context, rev int64, n int) ([]steward.Change, error)
	CurrentRevision(ctx context.Context) (int64, error)
}

const (
	shardBits = 10
	nShards   = 1 << shardBits
	noEnd     = math.MaxInt64
	batchRevs = 500
)

// Index answers checks from memory. The zero value is not usable; use New.
//
// It is built to be small: users and accounts are numbered, and a
// membership is a flat record of numbers (see membership) kept in its
// user's slice, so that a membership costs well under 100 bytes. Readers
// take no lock: every shard is an immutable map behind an atomic pointer,
// replaced whole by the one writer (under mu), and the name tables only
// grow.
type Index struct {
	src  Source
	cat  *steward.Catalogue
	bits map[string]int // permission key → bit
	// allWords has every bit of the catalogue set.
	allWords []uint64
	// partnerOnly marks the bits of partner.* permissions, held only
	// through an internal membership (R-PARTNER-1); partnerMask has them set.
	partnerOnly []bool
	partnerMask []uint64
	words       int
	logger      *slog.Logger

	users    [nShards]atomic.Pointer[userShard]
	accounts [nShards]atomic.Pointer[accountShard]
	rels     [nShards]atomic.Pointer[relShard] // by the client's account number
	applied  atomic.Int64
	loads    atomic.Int64 // whole loads, the first included

	// Numbered names: user, account and role ids, and the ids of memberships
	// that do not have the shape NewID gives (see packID).
	userNames, accountNames, roleNames, oddIDs names
	// parentIDs holds the parent membership id of each delegate, by number.
	parentIDs table[[16]byte]
	// grantLists holds the grants with an end date of the memberships
	// flagged flagGrants, by the slot in their parentRef (R-REQUEST-2;
	// only partner and external memberships have grants, never delegates).
	grantLists table[[]timedGrant]
	// permSets holds the distinct permission sets; a membership names its
	// own by slot (4 bytes instead of a pointer's 8).
	permSets table[*permSet]

	mu sync.Mutex // serialises writers
	// never holds each account's never-delegable permissions by account
	// number (R-GUARD-3), folded into outsiders' entries when they are
	// made. Writers only.
	never   map[uint32][]string
	sets    map[string]uint32 // slots in permSets
	small   map[[4]uint64]uint32
	roleNum map[string]uint32
	oddNum  map[string]uint32
	waiters chan struct{} // closed when applied moves
	wmu     sync.Mutex    // guards waiters
	// watchers are told of the users every applied batch changed (Watch).
	watchers atomic.Pointer[[]func(userIDs []string, all bool)]
}

type userShard struct{ users map[string]*user }

// accountShard maps account ids to their records.
type accountShard struct{ accounts map[string]*account }

// account is an account's number and its members' user numbers, sorted by
// user id, for the access-review listing. Replaced whole when they change.
type account struct {
	num     uint32
	members []uint32
}

// relKey names the relationship P→C by account numbers.
type relKey struct{ partner, client uint32 }

type relShard struct{ rels map[relKey]*relationship }

// relationship is what a check needs of a partner relationship.
type relationship struct {
	id     string
	status steward.RelationshipStatus
	endsAt *time.Time
}

// user is one user: its number, whether it is active in its home account,
// and its memberships, at most one per account, in account id order.
type user struct {
	num    uint32
	active bool
	ms     []membership
}

// membership is one membership, 56 bytes: ids are numbers into the index's
// tables, the membership's own id is its 16 bytes (see packID), its
// permissions a slot in permSets, and the delegate's parent is a user
// number plus a parentIDs slot.
type membership struct {
	id             [16]byte
	endsAt         int64 // microseconds; noEnd when none
	delegatesEndAt int64
	perms          uint32 // slot in permSets
	account        uint32
	// link is the account number of the partner for a partner membership
	// (see partner), the parent's user number for a delegate (see
	// parentUser); a membership is never both.
	link      uint32
	role      uint32
	parentRef uint32 // delegates only: slot in parentIDs
	kind      uint8
	status    uint8
	flags     uint8
}

// partner is the account number of a partner membership's partner.
func (m *membership) partner() uint32 { return m.link }

// parentUser is the user number of a delegate's parent; noUser for other
// memberships, or when the parent's user is unknown.
func (m *membership) parentUser() uint32 {
	if m.kind != kindDelegate {
		return noUser
	}
	return m.link
}

const (
	flagSuper = 1 << iota
	flagRedelegate
	// flagFiltered: perms is what the membership holds of its own, the
	// never-delegable taken out, even for a super admin (R-GUARD-3).
	flagFiltered
	// flagGrants: parentRef is a slot in grantLists (R-REQUEST-2).
	flagGrants
)

// timedGrant is a grant with an end date, of an approved access request
// or of an active elevation (R-ELEVATE-2): its permissions hold from
// startsAt until before endsAt (microseconds). Elevations are rare, so they
// live here, beside the few memberships that have them, and the compact
// record of every other membership stays as it is.
type timedGrant struct {
	perms     *permSet
	startsAt  int64  // math.MinInt64 when it holds from the start
	endsAt    int64  // noEnd when none
	elevation string // the elevation's id; empty for an access request's grant
}

// holdsAt reports whether the grant holds at at (microseconds).
func (g *timedGrant) holdsAt(at int64) bool { return at >= g.startsAt && at < g.endsAt }

func (m *membership) super() bool      { return m.flags&flagSuper != 0 }
func (m *membership) allBits() bool    { return m.flags&(flagSuper|flagFiltered) == flagSuper }
func (m *membership) redelegate() bool { return m.flags&flagRedelegate != 0 }

// Kinds and statuses as small numbers, in these orders.
var (
	kinds    = []steward.MembershipKind{steward.KindInternal, steward.KindPartner, steward.KindExternal, steward.KindDelegate}
	statuses = []steward.MembershipStatus{steward.StatusActive, steward.StatusDeactivated, steward.StatusSuspended, steward.StatusExpired}
)

const (
	kindInternal uint8 = iota
	kindPartner
	kindExternal
	kindDelegate
)

const (
	statusActive uint8 = iota
	statusDeactivated
	statusSuspended
	statusExpired
)

func kindOf(k steward.MembershipKind) uint8 {
	for i, v := range kinds {
		if v == k {
			return uint8(i)
		}
	}
	return kindInternal
}

func statusOf(s steward.MembershipStatus) uint8 {
	for i, v := range statuses {
		if v == s {
			return uint8(i)
		}
	}
	return statusDeactivated // unknown states hold nothing
}

// permSet is a set of permissions as bits, with its keys in sorted order for
// the listings, made once when the set is.
type permSet struct {
	w    []uint64
	keys []string
}

// keysOf returns the sorted keys of the bits set in w: bits follow the
// catalogue's sorted keys.
func (ix *Index) keysOf(w []uint64) []string {
	out := []string{}
	for i, k := range ix.cat.All() {
		if w[i>>6]&(1<<(i&63)) != 0 {
			out = append(out, k)
		}
	}
	return out
}

func (p *permSet) has(bit int) bool { return p.w[bit>>6]&(1<<(bit&63)) != 0 }

// table is an append-only list that readers index without a lock: they see
// the prefix published when they loaded it; the one writer appends past it.
type table[T any] struct{ list atomic.Pointer[[]T] }

func (t *table[T]) get(i uint32) T { return (*t.list.Load())[i] }

func (t *table[T]) add(v T) uint32 {
	var l []T
	if p := t.list.Load(); p != nil {
		l = *p
	}
	i := len(l)
	l = append(l, v)
	t.list.Store(&l)
	return uint32(i)
}

func (t *table[T]) len() int {
	if p := t.list.Load(); p != nil {
		return len(*p)
	}
	return 0
}

type names = table[string]

// New returns an empty index over src; call Load.
func New(src Source, cat *steward.Catalogue, logger *slog.Logger) *Index {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ix := &Index{src: src, cat: cat, bits: map[string]int{}, logger: logger, waiters: make(chan struct{})}
	for i, k := range cat.All() {
		ix.bits[k] = i
		ix.partnerOnly = append(ix.partnerOnly, steward.PartnerConsolePermission(k))
	}
	ix.words = (len(ix.bits) + 63) / 64
	ix.allWords, ix.partnerMask = make([]uint64, ix.words), make([]uint64, ix.words)
	for i := range len(ix.bits) {
		ix.allWords[i>>6] |= 1 << (i & 63)
		if ix.partnerOnly[i] {
			ix.partnerMask[i>>6] |= 1 << (i & 63)
		}
	}
	ix.reset()
	return ix
}

// reset empties the index's tables before a load. Writers only.
func (ix *Index) reset() {
	ix.sets, ix.small = map[string]uint32{}, map[[4]uint64]uint32{}
	ix.permSets.list.Store(&[]*permSet{})
	ix.roleNum, ix.oddNum = map[string]uint32{}, map[string]uint32{}
	ix.userNames.list.Store(&[]string{})
	ix.accountNames.list.Store(&[]string{})
	ix.roleNames.list.Store(&[]string{})
	ix.oddIDs.list.Store(&[]string{})
	ix.parentIDs.list.Store(&[][16]byte{})
	ix.grantLists.list.Store(&[][]timedGrant{})
	ix.never = map[uint32][]string{}
	for i := range nShards {
		ix.users[i].Store(&userShard{users: map[string]*user{}})
		ix.accounts[i].Store(&accountShard{accounts: map[string]*account{}})
		ix.rels[i].Store(&relShard{rels: map[relKey]*relationship{}})
	}
}

// Applied returns the last revision the index has applied.
func (ix *Index) Applied() int64 { return ix.applied.Load() }

// Reloads returns how many times the index was loaded whole again after its
// first load: after a lost database connection, or when the change feed no
// longer held what it missed.
func (ix *Index) Reloads() int64 { return max(ix.loads.Load()-1, 0) }

// Size returns how many users and memberships the index holds. It walks
// every shard: it is meant for metrics, not for the check path.
func (ix *Index) Size() (users, memberships int) {
	for i := range nShards {
		s := ix.users[i].Load()
		if s == nil {
			continue
		}
		users += len(s.users)
		for _, u := range s.users {
			memberships += len(u.ms)
		}
	}
	return users, memberships
}

func shardOf(id string) uint32 {
	h := uint32(2166136261) // FNV-1a, inlined so that a check does not allocate
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return h & (nShards - 1)
}

func (ix *Index) user(id string) *user { return ix.users[shardOf(id)].Load().users[id] }

func (ix *Index) account(id string) *account {
	return ix.accounts[shardOf(id)].Load().accounts[id]
}

func (ix *Index) rel(partner, client uint32) *relationship {
	return ix.rels[client&(nShards-1)].Load().rels[relKey{partner, client}]
}

func (ix *Index) hasAccount(id string) bool { return ix.account(id) != nil }

// memberships returns the user's memberships; none for a nil user.
func (u *user) memberships() []membership {
	if u == nil {
		return nil
	}
	return u.ms
}

func (u *user) find(account uint32) *membership {
	if u == nil {
		return nil
	}
	for i := range u.ms {
		if u.ms[i].account == account {
			return &u.ms[i]
		}
	}
	return nil
}

func micros(t *time.Time) int64 {
	if t == nil {
		return noEnd
	}
	return t.UnixMicro()
}

// permSetOf returns the shared bit set of a permission list; memberships
// with the same permissions share one. Writers only.
func (ix *Index) permSetOf(keys []string) *permSet { return ix.permSets.get(ix.permRef(keys)) }

// permRef returns the slot in permSets of a permission list's shared bit
// set. Writers only.
func (ix *Index) permRef(keys []string) uint32 {
	if ix.words <= 4 { // up to 256 permissions: the bits themselves are the key
		var key [4]uint64
		for _, k := range keys {
			if b, ok := ix.bits[k]; ok {
				key[b>>6] |= 1 << (b & 63)
			}
		}
		if r, ok := ix.small[key]; ok {
			return r
		}
		p := &permSet{w: append([]uint64(nil), key[:ix.words]...)}
		p.keys = ix.keysOf(p.w)
		r := ix.permSets.add(p)
		ix.small[key] = r
		return r
	}
	w := make([]uint64, ix.words)
	for _, k := range keys {
		if b, ok := ix.bits[k]; ok {
			w[b>>6] |= 1 << (b & 63)
		}
	}
	key := fmt.Sprint(w)
	if r, ok := ix.sets[key]; ok {
		return r
	}
	r := ix.permSets.add(&permSet{w: w, keys: ix.keysOf(w)})
	ix.sets[key] = r
	return r
}

// idEncoding is the alphabet of steward.NewID.
var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// oddMark starts the packed form of an id that is not NewID's shape: no
// real id starts with it (its time part would be tens of millennia ahead).
const oddMark = 0xffffffff

// packID turns a membership id into 16 bytes: the 128 bits NewID encoded,
// or, for an id of another shape, a mark and its number in oddIDs. Writers
// only.
func (ix *Index) packID(id string) [16]byte {
	var b [16]byte
	if rest, ok := strings.CutPrefix(id, steward.PrefixMembership); ok && len(rest) == 26 {
		var text, again [26]byte // on the stack: packing allocates nothing
		copy(text[:], rest)
		if n, err := idEncoding.Decode(b[:], text[:]); err == nil && n == 16 && binary.BigEndian.Uint32(b[:4]) != oddMark {
			if idEncoding.Encode(again[:], b[:]); again == text {
				return b
			}
		}
	}
	n, ok := ix.oddNum[id]
	if !ok {
		n = ix.oddIDs.add(id)
		ix.oddNum[id] = n
	}
	b = [16]byte{}
	binary.BigEndian.PutUint32(b[:4], oddMark)
	binary.BigEndian.PutUint32(b[4:8], n)
	return b
}

// unpackID is packID's inverse.
func (ix *Index) unpackID(b [16]byte) string {
	if binary.BigEndian.Uint32(b[:4]) == oddMark {
		return ix.oddIDs.get(binary.BigEndian.Uint32(b[4:8]))
	}
	// One allocation: the prefix and the encoding into one buffer.
	const n = len(steward.PrefixMembership)
	var buf [n + 32]byte
	copy(buf[:], steward.PrefixMembership)
	size := idEncoding.EncodedLen(len(b))
	idEncoding.Encode(buf[n:n+size], b[:])
	return string(buf[:n+size])
}

// roleOf numbers a role id. Writers only.
func (ix *Index) roleOf(role string) uint32 {
	n, ok := ix.roleNum[role]
	if !ok {
		n = ix.roleNames.add(role)
		ix.roleNum[role] = n
	}
	return n
}

// entry packs a membership. Its account and partner must be numbered; the
// parent's user is the delegate's parent user number, if known.
func (ix *Index) entry(m *steward.Membership, account, partner uint32, parentUser uint32) membership {
	link := partner
	if m.Kind == steward.KindDelegate {
		link = parentUser
	}
	never := ix.never[account]
	if !steward.Outsider(m.Kind) {
		never = nil
	}
	own := m.Permissions
	if len(never) > 0 && m.Role == steward.RoleSuperAdmin {
		own = ix.cat.All()
	}
	var timed []timedGrant
	for _, g := range m.Grants { // R-REQUEST-2: a grant without end is the membership's own
		if g.EndsAt == nil && g.StartsAt == nil && g.ElevationID == "" {
			own = steward.Union(own, g.Permissions)
		} else {
			tg := timedGrant{perms: ix.permSetOf(steward.Minus(g.Permissions, never)), startsAt: math.MinInt64, endsAt: micros(g.EndsAt), elevation: g.ElevationID}
			if g.StartsAt != nil { // R-ELEVATE-2: an elevation holds in [starts_at, ends_at)
				tg.startsAt = g.StartsAt.UnixMicro()
			}
			timed = append(timed, tg)
		}
	}
	e := membership{
		id: ix.packID(m.ID), account: account, link: link, role: ix.roleOf(m.Role),
		kind: kindOf(m.Kind), status: statusOf(m.Status), perms: ix.permRef(steward.Minus(own, never)),
		endsAt: micros(m.EndsAt), delegatesEndAt: micros(m.DelegatesEndAt),
	}
	if m.Role == steward.RoleSuperAdmin {
		e.flags |= flagSuper
	}
	if len(never) > 0 {
		e.flags |= flagFiltered // R-GUARD-3
	}
	if m.AllowRedelegation {
		e.flags |= flagRedelegate
	}
	if m.Kind == steward.KindDelegate {
		e.parentRef = ix.parentIDs.add(ix.packID(m.ParentID))
	} else if len(timed) > 0 {
		e.flags |= flagGrants
		e.parentRef = ix.grantLists.add(timed)
	}
	return e
}

// holds reports whether m itself holds the permission bit at the time at
// (microseconds): a super admin's every permission, its own, and the grants
// that hold then, the never-delegable already taken out (R-GUARD-3,
// R-REQUEST-2, R-ELEVATE-2). It does not allocate.
func (ix *Index) holds(m *membership, bit int, at int64) bool {
	if m.allBits() || ix.permSets.get(m.perms).has(bit) {
		return true
	}
	if m.flags&flagGrants != 0 {
		for _, g := range ix.grantLists.get(m.parentRef) {
			if g.holdsAt(at) && g.perms.has(bit) {
				return true
			}
		}
	}
	return false
}

// ownWords returns the bits m itself holds at the time at, in buf when it
// must build them.
func (ix *Index) ownWords(m *membership, at int64, buf []uint64) []uint64 {
	if m.allBits() {
		return ix.allWords
	}
	own := ix.permSets.get(m.perms).w
	if m.flags&flagGrants == 0 {
		return own
	}
	copy(buf, own)
	for _, g := range ix.grantLists.get(m.parentRef) {
		if g.holdsAt(at) {
			for i := range buf {
				buf[i] |= g.perms.w[i]
			}
		}
	}
	return buf
}

// noUser marks a delegate whose parent's user is unknown.
const noUser = math.MaxUint32

// elevationOf returns the active elevation that m's permission bit comes
// from at at, for the reason of a check (R-ELEVATE-2, R-CHECK-2): nil when
// m holds the bit otherwise. Of several, the first, as the store has them.
func (ix *Index) elevationOf(m *membership, bit int, at int64) *timedGrant {
	if bit < 0 || m.flags&flagGrants == 0 || m.allBits() || ix.permSets.get(m.perms).has(bit) {
		return nil
	}
	gs := ix.grantLists.get(m.parentRef)
	for i := range gs {
		if gs[i].elevation == "" && gs[i].holdsAt(at) && gs[i].perms.has(bit) {
			return nil
		}
	}
	for i := range gs {
		if gs[i].elevation != "" && gs[i].holdsAt(at) && gs[i].perms.has(bit) {
			return &gs[i]
		}
	}
	return nil
}
