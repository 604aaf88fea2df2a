package authz

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/steward-iam/steward"
)

// Source is what the index reads from the store.
type Source interface {
	ScanUsers(ctx context.Context, fn func(*steward.User) error) error
	ScanMemberships(ctx context.Context, fn func(*steward.Membership) error) error
	ScanAccountIDs(ctx context.Context, fn func(string) error) error
	ScanRelationships(ctx context.Context, fn func(*steward.Relationship) error) error
	FindRelationship(ctx context.Context, partnerID, clientID string) (*steward.Relationship, error)
	FindUserByID(ctx context.Context, id string) (*steward.User, error)
	FindUserMemberships(ctx context.Context, userID string) ([]*steward.Membership, error)
	FindMembershipByID(ctx context.Context, accountID, id string) (*steward.Membership, error)
	FindAccountByID(ctx context.Context, id string) (*steward.Account, error)
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
type Index struct {
	src      Source
	cat      *steward.Catalogue
	bits     map[string]int // permission key → bit
	words    int
	allWords []uint64 // every bit of the catalogue set
	logger   *slog.Logger

	users    [nShards]atomic.Pointer[shard]
	accounts [nShards]atomic.Pointer[accountShard]
	rels     [nShards]atomic.Pointer[relShard] // by client account
	applied  atomic.Int64

	mu      sync.Mutex // serialises writers
	sets    map[string]*permSet
	small   map[[4]uint64]*permSet
	strs    map[string]string
	waiters chan struct{} // closed when applied moves
	wmu     sync.Mutex    // guards waiters
}

type shard struct{ users map[string]*user }

// accountShard maps account ids to their sorted member user ids, for the
// access-review listing.
type accountShard struct{ ids map[string][]string }

// relKey names the relationship P→C; a struct of the two ids, so that a
// lookup builds no string.
type relKey struct{ partner, client string }

type relShard struct{ rels map[relKey]*relationship }

// relationship is what a check needs of a partner relationship.
type relationship struct {
	id     string
	status steward.RelationshipStatus
	endsAt *time.Time
}

type user struct {
	active bool
	ms     []membership // in account id order
}

type membership struct {
	id, account, role  string
	parentID, parentOf string // a delegate's parent membership and its user
	partnerID          string
	kind               steward.MembershipKind
	status             steward.MembershipStatus
	perms              *permSet
	super              bool
	redelegate         bool
	endsAt             int64 // microseconds; noEnd when none
	delegatesEndAt     int64
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
	all := ix.cat.All()
	out := []string{}
	for i, k := range all {
		if w[i>>6]&(1<<(i&63)) != 0 {
			out = append(out, k)
		}
	}
	return out
}

func (p *permSet) has(bit int) bool { return p.w[bit>>6]&(1<<(bit&63)) != 0 }

// New returns an empty index over src; call Load.
func New(src Source, cat *steward.Catalogue, logger *slog.Logger) *Index {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ix := &Index{src: src, cat: cat, bits: map[string]int{}, logger: logger, sets: map[string]*permSet{}, small: map[[4]uint64]*permSet{}, strs: map[string]string{}, waiters: make(chan struct{})}
	for i, k := range cat.All() {
		ix.bits[k] = i
	}
	ix.words = (len(ix.bits) + 63) / 64
	ix.allWords = make([]uint64, ix.words)
	for i := range len(ix.bits) {
		ix.allWords[i>>6] |= 1 << (i & 63)
	}
	for i := range nShards {
		ix.users[i].Store(&shard{users: map[string]*user{}})
		ix.accounts[i].Store(&accountShard{ids: map[string][]string{}})
		ix.rels[i].Store(&relShard{rels: map[relKey]*relationship{}})
	}
	return ix
}

// Applied returns the last revision the index has applied.
func (ix *Index) Applied() int64 { return ix.applied.Load() }

func shardOf(id string) uint32 {
	h := uint32(2166136261) // FNV-1a, inlined so that a check does not allocate
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return h & (nShards - 1)
}

func (ix *Index) user(id string) *user { return ix.users[shardOf(id)].Load().users[id] }

func (ix *Index) rel(partner, client string) *relationship {
	return ix.rels[shardOf(client)].Load().rels[relKey{partner, client}]
}

func (ix *Index) hasAccount(id string) bool {
	_, ok := ix.accounts[shardOf(id)].Load().ids[id]
	return ok
}

// memberships returns the user's memberships; none for a nil user.
func (u *user) memberships() []membership {
	if u == nil {
		return nil
	}
	return u.ms
}

func (u *user) find(account string) *membership {
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

// intern returns a shared copy of s, so that ids repeated across memberships
// are stored once. Writers only.
func (ix *Index) intern(s string) string {
	if v, ok := ix.strs[s]; ok {
		return v
	}
	ix.strs[s] = s
	return s
}

// permSetOf returns the shared bit set of a permission list; memberships
// with the same permissions share one. Writers only.
func (ix *Index) permSetOf(keys []string) *permSet {
	if ix.words <= 4 { // up to 256 permissions: the bits themselves are the key
		var key [4]uint64
		for _, k := range keys {
			if b, ok := ix.bits[k]; ok {
				key[b>>6] |= 1 << (b & 63)
			}
		}
		if p, ok := ix.small[key]; ok {
			return p
		}
		p := &permSet{w: append([]uint64(nil), key[:ix.words]...)}
		p.keys = ix.keysOf(p.w)
		ix.small[key] = p
		return p
	}
	w := make([]uint64, ix.words)
	for _, k := range keys {
		if b, ok := ix.bits[k]; ok {
			w[b>>6] |= 1 << (b & 63)
		}
	}
	key := fmt.Sprint(w)
	if p, ok := ix.sets[key]; ok {
		return p
	}
	p := &permSet{w: w, keys: ix.keysOf(w)}
	ix.sets[key] = p
	return p
}

func (ix *Index) entry(m *steward.Membership, parentUser string) membership {
	return membership{
		id: m.ID, account: ix.intern(m.AccountID), role: ix.intern(m.Role), parentID: m.ParentID, parentOf: parentUser,
		partnerID: ix.intern(m.PartnerID), kind: m.Kind, status: m.Status, perms: ix.permSetOf(m.Permissions),
		super: m.Role == steward.RoleSuperAdmin, redelegate: m.AllowRedelegation, endsAt: micros(m.EndsAt),
		delegatesEndAt: micros(m.DelegatesEndAt),
	}
}
