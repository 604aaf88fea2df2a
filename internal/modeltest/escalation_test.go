package modeltest_test

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/authz"
	"github.com/steward-iam/steward/internal/pgtest"
	"github.com/steward-iam/steward/postgres"
	"github.com/steward-iam/steward/sqlite"
	"pgregory.net/rapid"
)

// The escalation model test runs random sequences of every write the
// service offers (roles, members, the partner console, access links,
// invitations, delegations, external users' options, SCIM, user status,
// the passing of time) by random actors of several tenants, and checks
// after every step an independent model of SPEC §2:
//
//   - provenance (R-GRANT-1, R-GRANT-2, R-GRANT-5): a permission a user
//     comes to hold in an account at a time τ was held at τ by the actor
//     that gave it (the inviter, for an accepted invitation), or was given
//     to that user there up to τ before (a reactivation restores, it does
//     not give). Probing several τ up to a year ahead catches what outlives
//     its granter: a bounded inviter gives nothing past its own end.
//   - R-SUPER-2: a super admin is made or unmade (role, status, SCIM) only
//     by an actor holding account.super_admins.manage there.
//   - R-SUPER-1: every account keeps an active super admin.
//   - isolation: an actor writes only in accounts where it holds something,
//     or, through its own partner account's console, in that partner's
//     clients whose relationship holds (R-PARTNER-1, R-PARTNER-11); and it
//     reads nothing of any other account.
//
// The number of operations: -escalation.ops, else STEWARD_MODEL_OPS, else
// 100,000 (2,000 under the race detector); -long makes it 1,000,000.
var (
	flagOps  = flag.Int("escalation.ops", 0, "operations of TestEscalationModel (default 100,000; 2,000 with -race)")
	flagLong = flag.Bool("long", false, "run TestEscalationModel with 1,000,000 operations")
	// -escalation.report logs every kind of violation once and goes on,
	// to see at a glance everything a build gets wrong.
	flagReport    = flag.Bool("escalation.report", false, "log the first violation of each kind and go on instead of failing")
	reported      = map[string]int{}
	opStats       = map[string][2]int{} // name → refused, done
	firstReported = map[string]string{}
)

const stepsPerWorld = 250

var (
	bg = context.Background()
	op = steward.NewContextWithActor(bg, &steward.Actor{Operator: true})
	t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	// A small product catalogue keeps the model's snapshot cheap; the
	// system permissions are all there.
	cat = steward.MustCatalogue([]steward.Permission{
		{Key: "crm.contacts.view", Description: "View contacts"},
		{Key: "crm.contacts.edit", Description: "Edit contacts"},
		{Key: "reports.view", Description: "View reports"},
	})
	perms = cat.All()
	// Probe offsets: now, and ahead, to see what outlives its granter.
	probes = []time.Duration{0, 36 * time.Hour, 15 * 24 * time.Hour, 45 * 24 * time.Hour, 400 * 24 * time.Hour}
)

// backend is a store the check index can load from: both stores are.
type backend interface {
	steward.Store
	authz.Source
}

func totalOps() int {
	switch {
	case *flagOps > 0:
		return *flagOps
	case *flagLong:
		return 1_000_000
	}
	if v, err := strconv.Atoi(os.Getenv("STEWARD_MODEL_OPS")); err == nil && v > 0 {
		return v
	}
	if raceEnabled {
		return 2_000
	}
	return 100_000
}

