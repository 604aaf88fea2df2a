// Package synth generates large synthetic worlds straight into a store, for
// `steward bench`: accounts and partners, users with home accounts, and
// internal, partner, external and delegated memberships in chosen shares.
package synth

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/internal/sqlstore"
)

// Size describes a world.
type Size struct {
	Accounts           int     // all accounts, partners included
	Partners           int     // partner accounts among them
	Users              int     // users, spread over the accounts as home accounts
	MembershipsPerUser float64 // average memberships a user holds, its home one included
	PartnerShare       float64 // of the extra memberships of partner employees: partner memberships in clients
	DelegateShare      float64 // of external memberships: ones that re-delegate to a colleague
	BigAccountMembers  int     // members of one account, for the access-review listing
	BigPartnerClients  int     // clients of one partner, for the client listing
	Seed               uint64
}

// Default is the world `steward bench` uses when no size is given.
var Default = Size{Accounts: 2000, Partners: 100, Users: 20000, MembershipsPerUser: 5, PartnerShare: 1, DelegateShare: 0.2,
	BigAccountMembers: 10000, BigPartnerClients: 1000, Seed: 1}

// Large is the size the performance targets name.
var Large = Size{Accounts: 100000, Partners: 5000, Users: 1000000, MembershipsPerUser: 5, PartnerShare: 1, DelegateShare: 0.2,
	BigAccountMembers: 10000, BigPartnerClients: 10000, Seed: 1}

// Bulk is a store that can take rows in bulk.
type Bulk interface {
	BulkInsert(ctx context.Context, table string, columns []string, rows sqlstore.Rows) (int, error)
}

// Sample is a check the benchmark can ask, with the answer the world implies.
type Sample struct {
	UserID, AccountID, Permission string
	Kind                          steward.MembershipKind
}

// World is what was generated.
type World struct {
	Size
	Accounts    []string
	BigAccount  string // the account with BigAccountMembers members
	BigPartner  string // the partner with BigPartnerClients clients
	Memberships int
	Samples     []Sample // allowed checks, by kind of membership
	// Relationships are the partner→client pairs the partner memberships
	// need; the caller writes them where its schema keeps them.
	Relationships [][2]string
	Took          time.Duration
}

// Progress reports a stage's progress.
type Progress func(stage string, done, total int)

// Perm is the permission every generated membership below super admin holds,
// so that samples are allowed.
const Perm = "reports.view"

var permSets = [][]string{
	{"crm.contacts.view", Perm},
	{"crm.contacts.edit", "crm.contacts.view", "crm.deals.view", Perm},
	{"crm.deals.edit", "crm.deals.view", Perm, "tickets.view"},
	{Perm, "reports.edit", "settings.view"},
}