func TestEscalationModel(t *testing.T) {
	runModel(t, totalOps(), func(t testing.TB) backend {
		db, err := sqlite.Open(filepath.Join(t.TempDir(), "steward.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(bg); err != nil {
			t.Fatal(err)
		}
		return db
	})
}

// TestEscalationModelPostgres runs the same model on PostgreSQL, with fewer
// operations: the rules live in the service, the store only has to keep
// them under its own transactions.
func TestEscalationModelPostgres(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	n := totalOps() / 20
	runModel(t, max(n, 500), func(t testing.TB) backend {
		db, err := postgres.Open(bg, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(bg); err != nil {
			t.Fatal(err)
		}
		return db
	})
}

func runModel(t *testing.T, ops int, open func(testing.TB) backend) {
	worlds := max(1, ops/stepsPerWorld)
	if f := flag.Lookup("rapid.checks"); f != nil && f.Value.String() == f.DefValue {
		f.Value.Set(strconv.Itoa(worlds))
		defer f.Value.Set(f.DefValue)
	}
	store := open(t)
	var done, refused int
	seq := 0
	// Each world starts after the last one ended: ids begin with the time,
	// and the outbox is read newest first.
	start := t0
	rapid.Check(t, func(rt *rapid.T) {
		seq++
		m := newModel(rt, store, seq, start)
		defer func() { start = m.now.Add(24 * time.Hour) }()
		for range stepsPerWorld {
			if m.step() {
				done++
			} else {
				refused++
			}
		}
	})
	if *flagReport {
		t.Logf("operations (refused, done): %v", opStats)
		t.Logf("violations by kind: %v", reported)
		for _, msg := range firstReported {
			t.Log(msg)
		}
		if len(reported) > 0 {
			t.Fail()
		}
	}
	t.Logf("escalation model: %d operations in %d worlds (%d changed something, %d refused)", done+refused, worlds, done, refused)
}

// key names one user's holding of one permission in one account.
type key struct{ user, account, perm string }

type model struct {
	t        *rapid.T
	st       backend
	svc      *steward.Service
	ix       *authz.Index
	now      time.Time
	tag      string
	users    []string // every user id of the world
	emails   map[string]string
	home     map[string]string // user → home account
	accounts []string
	partners []string            // accounts of kind partner
	roles    map[string][]string // account → custom role ids
	// given is, per holding, the time up to which some holder gave it
	// (noEnd: without end).
	given map[key]time.Time
	// held is the last snapshot: the holdings at each probe offset; supers
	// its super admins: [user, account] of super_admin memberships that hold.
	held   map[key]holding
	supers map[[2]string]bool
	// cascade holds, during a step, the ids its home-account decision
	// reaches: the user, its memberships, its delegates and theirs.
	cascade map[string]bool
	// pending invitations, and the access links issued.
	invites []invite
	// roleGiven is, per custom role and permission, the time up to which
	// the role's editors held what they put in it (R-GRANT-3).
	roleGiven map[string]map[string]time.Time
	links     []link
	// requests are the access requests filed: [account, id] (R-REQUEST-1).
	requests [][2]string
	// renewing holds, during an Advance, the [user, account] whose access
	// the scheduler may renew: partner memberships under a relationship
	// with auto_extend, external users with it and their delegates (R-LIFE-1).
	renewing map[[2]string]bool
	// elevations are the elevations asked for: [account, id] (R-ELEVATE-2).
	elevations [][2]string
}

type invite struct {
	token, email, account, inviter, role string
	// cover is what the inviter held when it invited: per permission, the
	// time up to which it held it.
	cover map[string]time.Time
}

type link struct {
	token, partner, user string
}

var noEnd = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

func newModel(rt *rapid.T, st backend, seq int, start time.Time) *model {
	m := &model{t: rt, st: st, now: start, tag: fmt.Sprintf("w%d", seq),
		emails: map[string]string{}, home: map[string]string{}, roles: map[string][]string{},
		given: map[key]time.Time{}, roleGiven: map[string]map[string]time.Time{}}
	m.svc = steward.NewService(st, cat, nil)
	m.svc.Now = func() time.Time { return m.now }
	m.svc.BaseURL = "https://steward.example.com"
	m.ix = authz.New(st, cat, nil)
	if err := m.ix.Load(bg); err != nil {
		rt.Fatal(err)
	}
	m.svc.OnCommit = m.ix.OnCommit
	m.svc.Checker = m.ix
	m.build()
	m.held = m.snapshot()
	m.supers = m.superAdmins(m.held)
	for k, h := range m.held {
		m.given[k] = h.until
	}
	return m
}

// holding is one key's state in a snapshot: held or not at each probe,
// and until when it holds, as the check explains it (R-CHECK-2).
type holding struct {
	at    []bool
	until time.Time
}

func (m *model) as(userID string) context.Context {
	return steward.NewContextWithActor(bg, &steward.Actor{UserID: userID})
}

func (m *model) must(err error, what string) {
	if err != nil {
		m.t.Fatalf("setup %s: %v", what, err)
	}
}

// build makes the world: a partner P with two clients and a partner Q of
// P itself, a customer X whose users are external administrators (and a
// delegate) in client C1, and a C1 user who may only provision over SCIM.
func (m *model) build() {
	account := func(name string, kind steward.AccountKind) (string, string) {
		email := fmt.Sprintf("owner-%s-%s@%s.example", strings.ToLower(name), m.tag, strings.ToLower(name))
		a, _, err := m.svc.CreateAccount(op, steward.NewAccount{Name: name + " " + m.tag, Kind: kind,
			Billing: steward.Billing{HasBillingInfo: true, Plan: "pro"},
			Owner:   &steward.NewOwner{Email: email, Name: "Owner of " + name}})
		m.must(err, "account "+name)
		u, err := m.st.FindUserByEmail(bg, email)
		m.must(err, "owner "+name)
		m.accounts = append(m.accounts, a.ID)
		if kind == steward.AccountPartner {
			m.partners = append(m.partners, a.ID)
		}
		m.addUser(u.ID, email, a.ID)
		return a.ID, u.ID
	}
	user := func(home, name, role string) string {
		email := fmt.Sprintf("%s-%s@%s.example", name, m.tag, strings.ToLower(name))
		u, _, err := m.svc.CreateUser(op, steward.NewUser{Email: email, Name: name, HomeAccountID: home, Role: role})
		m.must(err, "user "+name)
		m.addUser(u.ID, email, home)
		return u.ID
	}
	role := func(account, name string, ps ...string) string {
		r, _, err := m.svc.CreateRole(op, account, steward.RoleInput{Name: &name, Permissions: &ps})
		m.must(err, "role "+name)
		m.roles[account] = append(m.roles[account], r.ID)
		return r.ID
	}
	P, pOwner := account("P", steward.AccountPartner)
	Q, _ := account("Q", steward.AccountPartner)
	C1, c1Owner := account("C1", steward.AccountStandard)
	C2, c2Owner := account("C2", steward.AccountStandard)
	X, _ := account("X", steward.AccountStandard)

	ops := role(P, "Partner ops", "partner.employees.manage", "partner.clients.view", "crm.contacts.view")
	role(P, "Viewer", "crm.contacts.view")
	pe1 := user(P, "pe1", ops)
	pe2 := user(P, "pe2", "member")
	qe := user(Q, "qe", "member")
	helpers := role(C1, "Helpers", "crm.contacts.view", "reports.view", "account.external_users.invite", "account.users.manage")
	scim := role(C1, "Provisioner", "account.scim.provision")
	role(C1, "Viewers", "crm.contacts.view")
	role(C2, "Editors", "crm.contacts.view", "crm.contacts.edit")
	role(X, "Staff", "crm.contacts.view")
	user(C1, "c1m", "member")
	user(C1, "c1s", scim)
	user(C1, "c1a", "super_admin")
	user(C2, "c2m", "member")
	x1 := user(X, "x1", "member")
	x2 := user(X, "x2", "member")

	approve := func(partner, partnerUser, client, clientOwner string) {
		l, _, err := m.svc.CreateAccessLink(op, partner, partnerUser)
		m.must(err, "access link")
		_, _, err = m.svc.ApproveAccessLink(m.as(clientOwner), tokenOf(l.URL), client)
		m.must(err, "approve")
	}
	approve(P, pOwner, C1, c1Owner)
	approve(P, pe1, C2, c2Owner)
	approve(Q, qe, P, pOwner)
	_, _, err := m.svc.AddEmployees(m.as(pOwner), P, C1, []string{pe2}, "member")
	m.must(err, "add employee")

	ends := m.now.Add(20 * 24 * time.Hour)
	_, _, err = m.svc.Invite(m.as(c1Owner), C1, helpers, steward.NewInvitations{
		Emails: steward.EmailList{m.emails[x1]}, Consent: m.consent(), AllowRedelegation: true, EndsAt: &ends})
	m.must(err, "invite")
	tok := m.mailedToken(m.emails[x1], C1)
	_, _, err = m.svc.AcceptInvitation(m.as(x1), tok)
	m.must(err, "accept")
	_, _, err = m.svc.AddDelegates(m.as(x1), C1, x1, steward.NewDelegates{UserIDs: []string{x2}})
	m.must(err, "delegate")

	// An employee of P who is an external administrator of C2 on its own,
	// which P may link for management credit (R-PARTNER-6).
	_, _, err = m.svc.Invite(m.as(c2Owner), C2, m.roles[C2][0], steward.NewInvitations{
		Emails: steward.EmailList{m.emails[pe2]}, Consent: m.consent()})
	m.must(err, "invite employee")
	_, _, err = m.svc.AcceptInvitation(m.as(pe2), m.mailedToken(m.emails[pe2], C2))
	m.must(err, "accept employee")
}

func (m *model) addUser(id, email, home string) {
	m.users = append(m.users, id)
	m.emails[id] = email
	m.home[id] = home
}

func (m *model) consent() steward.ConsentInput {
	return steward.ConsentInput{Accepted: true, Version: m.svc.Consent().Version}
}

func tokenOf(url string) string { return url[strings.LastIndex(url, "/")+1:] }

// mailedToken reads the pending invitation token mailed to email for the
// account (ids of one millisecond are in no order, so it checks).
func (m *model) mailedToken(email, account string) string {
	msgs, err := m.st.FindMessages(bg, 1000)
	if err != nil {
		m.t.Fatal(err)
	}
	const prefix = "/invitations/"
	for _, msg := range msgs {
		if msg.To != email || msg.Kind != "invitation" {
			continue
		}
		i := strings.Index(msg.Text, prefix)
		if i < 0 {
			continue
		}
		tok, _, _ := strings.Cut(msg.Text[i+len(prefix):], "\n")
		tok = strings.TrimSpace(tok)
		inv, err := m.st.FindInvitationByTokenHash(bg, steward.HashSecret(tok))
		if err == nil && inv.Status == steward.InvitationPending && inv.AccountID == account {
			return tok
		}
	}
	return ""
}

// snapshot is every holding of every user of the world at each probe.
func (m *model) snapshot() map[key]holding {
	out := map[key]holding{}
	for _, u := range m.users {
		for _, a := range m.accounts {
			for _, p := range perms {
				var h holding
				for i, d := range probes {
					if !m.ix.Allowed(u, a, p, m.now.Add(d).UnixMicro()) {
						continue
					}
					if h.at == nil {
						h.at = make([]bool, len(probes))
					}
					h.at[i] = true
					h.until = m.now.Add(d)
				}
				if h.at == nil {
					continue
				}
				if h.at[len(probes)-1] {
					h.until = noEnd
				} else {
					// Between the last probe that holds and the next, find
					// the last instant that holds: ends come from end dates,
					// grants, chains and policies alike.
					last := 0
					for i, held := range h.at {
						if held {
							last = i
						}
					}
					lo, hi := m.now.Add(probes[last]).UnixMicro(), m.now.Add(probes[last+1]).UnixMicro()
					for hi-lo > 1 {
						mid := lo + (hi-lo)/2
						if m.ix.Allowed(u, a, p, mid) {
							lo = mid
						} else {
							hi = mid
						}
					}
					h.until = time.UnixMicro(hi).UTC()
				}
				out[key{u, a, p}] = h
			}
		}
	}
	return out
}

// renewable returns the [user, account] whose access auto_extend renews:
// partner memberships under a relationship with it, external memberships
// with it and the delegates below those.
func (m *model) renewable() map[[2]string]bool {
	out := map[[2]string]bool{}
	for _, a := range m.accounts {
		ms, _, err := m.st.FindMemberships(bg, steward.MembershipFilter{AccountID: a, Page: steward.Page{Limit: steward.MaxPageLimit}})
		if err != nil {
			m.t.Fatal(err)
		}
		auto := map[string]bool{}
		for _, mem := range ms {
			switch mem.Kind {
			case steward.KindPartner:
				if rel, err := m.st.FindRelationship(bg, mem.PartnerID, a); err == nil && rel.AutoExtend {
					out[[2]string{mem.UserID, a}] = true
				}
			case steward.KindExternal:
				if mem.AutoExtend {
					out[[2]string{mem.UserID, a}], auto[mem.ID] = true, true
				}
			}
		}
		for _, mem := range ms {
			if mem.Kind == steward.KindDelegate && auto[mem.ParentID] {
				out[[2]string{mem.UserID, a}] = true
			}
		}
	}
	return out
}

// heldBefore reports whether the last snapshot held k at any probe.
func (m *model) heldBefore(k key) bool {
	return slices.Contains(m.held[k].at, true)
}

// holds reports whether user held perm in account at probe i, in the last snapshot.
func (m *model) holds(user, account, perm string, i int) bool {
	h := m.held[key{user, account, perm}]
	return h.at != nil && h.at[i]
}

// standing reports whether the user has a membership in the account that
// holds now, whatever it grants (R-CHECK-1).
func (m *model) standing(user, account string) bool {
	res, err := m.ix.Check(bg, steward.CheckRequest{UserID: user, AccountID: account, Permission: perms[0]}, m.now)
	if err != nil {
		return false
	}
	return res.Reason.Code == steward.ReasonGranted || res.Reason.Code == steward.ReasonPermissionMissing
}

// reach is where the actor may write: accounts where it has standing
// now, and the clients, with a relationship that holds, of a partner
// account where it is an internal member (R-PARTNER-1: never further).
func (m *model) reach(actor string) map[string]bool {
	r := map[string]bool{}
	for _, a := range m.accounts {
		if m.standing(actor, a) {
			r[a] = true
		}
	}
	for _, p := range m.partners {
		mem, err := m.st.FindMembership(bg, p, actor)
		if err != nil || mem.Kind != steward.KindInternal || !m.standing(actor, p) {
			continue
		}
		for _, c := range m.accounts {
			if m.relationshipHolds(p, c) {
				r[c] = true
			}
		}
	}
	return r
}

func (m *model) relationshipHolds(partner, client string) bool {
	rel, err := m.st.FindRelationship(bg, partner, client)
	if err != nil {
		return false
	}
	switch rel.Status {
	case steward.RelationshipActive, steward.RelationshipEnding: // until its end (R-PARTNER-10, R-LIFE-1)
		return rel.EndsAt == nil || rel.EndsAt.After(m.now)
	}
	return false
}

// action is one drawn operation: who acts, and what it does. run returns
// an error when the service refused it. invite is the invitation an
// acceptance accepts: its inviter is the granter; extra adds accounts the
// operation may write in besides the actor's reach.
type action struct {
	name   string
	actor  string // "" for the operator
	run    func(ctx context.Context) error
	invite *invite
	extra  []string
	// cascade is the user whose status changes in its home account: its
	// memberships elsewhere follow (R-PARTNER-12, SPEC §4 removal).
	cascade string
	// superAdminRules: the operation may make or unmake super admins only
	// as R-SUPER-2 says; partner-side operations and relationship ends are
	// judged by their own rules (R-PARTNER-8, -9, -11).
	superAdminExempt bool
	// restores: the operation brings back a membership a holder gave
	// before (a reactivation); it may bring back what the actor does not
	// hold, but nothing past the actor's own end (R-GRANT-5).
	restores bool
	// employeesOf is the partner whose console the operation uses: it
	// changes only the memberships of that partner's own users (R-PARTNER-8).
	employeesOf string
	// givenBy is who gives what the operation adds when the actor does not:
	// the granter of the eligibility an activation without approval uses
	// (R-ELEVATE-1..2).
	givenBy string
}

// cascadeOf is target when acc is its home account.
func cascadeOf(acc, target string, home map[string]string) string {
	if home[target] == acc {
		return target
	}
	return ""
}

func (m *model) chance(tenths int) bool { return rapid.IntRange(0, 9).Draw(m.t, "chance") < tenths }

// homedIn lists the users whose home is the account.
func (m *model) homedIn(account string) []string {
	var out []string
	for _, u := range m.users {
		if m.home[u] == account {
			out = append(out, u)
		}
	}
	return out
}

// clientsOf lists the accounts the partner has a relationship with, in any state.
func (m *model) clientsOf(partner string) []string {
	var out []string
	for _, c := range m.accounts {
		if _, err := m.st.FindRelationship(bg, partner, c); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// members lists the users with a membership in the account, of the kind
// ("" for every kind), in any state.
func (m *model) members(account string, kind steward.MembershipKind) []string {
	ms, _, err := m.st.FindMemberships(bg, steward.MembershipFilter{AccountID: account, Kind: kind, Page: steward.Page{Limit: steward.MaxPageLimit}})
	if err != nil {
		m.t.Fatal(err)
	}
	out := make([]string, 0, len(ms))
	for _, mem := range ms {
		out = append(out, mem.UserID)
	}
	return out
}

func (m *model) pick(label string, from []string) string {
	return rapid.SampledFrom(from).Draw(m.t, label)
}

func (m *model) pickRole(account string) string {
	choices := append([]string{"member", "super_admin", "partner_admin"}, m.roles[account]...)
	return m.pick("role", choices)
}

func (m *model) pickPerms() []string {
	return steward.NewSet(rapid.SliceOfN(rapid.SampledFrom(perms), 0, 5).Draw(m.t, "perms")...)
}

func (m *model) pickEnd() *time.Time {
	if rapid.Bool().Draw(m.t, "hasEnd") {
		return nil
	}
	d := rapid.SampledFrom([]time.Duration{time.Hour, 3 * 24 * time.Hour, 10 * 24 * time.Hour, 30 * 24 * time.Hour, 200 * 24 * time.Hour}).Draw(m.t, "end")
	e := m.now.Add(d)
	return &e
}

// draw picks the next operation.
func (m *model) draw() action {
	opn := rapid.IntRange(0, 36).Draw(m.t, "op")
	if opn > 34 { // elevation is rare among writes, but activation is where it can go wrong
		opn = 32 - (opn - 35)
	}
	partner := m.pick("partner", m.partners)
	acc := m.pick("account", m.accounts)
	partnerSide := opn >= 10 && opn <= 17
	if cs := m.clientsOf(partner); partnerSide && len(cs) > 0 && m.chance(8) {
		acc = m.pick("client", cs)
	}
	// Mostly members of the account act on members of it, so that most
	// operations get past the first refusal; the others probe the edges.
	members := m.members(acc, "")
	actor, target := m.pick("actor", m.users), m.pick("target", m.users)
	if len(members) > 0 && m.chance(7) {
		actor = m.pick("memberActor", members)
	}
	if len(members) > 0 && m.chance(7) {
		target = m.pick("memberTarget", members)
	}
	switch {
	case partnerSide:
		if staff := append(m.homedIn(partner), m.members(acc, steward.KindPartner)...); m.chance(6) {
			actor = m.pick("partnerActor", staff)
		}
		if m.chance(8) {
			target = m.pick("employee", m.homedIn(partner))
		}
	case opn == 20:
		if ext := m.members(acc, steward.KindExternal); len(ext) > 0 && m.chance(8) {
			target = m.pick("external", ext)
			if m.chance(3) {
				actor = m.pick("self", append(m.members(acc, steward.KindDelegate), target))
			}
		}
	case opn == 21:
		if ext := m.members(acc, steward.KindExternal); len(ext) > 0 && m.chance(8) {
			actor = m.pick("parent", ext)
			target = m.pick("colleague", m.homedIn(m.home[actor]))
		}
	case opn == 22:
		if m.chance(7) {
			target = m.pick("ownUser", m.homedIn(acc))
		}
	case opn == 18:
		// Inviters are mostly outsiders who may invite (a bounded external
		// user above all, R-GRANT-5), invitees users not in the account yet.
		if ext := m.members(acc, steward.KindExternal); len(ext) > 0 && m.chance(5) {
			actor = m.pick("inviter", append(ext, m.members(acc, steward.KindDelegate)...))
		}
		var outside []string
		for _, u := range m.users {
			if !slices.Contains(members, u) {
				outside = append(outside, u)
			}
		}
		if len(outside) > 0 && m.chance(8) {
			target = m.pick("invitee", outside)
		}
	case opn == 27: // an outsider asks, for itself or an employee of its partner
		if out := append(m.members(acc, steward.KindExternal), m.members(acc, steward.KindPartner)...); len(out) > 0 && m.chance(8) {
			actor = m.pick("requester", out)
			if m.chance(6) {
				target = actor
			}
		}
	case opn == 30:
		if m.chance(7) {
			target = m.pick("homeUser", m.homedIn(acc))
		}
	case opn == 31: // eligibilities are mostly made by those who manage members
		var admins []string
		for _, u := range members {
			if m.holds(u, acc, steward.PermUsersManage, 0) {
				admins = append(admins, u)
			}
		}
		if len(admins) > 0 && m.chance(8) {
			actor = m.pick("eligibilityGranter", admins)
		}
	}
	ctx := m.as(actor)
	sel := steward.EmployeeSelection{
		UserIDs:    []string{target},
		AccountIDs: []string{acc},
	}
	a := action{actor: actor}
	switch opn {
	case 0, 1:
		a.name, a.run = "ChangeMemberRole", func(ctx context.Context) error {
			_, _, err := m.svc.ChangeMemberRole(ctx, acc, target, m.pickRole(acc))
			return err
		}
	case 2:
		a.name, a.cascade = "DeactivateMember", cascadeOf(acc, target, m.home)
		a.run = func(ctx context.Context) error {
			_, _, err := m.svc.DeactivateMember(ctx, acc, target)
			return err
		}
	case 3:
		a.name, a.cascade, a.restores = "ReactivateMember", cascadeOf(acc, target, m.home), true
		a.run = func(ctx context.Context) error {
			_, _, err := m.svc.ReactivateMember(ctx, acc, target)
			return err
		}
	case 4:
		a.name, a.cascade = "RemoveMember", cascadeOf(acc, target, m.home)
		a.run = func(ctx context.Context) error {
			_, err := m.svc.RemoveMember(ctx, acc, target)
			return err
		}
	case 5:
		a.name, a.run = "CreateRole", func(ctx context.Context) error {
			name, ps := fmt.Sprintf("r%d", rapid.IntRange(0, 1e6).Draw(m.t, "rn")), m.pickPerms()
			r, _, err := m.svc.CreateRole(ctx, acc, steward.RoleInput{Name: &name, Permissions: &ps})
			if err == nil {
				m.roles[acc] = append(m.roles[acc], r.ID)
				m.giveRole(r.ID, actor, acc, ps)
			}
			return err
		}
	case 6:
		if len(m.roles[acc]) == 0 {
			return m.draw()
		}
		a.name, a.run = "UpdateRole", func(ctx context.Context) error {
			ps, id := m.pickPerms(), m.pick("r", m.roles[acc])
			_, _, err := m.svc.UpdateRole(ctx, acc, id, steward.RoleInput{Permissions: &ps})
			if err == nil {
				m.giveRole(id, actor, acc, ps)
			}
			return err
		}
	case 7:
		if len(m.roles[acc]) == 0 {
			return m.draw()
		}
		a.name, a.run = "DeleteRole", func(ctx context.Context) error {
			_, err := m.svc.DeleteRole(ctx, acc, m.pick("r", m.roles[acc]))
			return err
		}
	case 8:
		a.name, a.run = "CreateAccessLink", func(ctx context.Context) error {
			l, _, err := m.svc.CreateAccessLink(ctx, partner, target)
			if err == nil {
				m.links = append(m.links, link{token: tokenOf(l.URL), partner: partner, user: target})
			}
			return err
		}
	case 9:
		if len(m.links) == 0 {
			return m.draw()
		}
		l := m.links[rapid.IntRange(0, len(m.links)-1).Draw(m.t, "link")]
		a.name, a.extra = "ApproveAccessLink", []string{l.partner}
		opts := steward.ApprovalOptions{EndsAt: m.pickEnd()}
		if opts.EndsAt != nil && m.chance(5) {
			auto := true
			opts.AutoExtend = &auto
		}
		a.run = func(ctx context.Context) error {
			_, _, err := m.svc.ApproveAccessLinkWith(ctx, l.token, acc, opts)
			return err
		}
	case 10:
		if m.chance(4) {
			// The same to many clients at once (R-PARTNER-4): the target
			// and maybe another employee, to the account and maybe
			// another client of the partner, in one transaction.
			clients, users := []string{acc}, []string{target}
			if cs := m.clientsOf(partner); len(cs) > 0 && m.chance(7) {
				if c := m.pick("otherClient", cs); c != acc {
					clients = append(clients, c)
				}
			}
			if es := m.homedIn(partner); len(es) > 0 && m.chance(5) {
				if u := m.pick("otherEmployee", es); u != target {
					users = append(users, u)
				}
			}
			role := m.pickRole(acc)
			a.name, a.superAdminExempt = "AddEmployeesToClients", true
			a.run = func(ctx context.Context) error {
				_, _, err := m.svc.AddEmployeesToClients(ctx, partner, clients, users, role)
				return err
			}
			break
		}
		a.name, a.superAdminExempt = "AddEmployees", true
		a.run = func(ctx context.Context) error {
			_, _, err := m.svc.AddEmployees(ctx, partner, acc, []string{target}, m.pickRole(acc))
			return err
		}
	case 11:
		a.name, a.superAdminExempt = "ChangeEmployeeRole", false
		a.run = func(ctx context.Context) error {
			_, _, err := m.svc.ChangeEmployeeRole(ctx, partner, acc, target, m.pickRole(acc))
			return err
		}
	case 12:
		a.name, a.superAdminExempt, a.employeesOf = "PartnerRemoveEmployees", true, partner
		a.run = func(ctx context.Context) error {
			_, _, err := m.svc.RemoveEmployees(ctx, partner, sel)
			return err
		}
	case 13:
		a.name, a.superAdminExempt, a.employeesOf = "PartnerDeactivateEmployees", true, partner
		a.run = func(ctx context.Context) error {
			_, _, err := m.svc.DeactivateEmployees(ctx, partner, sel)
			return err
		}
	case 14:
		a.name, a.superAdminExempt, a.employeesOf, a.restores = "PartnerReactivateEmployees", true, partner, true
		a.run = func(ctx context.Context) error {
			_, _, err := m.svc.ReactivateEmployees(ctx, partner, sel)
			return err
		}
	case 15:
		a.name, a.superAdminExempt = "ConvertToPartnerAdmin", true
		a.run = func(ctx context.Context) error {
			_, _, err := m.svc.ConvertToPartnerAdmin(ctx, partner, acc, target, rapid.Bool().Draw(m.t, "billing"))
			return err
		}
	case 16:
		if m.chance(5) {
			// R-LIFE-1: the client sets, moves or clears the end date and
			// auto_extend; it ends or extends access, never widens a grant.
			var upd steward.RelationshipUpdate
			switch rapid.IntRange(0, 2).Draw(m.t, "relEndOp") {
			case 0:
				if e := m.pickEnd(); e != nil {
					upd.EndsAt = steward.Optional[time.Time]{Set: true, Value: *e}
				}
			case 1:
				upd.EndsAt = steward.Optional[time.Time]{Set: true, Null: true}
			}
			if rapid.Bool().Draw(m.t, "setAutoExtend") {
				b := rapid.Bool().Draw(m.t, "autoExtend")
				upd.AutoExtend = &b
			}
			a.name, a.superAdminExempt = "UpdatePartner", true
			a.run = func(ctx context.Context) error {
				_, _, err := m.svc.UpdatePartner(ctx, acc, partner, upd)
				return err
			}
			break
		}
		a.name, a.superAdminExempt = "EndRelationship", true
		a.run = func(ctx context.Context) error {
			_, _, err := m.svc.EndRelationship(ctx, acc, partner)
			return err
		}
	case 17:
		a.name, a.superAdminExempt = "LinkEmployee", true
		a.run = func(ctx context.Context) error {
			_, _, err := m.svc.LinkEmployee(ctx, partner, target, acc)
			return err
		}
	case 18:
		roles := append([]string{"partner_admin", "member"}, m.roles[acc]...)
		role := m.pick("irole", roles)
		a.name, a.run = "Invite", func(ctx context.Context) error {
			_, _, err := m.svc.Invite(ctx, acc, role, steward.NewInvitations{
				Emails: steward.EmailList{m.emails[target]}, Consent: m.consent(),
				AllowRedelegation: rapid.Bool().Draw(m.t, "redelegate"), EndsAt: m.pickEnd()})
			if err == nil {
				if tok := m.mailedToken(m.emails[target], acc); tok != "" {
					m.invites = append(m.invites, invite{token: tok, email: m.emails[target], account: acc, inviter: actor, role: role, cover: m.cover(actor, acc)})
				}
			}
			return err
		}
	case 19:
		if len(m.invites) == 0 {
			return m.draw()
		}
		inv := m.invites[rapid.IntRange(0, len(m.invites)-1).Draw(m.t, "inv")]
		// The invitee accepts (another user tries too, sometimes): what it
		// gains, the inviter gave.
		if rapid.IntRange(0, 3).Draw(m.t, "rightUser") > 0 {
			for _, u := range m.users {
				if m.emails[u] == inv.email {
					a.actor = u
				}
			}
		}
		a.name, a.invite, a.extra = "AcceptInvitation", &inv, []string{inv.account}
		a.run = func(ctx context.Context) error {
			_, _, err := m.svc.AcceptInvitation(ctx, inv.token)
			return err
		}
	case 20:
		a.name, a.run = "UpdateExternalUser", func(ctx context.Context) error {
			var upd steward.ExternalUpdate
			if rapid.Bool().Draw(m.t, "setRedelegate") {
				b := rapid.Bool().Draw(m.t, "redelegate")
				upd.AllowRedelegation = &b
			}
			switch rapid.IntRange(0, 2).Draw(m.t, "endsOp") {
			case 0:
				upd.EndsAt = m.pickEnd()
			case 1:
				upd.ClearEndsAt = true
			}
			if m.chance(3) { // R-LIFE-1
				b := rapid.Bool().Draw(m.t, "autoExtend")
				upd.AutoExtend = &b
			}
			_, _, err := m.svc.UpdateExternalUser(ctx, acc, target, upd)
			return err
		}
	case 21:
		a.name, a.run = "AddDelegates", func(ctx context.Context) error {
			var ps *[]string
			if rapid.Bool().Draw(m.t, "somePerms") {
				p := m.pickPerms()
				ps = &p
			}
			_, _, err := m.svc.AddDelegates(ctx, acc, actor, steward.NewDelegates{UserIDs: []string{target}, Permissions: ps})
			return err
		}
	case 22:
		a.name, a.cascade, a.restores = "SCIMSetActive", cascadeOf(acc, target, m.home), true
		a.run = func(ctx context.Context) error {
			_, _, err := m.svc.SetProvisionedActive(ctx, acc, target, rapid.Bool().Draw(m.t, "active"))
			return err
		}
	case 23:
		a.name, a.run = "UpdateAccount", func(ctx context.Context) error {
			_, _, err := m.svc.UpdateAccount(ctx, acc, steward.AccountUpdate{})
			return err
		}
	case 25:
		// An access review of the account's outsiders: the actor starts it
		// as its reviewer, marks some items remove, and closes it, or
		// leaves it to the scheduler at its due date (R-REVIEW-1..3).
		a.name = "ReviewAndClose"
		a.run = func(ctx context.Context) error {
			def := steward.DecisionKeep
			if rapid.Bool().Draw(m.t, "defaultRemove") {
				def = steward.DecisionRemove
			}
			rv, _, err := m.svc.StartReview(ctx, acc, steward.NewReview{ReviewerIDs: []string{actor}, DueAt: m.now.Add(24 * time.Hour), DefaultDecision: def})
			if err != nil {
				return err
			}
			items, _, err := m.svc.FindReviewItems(ctx, acc, rv.ID, steward.Page{Limit: steward.MaxPageLimit})
			if err != nil {
				return err
			}
			for _, it := range items {
				if d := rapid.IntRange(0, 2).Draw(m.t, "decision"); d > 0 {
					dec := steward.DecisionKeep
					if d == 2 {
						dec = steward.DecisionRemove
					}
					// A refused decision (a super admin without
					// account.super_admins.manage) changes nothing.
					_, _, _ = m.svc.DecideReviewItem(ctx, acc, rv.ID, it.ID, steward.ItemDecision{Decision: dec})
				}
			}
			if rapid.Bool().Draw(m.t, "leaveToScheduler") {
				return nil
			}
			_, _, err = m.svc.CloseReview(ctx, acc, rv.ID)
			return err
		}
	case 26:
		a.name, a.run = "UpdatePolicy", func(ctx context.Context) error {
			var upd steward.PolicyUpdate
			if rapid.Bool().Draw(m.t, "setNever") {
				upd.NeverDelegable = steward.Optional[[]string]{Set: true, Value: m.pickPerms(), Null: m.chance(2)}
			}
			if rapid.Bool().Draw(m.t, "setMaxExt") {
				upd.MaxExternalDays = steward.Optional[int]{Set: true, Value: rapid.IntRange(1, 60).Draw(m.t, "maxExt"), Null: m.chance(2)}
			}
			if rapid.Bool().Draw(m.t, "setMaxPartner") {
				upd.MaxPartnerDays = steward.Optional[int]{Set: true, Value: rapid.IntRange(1, 60).Draw(m.t, "maxPartner"), Null: m.chance(2)}
			}
			if rapid.Bool().Draw(m.t, "setAllowed") {
				upd.AllowedPartners = steward.Optional[[]string]{Set: true, Value: []string{partner}, Null: m.chance(3)}
			}
			_, _, err := m.svc.UpdatePolicy(ctx, acc, upd)
			return err
		}
	case 27:
		a.name, a.run = "RequestAccess", func(ctx context.Context) error {
			r, _, err := m.svc.RequestAccess(ctx, acc, steward.NewAccessRequest{UserID: target, Permissions: m.pickPerms(), Reason: "model", EndsAt: m.pickEnd()})
			if err == nil {
				m.requests = append(m.requests, [2]string{acc, r.ID})
			}
			return err
		}
	case 28:
		if len(m.requests) == 0 {
			return m.draw()
		}
		r := m.requests[rapid.IntRange(0, len(m.requests)-1).Draw(m.t, "req")]
		if ms := m.members(r[0], ""); len(ms) > 0 && m.chance(8) {
			a.actor = m.pick("approver", ms)
		}
		decline := m.chance(3)
		a.name, a.run = "ApproveAccessRequest", func(ctx context.Context) error {
			var err error
			if decline {
				_, _, err = m.svc.DeclineAccessRequest(ctx, r[0], r[1])
			} else {
				_, _, err = m.svc.ApproveAccessRequest(ctx, r[0], r[1])
			}
			return err
		}
	case 31:
		role := m.pickRole(acc)
		a.name, a.run = "CreateEligibility", func(ctx context.Context) error {
			_, _, err := m.svc.CreateEligibility(ctx, acc, steward.NewEligibility{UserID: target, Role: role,
				MaxMinutes: rapid.SampledFrom([]int{30, 120, 480, 481}).Draw(m.t, "maxMinutes"), ApprovalRequired: rapid.Bool().Draw(m.t, "approval")})
			return err
		}
	case 32:
		// The eligible member activates (another member tries too,
		// sometimes): without approval, what it gains its granter gives.
		role := m.pickRole(acc)
		els, _, err := m.st.FindEligibilities(bg, steward.EligibilityFilter{AccountID: acc, Page: steward.Page{Limit: steward.MaxPageLimit}})
		if err != nil {
			m.t.Fatal(err)
		}
		minutes := []int{15, 60, 480, 500}
		if len(els) > 0 && m.chance(8) {
			el := els[rapid.IntRange(0, len(els)-1).Draw(m.t, "eligibility")]
			role, minutes = el.Role, []int{15, el.MaxMinutes, el.MaxMinutes, el.MaxMinutes + 1}
			if m.chance(8) {
				a.actor = el.UserID
			}
		}
		for _, el := range els { // the actor's own eligibility for the role, if any
			if el.UserID == a.actor && el.Role == role {
				a.givenBy = el.GrantedBy
			}
		}
		a.name, a.run = "RequestElevation", func(ctx context.Context) error {
			e, _, err := m.svc.RequestElevation(ctx, acc, steward.NewElevation{Role: role, Reason: "model",
				Minutes: rapid.SampledFrom(minutes).Draw(m.t, "minutes")})
			if err == nil {
				m.elevations = append(m.elevations, [2]string{acc, e.ID})
			}
			return err
		}
	case 33, 34:
		if len(m.elevations) == 0 {
			return m.draw()
		}
		e := m.elevations[rapid.IntRange(0, len(m.elevations)-1).Draw(m.t, "elevation")]
		if ms := m.members(e[0], ""); len(ms) > 0 && m.chance(8) {
			a.actor = m.pick("elevationActor", ms)
		}
		if opn == 33 {
			a.name, a.run = "ApproveElevation", func(ctx context.Context) error {
				_, _, err := m.svc.ApproveElevation(ctx, e[0], e[1])
				return err
			}
		} else {
			a.name, a.run = "EndElevation", func(ctx context.Context) error {
				_, _, err := m.svc.EndElevation(ctx, e[0], e[1])
				return err
			}
		}
	case 29:
		home := m.pick("revokedHome", append([]string{partner}, m.accounts...))
		a.name = "RevokeHomeAccount"
		a.run = func(ctx context.Context) error {
			_, _, err := m.svc.RevokeHomeAccount(ctx, acc, home)
			return err
		}
	case 30:
		a.name, a.cascade = "RevokeUser", target
		a.run = func(ctx context.Context) error {
			_, _, err := m.svc.RevokeUser(ctx, target)
			return err
		}
	case 24:
		// The operator: time passes and the jobs run, or a user's status in
		// its home account changes (R-PARTNER-12).
		a.actor = ""
		switch rapid.IntRange(0, 2).Draw(m.t, "opOp") {
		case 0:
			d := rapid.SampledFrom([]time.Duration{time.Hour, 2 * 24 * time.Hour, 8 * 24 * time.Hour, 25 * 24 * time.Hour}).Draw(m.t, "advance")
			a.name, a.run = "Advance", func(ctx context.Context) error {
				m.now = m.now.Add(d)
				return m.svc.RunDueJobs(ctx)
			}
		case 1:
			a.name, a.run = "DeactivateUser", func(ctx context.Context) error {
				_, _, err := m.svc.DeactivateUser(ctx, target)
				return err
			}
		case 2:
			a.name, a.run = "ReactivateUser", func(ctx context.Context) error {
				_, _, err := m.svc.ReactivateUser(ctx, target)
				return err
			}
		}
	}
	_ = ctx
	return a
}

// step draws and runs one operation and checks the model; it reports
// whether the operation changed anything.
func (m *model) step() bool {
	if rapid.IntRange(0, 5).Draw(m.t, "read") == 0 {
		m.read()
		return false
	}
	a := m.draw()
	ctx := op
	if a.actor != "" {
		ctx = m.as(a.actor)
	}
	before, err := m.st.CurrentRevision(bg)
	if err != nil {
		m.t.Fatal(err)
	}
	var reach map[string]bool
	cascade := map[string]bool{}
	if a.cascade != "" {
		cascade[a.cascade] = true
		ms, err := m.st.FindUserMemberships(bg, a.cascade)
		if err != nil {
			m.t.Fatal(err)
		}
		for _, mem := range ms {
			cascade[mem.ID] = true
			// Its delegates go with it (R-EXT-9, SPEC §4 removal).
			ds, _, err := m.st.FindMemberships(bg, steward.MembershipFilter{AccountID: mem.AccountID, ParentID: mem.ID, Page: steward.Page{Limit: steward.MaxPageLimit}})
			if err != nil {
				m.t.Fatal(err)
			}
			for _, d := range ds {
				cascade[d.ID], cascade[d.UserID] = true, true
			}
		}
		// What the user and its delegates gave ends with them (R-GRANT-5).
		for _, acc := range m.accounts {
			for u := range maps.Clone(cascade) {
				if !strings.HasPrefix(u, steward.PrefixUser) {
					continue
				}
				gs, _, err := m.st.FindMemberships(bg, steward.MembershipFilter{AccountID: acc, GrantedBy: u, Page: steward.Page{Limit: steward.MaxPageLimit}})
				if err != nil {
					m.t.Fatal(err)
				}
				for _, g := range gs {
					cascade[g.ID], cascade[g.UserID] = true, true
				}
				// Eligibilities it holds or granted go with it, and what
				// runs under them ends (R-ELEVATE-2, R-GRANT-5).
				for _, f := range []steward.EligibilityFilter{{AccountID: acc, GrantedBy: u}, {AccountID: acc, UserID: u}} {
					f.Page = steward.Page{Limit: steward.MaxPageLimit}
					els, _, err := m.st.FindEligibilities(bg, f)
					if err != nil {
						m.t.Fatal(err)
					}
					for _, el := range els {
						cascade[el.ID], cascade[el.UserID] = true, true
						evs, _, err := m.st.FindElevations(bg, steward.ElevationFilter{AccountID: acc, EligibilityID: el.ID, Page: steward.Page{Limit: steward.MaxPageLimit}})
						if err != nil {
							m.t.Fatal(err)
						}
						for _, ev := range evs {
							cascade[ev.ID] = true
						}
					}
				}
			}
		}
	}
	if a.actor != "" {
		reach = m.reach(a.actor)
		for _, x := range a.extra {
			reach[x] = true
		}
	}
	m.renewing = nil
	if a.name == "Advance" {
		m.renewing = m.renewable()
	}
	opErr := a.run(ctx)
	if *flagReport {
		st := opStats[a.name]
		if opErr != nil {
			st[0]++
		} else {
			st[1]++
		}
		opStats[a.name] = st
	}
	after, err := m.st.CurrentRevision(bg)
	if err != nil {
		m.t.Fatal(err)
	}
	if opErr != nil {
		if k := steward.ErrorKind(opErr); k == steward.EINTERNAL {
			m.t.Fatalf("%s by %s: internal error: %v", a.name, a.actor, opErr)
		}
		if after != before {
			m.t.Fatalf("%s by %s was refused (%v) but revision moved %d → %d", a.name, a.actor, opErr, before, after)
		}
		if a.name != "Advance" {
			return false
		}
	}
	if err := m.ix.CatchUp(bg); err != nil {
		m.t.Fatal(err)
	}
	if a.actor != "" && after != before {
		m.checkReach(a, reach, cascade, before)
	}
	m.cascade = cascade
	now := m.snapshot()
	supers := m.superAdmins(now)
	m.checkProvenance(a, now)
	if a.actor != "" && !a.superAdminExempt {
		m.checkSuperAdmins(a, supers)
	}
	m.checkSuperAdminsRemain(a)
	m.held, m.supers = now, supers
	return after != before
}

// checkReach: every account the operation wrote in is within the actor's
// reach, computed before it ran.
func (m *model) checkReach(a action, reach, cascade map[string]bool, since int64) {
	changes, err := m.st.ChangesSince(bg, since, 10000)
	if err != nil {
		m.t.Fatal(err)
	}
	for _, c := range changes {
		if c.AccountID == "" || !slices.Contains(m.accounts, c.AccountID) {
			continue
		}
		if a.employeesOf != "" && c.Entity == steward.ChangeUser && m.home[c.EntityID] != a.employeesOf {
			m.violate("R-PARTNER-8", "R-PARTNER-8: %s by %s through the console of %s changed %s in %s, who is not an employee of %s",
				a.name, m.describe(a.actor), m.describeAccount(a.employeesOf), m.describe(c.EntityID), m.describeAccount(c.AccountID), m.describeAccount(a.employeesOf))
		}
		if !reach[c.AccountID] && !cascade[c.EntityID] && !m.sharedRelationship(c, reach) && !m.invitationOf(c, cascade) {
			m.violate("isolation", "isolation: %s by %s wrote %s %s in account %s, where it has no standing and no partner access",
				a.name, m.describe(a.actor), c.Entity, c.EntityID, m.describeAccount(c.AccountID))
		}
	}
}

// invitationOf reports whether c records an invitation sent by or to the
// user whose home account removed it, or its delegates: those end with it
// (SPEC §4, R-GRANT-5).
func (m *model) invitationOf(c steward.Change, cascade map[string]bool) bool {
	if len(cascade) == 0 || c.Entity != "invitation" {
		return false
	}
	inv, err := m.st.FindInvitationByID(bg, c.AccountID, c.EntityID)
	if err != nil {
		return false
	}
	for u := range cascade {
		if inv.InvitedBy == u || strings.EqualFold(inv.Email, m.emails[u]) {
			return true
		}
	}
	return false
}

// sharedRelationship reports whether c records a relationship between
// its account and one the actor reaches: both sides keep its history.
func (m *model) sharedRelationship(c steward.Change, reach map[string]bool) bool {
	if c.Entity != "relationship" && c.Entity != steward.ChangeRelationship {
		return false
	}
	for r := range reach {
		if _, err := m.st.FindRelationship(bg, c.AccountID, r); err == nil {
			return true
		}
		if _, err := m.st.FindRelationship(bg, r, c.AccountID); err == nil {
			return true
		}
	}
	return false
}

// checkProvenance: what anyone now holds was given by a holder (R-GRANT-1,
// R-GRANT-2), up to the time the holder itself held it (R-GRANT-5).
func (m *model) checkProvenance(a action, now map[key]holding) {
	for k, hk := range now {
		for i, h := range hk.at {
			if !h || (a.name != "Advance" && m.holds(k.user, k.account, k.perm, i)) {
				continue
			}
			at := m.now.Add(probes[i])
			if i == len(probes)-1 {
				at = noEnd
			}
			// A gain at probe i: restored, or given by a holder.
			if !m.given[k].Before(at) {
				continue
			}
			if a.invite != nil {
				// An acceptance gives what the inviter held when it invited,
				// or what a holder put in the role since, within the
				// inviter's own time (R-EXT-1, R-GRANT-3, R-GRANT-5).
				inv := a.invite
				if inv.cover[k.perm].Before(at) && (m.roleGiven[inv.role][k.perm].Before(at) || latest(inv.cover).Before(at)) {
					m.violate("provenance", "provenance: %s by %s gave %s the permission %s in %s at %s (probe +%s), which the inviter %s did not hold when it invited",
						a.name, m.describe(a.actor), m.describe(k.user), k.perm, m.describeAccount(k.account), at.Format(time.RFC3339), probes[i], m.describe(inv.inviter))
				}
				m.given[k] = at
				continue
			}
			if a.actor == "" {
				// The operator gives what it wants; time passing gives
				// nothing but the renewal of what held before with
				// auto_extend, the client's standing choice (R-LIFE-1).
				if a.name == "Advance" && m.renewing[[2]string{k.user, k.account}] && m.heldBefore(k) {
					m.given[k] = at
					continue
				}
				if a.name == "Advance" {
					m.violate("provenance", "provenance: time passing gave %s %s in %s at %s", m.describe(k.user), k.perm, m.describeAccount(k.account), at)
				}
				m.given[k] = at
				continue
			}
			if m.roleGave(k, at) {
				// What a holder put in the member's role (R-GRANT-3) comes
				// back with the membership.
				m.given[k] = at
				continue
			}
			if a.restores && (m.standingAt(a.actor, k.account, i) || m.cascade[k.user]) {
				// A reactivation in the user's home account restores what
				// the offboarding cascade suspended elsewhere (R-PARTNER-12).
				m.given[k] = at
				continue
			}
			giver := a.actor
			if a.givenBy != "" { // an activation: the eligibility's granter gives (R-ELEVATE-2)
				giver = a.givenBy
			}
			if giver != "operator" && !m.holds(giver, k.account, k.perm, i) {
				m.violate("provenance", "provenance: %s by %s gave %s the permission %s in %s at %s (probe +%s), which %s did not hold then",
					a.name, m.describe(a.actor), m.describe(k.user), k.perm, m.describeAccount(k.account), at.Format(time.RFC3339), probes[i], m.describe(giver))
			}
			m.given[k] = at
		}
	}
	// Holdings that stay are covered as far as they were; record what the
	// snapshot shows so a later restoration is judged against it.
	for k, h := range now {
		if h.until.After(m.given[k]) {
			m.given[k] = h.until
		}
	}
}

// cover is, per permission, the time up to which the user holds it in
// the account, as the last snapshot shows.
func (m *model) cover(user, account string) map[string]time.Time {
	c := map[string]time.Time{}
	for _, p := range perms {
		if h, ok := m.held[key{user, account, p}]; ok {
			c[p] = h.until
		}
	}
	return c
}

// giveRole records what an editor put in a role.
func (m *model) giveRole(role, editor, account string, ps []string) {
	c := m.cover(editor, account)
	if m.roleGiven[role] == nil {
		m.roleGiven[role] = map[string]time.Time{}
	}
	for _, p := range ps {
		if c[p].After(m.roleGiven[role][p]) {
			m.roleGiven[role][p] = c[p]
		}
	}
}

// standingAt reports whether the user held anything in the account at
// probe i, in the last snapshot.
func (m *model) standingAt(user, account string, i int) bool {
	for _, p := range perms {
		if m.holds(user, account, p, i) {
			return true
		}
	}
	return false
}

// roleGave reports whether the member's custom role was given k's
// permission, up to at, by an editor who held it.
func (m *model) roleGave(k key, at time.Time) bool {
	mem, err := m.st.FindMembership(bg, k.account, k.user)
	if err != nil {
		return false
	}
	return !m.roleGiven[mem.Role][k.perm].Before(at)
}

func latest(c map[string]time.Time) time.Time {
	var l time.Time
	for _, t := range c {
		if t.After(l) {
			l = t
		}
	}
	return l
}

// checkSuperAdmins: R-SUPER-2, through every interface.
func (m *model) checkSuperAdmins(a action, now map[[2]string]bool) {
	const sa = "account.super_admins.manage"
	for _, acc := range m.accounts {
		if m.holds(a.actor, acc, sa, 0) {
			continue
		}
		for _, u := range m.users {
			if u == a.actor || (u == a.cascade && acc != m.home[u]) {
				// The user's home account decides for it everywhere
				// (R-PARTNER-12, SPEC §4 removal); R-SUPER-1 still holds.
				continue
			}
			if was, is := m.supers[[2]string{u, acc}], now[[2]string{u, acc}]; was != is {
				m.violate("R-SUPER-2", "R-SUPER-2: %s by %s, who does not hold %s in %s, made %s %s super admin there",
					a.name, m.describe(a.actor), sa, m.describeAccount(acc), m.describe(u), map[bool]string{true: "a", false: "no longer a"}[is])
			}
		}
	}
}

// superAdmins lists the super admins of a snapshot: the super_admin
// memberships that hold now.
func (m *model) superAdmins(held map[key]holding) map[[2]string]bool {
	out := map[[2]string]bool{}
	for k, h := range held {
		if k.perm != "account.super_admins.manage" || !h.at[0] {
			continue
		}
		if mem, err := m.st.FindMembership(bg, k.account, k.user); err == nil && mem.Role == steward.RoleSuperAdmin {
			out[[2]string{k.user, k.account}] = true
		}
	}
	return out
}

// checkSuperAdminsRemain: R-SUPER-1.
func (m *model) checkSuperAdminsRemain(a action) {
	for _, acc := range m.accounts {
		n, err := m.st.CountActiveSuperAdmins(bg, acc, m.now)
		if err != nil {
			m.t.Fatal(err)
		}
		if n < 1 {
			m.violate("R-SUPER-1", "R-SUPER-1: after %s by %s, %s has no active super admin", a.name, m.describe(a.actor), m.describeAccount(acc))
		}
	}
}

// read: an actor reads nothing of an account outside its reach; the
// partner console shows nothing of a client whose relationship ended, and
// nothing to an actor that is not an internal user of the partner.
func (m *model) read() {
	actor := m.pick("reader", m.users)
	ctx := m.as(actor)
	acc := m.pick("raccount", m.accounts)
	partner := m.pick("rpartner", m.partners)
	reach := m.reach(actor)
	internalIn := func(p string) bool {
		mem, err := m.st.FindMembership(bg, p, actor)
		return err == nil && mem.Kind == steward.KindInternal && m.standing(actor, p)
	}
	switch rapid.IntRange(0, 3).Draw(m.t, "readOp") {
	case 0:
		_, _, err := m.svc.FindMembers(ctx, steward.MembershipFilter{AccountID: acc})
		if err == nil && !m.standing(actor, acc) {
			m.violate("isolation", "isolation: %s listed the members of %s, where it has no standing", m.describe(actor), m.describeAccount(acc))
		}
	case 1:
		clients, _, err := m.svc.FindClients(ctx, steward.ClientFilter{PartnerID: partner, Now: m.now})
		if err == nil && len(clients) > 0 && !internalIn(partner) {
			m.violate("R-PARTNER-1", "R-PARTNER-1: %s, not an internal user of %s, listed its clients", m.describe(actor), m.describeAccount(partner))
		}
	case 2:
		var users []string
		for _, u := range m.members(acc, "") {
			if m.home[u] == partner || m.chance(1) {
				users = append(users, u)
			}
		}
		if len(users) == 0 {
			return
		}
		pv, err := m.svc.PreviewRemoval(ctx, partner, steward.EmployeeSelection{UserIDs: steward.NewSet(users...), AccountIDs: []string{acc}})
		if err != nil {
			return
		}
		for _, c := range pv.Clients {
			if !internalIn(partner) {
				m.violate("R-PARTNER-1", "R-PARTNER-1: %s, not an internal user of %s, previewed removals in %s", m.describe(actor), m.describeAccount(partner), m.describeAccount(c.AccountID))
			}
			if !m.relationshipHolds(partner, c.AccountID) {
				m.violate("R-PARTNER-11", "R-PARTNER-11: %s previewed removals in %s through %s, whose relationship does not hold", m.describe(actor), m.describeAccount(c.AccountID), m.describeAccount(partner))
			}
			if !reach[c.AccountID] {
				m.violate("isolation", "isolation: %s previewed removals in %s, outside its reach", m.describe(actor), m.describeAccount(c.AccountID))
			}
		}
	case 3:
		_, err := m.svc.FindAccount(ctx, acc)
		if err == nil && !m.standing(actor, acc) && !reach[acc] {
			m.violate("isolation", "isolation: %s read account %s, where it has no standing", m.describe(actor), m.describeAccount(acc))
		}
	}
}

// violate fails the test, or under -escalation.report logs the first
// violation of its kind and counts the others.
func (m *model) violate(kind, format string, args ...any) {
	if !*flagReport {
		m.t.Fatalf(format, args...)
	}
	msg := fmt.Sprintf(format, args...)
	if f := strings.Fields(msg); len(f) > 2 && f[2] == "by" {
		kind += " " + f[1] // the operation
	}
	if reported[kind] == 0 {
		firstReported[kind] = msg
	}
	reported[kind]++
}

func (m *model) describe(user string) string {
	if user == "" {
		return "the operator"
	}
	return m.emails[user]
}

func (m *model) describeAccount(id string) string {
	a, err := m.st.FindAccountByID(bg, id)
	if err != nil {
		return id
	}
	return a.Name
}