// Generate writes a world of the given size into b. The store must be
// freshly migrated and empty.
func Generate(ctx context.Context, b Bulk, size Size, progress Progress) (*World, error) {
	if size.Partners > size.Accounts || size.Accounts < 2 || size.Users < size.Accounts {
		return nil, fmt.Errorf("a world needs at least 2 accounts, no more partners than accounts and at least one user per account")
	}
	if progress == nil {
		progress = func(string, int, int) {}
	}
	start := time.Now()
	rng := rand.New(rand.NewPCG(size.Seed, size.Seed^0x9e3779b97f4a7c15))
	now := time.Now().UTC().Truncate(time.Microsecond)
	us := now.UnixMicro()
	w := &World{Size: size}
	w.Accounts = make([]string, size.Accounts)
	for i := range w.Accounts {
		w.Accounts[i] = steward.NewID(steward.PrefixAccount, now)
	}
	w.BigPartner = w.Accounts[0]
	w.BigAccount = w.Accounts[size.Partners]
	isPartner := func(i int) bool { return i < size.Partners }
	standard := size.Accounts - size.Partners
	// clientsOf lists a partner's clients: the big partner has
	// BigPartnerClients of them, every other partner a few.
	clientsOf := func(p int) (first, n int) {
		if p == 0 {
			return size.Partners, min(size.BigPartnerClients, standard)
		}
		per := max(1, standard/size.Partners)
		return size.Partners + (p*per)%standard, per
	}

	if _, err := insert(ctx, b, "accounts", []string{"id", "name", "kind", "region", "has_billing_info", "plan", "verified_domains",
		"require_delegate_billing", "created_at", "updated_at"}, size.Accounts, progress, func(i int) []any {
		kind := steward.AccountStandard
		if isPartner(i) {
			kind = steward.AccountPartner
		}
		return []any{w.Accounts[i], fmt.Sprintf("Company %d", i), string(kind), "us", i % 2, "pro", fmt.Sprintf(`["c%d.example"]`, i), 0, us, us}
	}); err != nil {
		return nil, err
	}
	if _, err := insert(ctx, b, "audit_heads", []string{"account_id", "seq", "hash"}, size.Accounts, progress, func(i int) []any {
		return []any{w.Accounts[i], 0, ""}
	}); err != nil {
		return nil, err
	}

	users := make([]string, size.Users)
	for i := range users {
		users[i] = steward.NewID(steward.PrefixUser, now)
	}
	home := func(u int) int { return u % size.Accounts }
	if _, err := insert(ctx, b, "users", []string{"id", "email", "name", "home_account_id", "status", "password_hash", "created_at", "updated_at"},
		size.Users, progress, func(i int) []any {
			return []any{users[i], fmt.Sprintf("user%d@c%d.example", i, home(i)), fmt.Sprintf("User %d", i), w.Accounts[home(i)], "active", "", us, us}
		}); err != nil {
		return nil, err
	}

	// Memberships are generated user by user; each user's accounts are
	// distinct, which the store's uniqueness requires.
	perms := make([]string, len(permSets))
	for i, p := range permSets {
		raw, _ := json.Marshal(p)
		perms[i] = string(raw)
	}
	extra := max(0, int(size.MembershipsPerUser*float64(size.Users)+0.5)-size.Users)
	// A membership row, compact: 5,000,000 of them fit in memory.
	type row struct {
		account, user, partner, parent int32 // parent: index of the parent row, or -1
		kind                           steward.MembershipKind
		perms                          uint8
		super, redelegate              bool
	}
	var rows []row
	relationships := map[[2]int32]bool{}
	member := map[[2]int32]bool{}
	add := func(r row) {
		rows = append(rows, r)
		member[[2]int32{r.account, r.user}] = true
	}
	for u := range size.Users {
		add(row{account: int32(home(u)), user: int32(u), parent: -1, kind: steward.KindInternal, perms: uint8(u % len(perms)), super: u < size.Accounts})
	}
	for u := range min(size.BigAccountMembers, size.Users) {
		if a := int32(size.Partners); !member[[2]int32{a, int32(u)}] {
			add(row{account: a, user: int32(u), parent: -1, kind: steward.KindExternal})
			extra--
		}
	}
	for extra > 0 {
		u := int32(rng.IntN(size.Users))
		h := home(int(u))
		if isPartner(h) && rng.Float64() < size.PartnerShare {
			first, n := clientsOf(h)
			c := int32(size.Partners + (first-size.Partners+rng.IntN(n))%standard)
			if member[[2]int32{c, u}] {
				continue
			}
			relationships[[2]int32{int32(h), c}] = true
			add(row{account: c, user: u, partner: int32(h), parent: -1, kind: steward.KindPartner, perms: 1})
			extra--
			continue
		}
		a := int32(rng.IntN(size.Accounts))
		if int(a) == h || member[[2]int32{a, u}] {
			continue
		}
		redelegate := rng.Float64() < size.DelegateShare
		add(row{account: a, user: u, parent: -1, kind: steward.KindExternal, perms: uint8(rng.IntN(len(perms))), redelegate: redelegate})
		extra--
		if colleague := u + int32(size.Accounts); redelegate && int(colleague) < size.Users && !member[[2]int32{a, colleague}] && extra > 0 {
			add(row{account: a, user: colleague, parent: int32(len(rows) - 1), kind: steward.KindDelegate})
			extra--
		}
	}
	member = nil
	w.Memberships = len(rows)
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = steward.NewID(steward.PrefixMembership, now)
		if len(w.Samples) < 64 || sampleMissing(w.Samples, r.kind) {
			w.Samples = append(w.Samples, Sample{UserID: users[r.user], AccountID: w.Accounts[r.account], Permission: Perm, Kind: r.kind})
		}
	}
	if _, err := insert(ctx, b, "memberships", []string{"id", "account_id", "user_id", "kind", "status", "role", "permissions", "ends_at",
		"granted_by", "partner_id", "parent_id", "allow_redelegation", "delegates_end_at", "managed_by", "created_at", "updated_at"},
		len(rows), progress, func(i int) []any {
			r := rows[i]
			role, ps, grantedBy, partner, parent := steward.RoleMember, perms[r.perms], "operator", "", ""
			switch {
			case r.super:
				role, ps = steward.RoleSuperAdmin, "[]"
			case r.kind == steward.KindPartner:
				role, partner = steward.RolePartnerAdmin, w.Accounts[r.partner]
			case r.kind == steward.KindDelegate:
				grantedBy, parent = users[rows[r.parent].user], ids[r.parent]
			}
			return []any{ids[i], w.Accounts[r.account], users[r.user], string(r.kind), "active", role, ps, nil, grantedBy, partner, parent,
				boolInt(r.redelegate), nil, "", us, us}
		}); err != nil {
		return nil, err
	}
	// The big partner manages all its clients, memberships or not, so that
	// its client list has BigPartnerClients entries.
	if size.Partners > 0 {
		first, n := clientsOf(0)
		for i := range n {
			relationships[[2]int32{0, int32(size.Partners + (first-size.Partners+i)%standard)}] = true
		}
	}
	for pc := range relationships {
		w.Relationships = append(w.Relationships, [2]string{w.Accounts[pc[0]], w.Accounts[pc[1]]})
	}
	w.Took = time.Since(start)
	return w, nil
}

func sampleMissing(samples []Sample, kind steward.MembershipKind) bool {
	for _, s := range samples {
		if s.Kind == kind {
			return false
		}
	}
	return true
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// insert bulk-inserts n rows made by row, reporting progress.
func insert(ctx context.Context, b Bulk, table string, columns []string, n int, progress Progress, row func(i int) []any) (int, error) {
	progress(table, 0, n)
	return b.BulkInsert(ctx, table, columns, func(yield func([]any) bool) {
		for i := range n {
			if i%10000 == 0 {
				progress(table, i, n)
			}
			if !yield(row(i)) {
				return
			}
		}
		progress(table, n, n)
	})
}
