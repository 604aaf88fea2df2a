package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/password"
)

// demoPassword is the password of every demo user.
const demoPassword = "steward-demo"

// demoCmd seeds a realistic world: an agency that manages two clients, a
// consultant invited into one of them who re-delegates to a colleague.
type demoCmd struct {
	DBFlag `embed:""`
}

// Run seeds the demo world into an empty database and prints how to use it.
func (c *demoCmd) Run(e *env) error {
	db, err := openDatabase(e.ctx, c.DB)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(e.ctx); err != nil {
		return err
	}
	svc := steward.NewService(db, steward.MustCatalogue(steward.DefaultProductPermissions()), e.logger)
	svc.Passwords = password.New()
	// The links mailed point where `steward serve` listens by default, the
	// server the printed commands start.
	base := "http://" + DefaultConfig().Listen
	svc.BaseURL = base
	d, err := seedDemo(e.ctx, svc)
	if err != nil {
		return err
	}
	if d == nil {
		return fmt.Errorf("%s already holds accounts: the demo seeds an empty database (choose another with --db, e.g. --db sqlite:demo.db)", redactDSN(c.DB))
	}
	fmt.Fprintf(e.stdout, "The demo world is in %s.\n", redactDSN(c.DB))
	d.print(e.stdout)
	fmt.Fprintf(e.stdout, `
Start the server on the same database, then open the console at
%s/ and sign in with an email above and the password, or
ask the API something, e.g. as Dave:
  steward serve --db %s
%s
`, base, shellQuote(c.DB), d.curl(base))
	return nil
}

// seedDemo seeds the demo world through svc if its database holds no
// account yet; it returns nil when it did not.
func seedDemo(ctx context.Context, svc *steward.Service) (*demo, error) {
	accounts, ok := svc.Store.(interface {
		ScanAccountIDs(ctx context.Context, fn func(string) error) error
	})
	if !ok {
		return nil, fmt.Errorf("the demo needs a store that lists its accounts, not %T", svc.Store)
	}
	empty := true
	if err := accounts.ScanAccountIDs(ctx, func(string) error { empty = false; return errStop }); err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	if !empty {
		return nil, nil
	}
	d := &demo{svc: svc, ctx: ctx}
	if err := d.seed(); err != nil {
		return nil, fmt.Errorf("seed the demo world: %w", err)
	}
	return d, nil
}

// printDemoSignIns tells how to sign in to the console at url as each demo user.
func printDemoSignIns(w io.Writer, url string, logins []demoLogin) {
	fmt.Fprintf(w, "Open the console at %s/ and sign in as a demo user, each with the password %q:\n", url, demoPassword)
	for _, l := range logins {
		fmt.Fprintf(w, "  %-32s %s\n", l.email, l.who)
	}
	fmt.Fprintln(w)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@=,+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var errStop = errors.New("stop")

// demo builds the world through the Service, so every rule and audit event
// applies as it would over the API.
type demo struct {
	svc      *steward.Service
	ctx      context.Context
	err      error
	tokens   []demoLogin
	accounts []*steward.Account
}

type demoLogin struct{ who, email, userID, token string }

func (d *demo) op() context.Context {
	return steward.NewContextWithActor(d.ctx, &steward.Actor{Operator: true})
}

func (d *demo) as(u *steward.User) context.Context {
	return steward.NewContextWithActor(d.ctx, &steward.Actor{UserID: u.ID})
}

func (d *demo) account(name string, kind steward.AccountKind, domain, ownerName, ownerEmail string, billing bool) (*steward.Account, *steward.User) {
	if d.err != nil {
		return nil, nil
	}
	acc, _, err := d.svc.CreateAccount(d.op(), steward.NewAccount{Name: name, Kind: kind, VerifiedDomains: []string{domain},
		Billing: steward.Billing{HasBillingInfo: billing, Plan: "professional"},
		Owner:   &steward.NewOwner{Email: ownerEmail, Name: ownerName, Password: demoPassword}})
	d.err = err
	if err != nil {
		return nil, nil
	}
	d.accounts = append(d.accounts, acc)
	return acc, acc.Owner
}

func (d *demo) user(home *steward.Account, name, email, role string) *steward.User {
	if d.err != nil {
		return nil
	}
	u, _, err := d.svc.CreateUser(d.op(), steward.NewUser{Email: email, Name: name, HomeAccountID: home.ID, Role: role, Password: demoPassword})
	d.err = err
	return u
}

func (d *demo) role(acc *steward.Account, by *steward.User, name string, perms ...string) string {
	if d.err != nil {
		return ""
	}
	r, _, err := d.svc.CreateRole(d.as(by), acc.ID, steward.RoleInput{Name: &name, Permissions: &perms})
	d.err = err
	if err != nil {
		return ""
	}
	return r.ID
}

var tokenRE = regexp.MustCompile(`/([a-z0-9_]+)\s*$`)

// connect has a partner user ask for access and the client's super admin approve it.
func (d *demo) connect(partner *steward.Account, pu *steward.User, client *steward.Account, owner *steward.User) {
	if d.err != nil {
		return
	}
	link, _, err := d.svc.CreateAccessLink(d.as(pu), partner.ID, pu.ID)
	if err != nil {
		d.err = err
		return
	}
	m := tokenRE.FindStringSubmatch(link.URL)
	if m == nil {
		d.err = fmt.Errorf("access link URL %q ends with no token", link.URL)
		return
	}
	_, _, d.err = d.svc.ApproveAccessLink(d.as(owner), m[1], client.ID)
}

func (d *demo) seed() error {
	agency, pat := d.account("Brightside Digital", steward.AccountPartner, "brightside.example", "Pat Morgan", "pat@brightside.example", true)
	sam := d.user(agency, "Sam Okafor", "sam@brightside.example", steward.RoleMember)
	riley := d.user(agency, "Riley Chen", "riley@brightside.example", steward.RoleMember)
	acme, ada := d.account("Acme Corp", steward.AccountStandard, "acme.example", "Ada Lovelace", "ada@acme.example", true)
	globex, grace := d.account("Globex", steward.AccountStandard, "globex.example", "Grace Hopper", "grace@globex.example", false)
	sales := d.role(acme, ada, "Sales", "crm.contacts.view", "crm.contacts.edit", "crm.deals.view", "crm.deals.edit", "reports.view")
	marketing := d.role(acme, ada, "Marketing", "crm.contacts.view", "marketing.email.send", "workflows.edit", "reports.view")
	analyst := d.role(acme, ada, "Analyst", "reports.view", "reports.edit", "crm.deals.view")
	bob := d.user(acme, "Bob Smith", "bob@acme.example", sales)
	d.connect(agency, pat, acme, ada)
	d.connect(agency, pat, globex, grace)
	if d.err == nil {
		_, _, d.err = d.svc.AddEmployees(d.as(pat), agency.ID, acme.ID, []string{sam.ID, riley.ID}, marketing)
	}
	if d.err == nil {
		_, _, d.err = d.svc.UpdateClientAlias(d.as(pat), agency.ID, acme.ID, "ACME (retail)")
	}
	if d.err == nil {
		_, _, d.err = d.svc.PutAsset(d.op(), acme.ID, "workflow", "wf-spring-campaign", steward.AssetInput{Name: "Spring campaign", OwnerUserID: sam.ID})
	}
	if d.err == nil {
		_, _, d.err = d.svc.ReportActivity(d.op(), acme.ID, steward.ActivityReport{UserID: sam.ID, Action: "workflow.published", Target: "wf-spring-campaign"})
	}

	// A consultant invited into Acme's Analyst role, who re-delegates.
	firm, carol := d.account("Carol Consulting", steward.AccountStandard, "carol-consulting.example", "Carol Danvers", "carol@carol-consulting.example", true)
	dave := d.user(firm, "Dave Park", "dave@carol-consulting.example", steward.RoleMember)
	if d.err == nil {
		consent := d.svc.Consent()
		_, _, d.err = d.svc.Invite(d.as(ada), acme.ID, analyst, steward.NewInvitations{Emails: steward.EmailList{carol.Email},
			Consent: steward.ConsentInput{Accepted: true, Version: consent.Version}, AllowRedelegation: true})
	}
	if d.err == nil {
		d.err = d.acceptMailedInvitation(carol)
	}
	if d.err == nil {
		_, _, d.err = d.svc.AddDelegates(d.as(carol), acme.ID, carol.ID, steward.NewDelegates{UserIDs: []string{dave.ID}})
	}
	if d.err != nil {
		return d.err
	}
	for _, l := range []struct {
		who string
		u   *steward.User
	}{
		{"Acme's super admin", ada}, {"Acme's sales rep", bob}, {"Brightside's owner, partner admin in Acme and Globex", pat},
		{"Brightside employee in Acme", sam}, {"Globex's super admin", grace}, {"consultant, external in Acme", carol},
		{"Carol's colleague, her delegate in Acme", dave},
	} {
		tok, _, err := d.svc.CreateToken(d.op(), steward.TokenRequest{UserID: l.u.ID})
		if err != nil {
			return err
		}
		d.tokens = append(d.tokens, demoLogin{l.who, l.u.Email, l.u.ID, tok.Token})
	}
	return nil
}

// acceptMailedInvitation accepts the invitation the outbox holds for u, as u
// would from the link in the mail.
func (d *demo) acceptMailedInvitation(u *steward.User) error {
	msgs, err := d.svc.Store.FindMessages(d.ctx, 50)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.To != u.Email {
			continue
		}
		if tok := regexp.MustCompile(`/invitations/([a-z0-9_]+)`).FindStringSubmatch(m.Text); tok != nil {
			_, _, err := d.svc.AcceptInvitation(d.as(u), tok[1])
			return err
		}
	}
	return fmt.Errorf("no invitation mail to %s", u.Email)
}

// print lists the demo's accounts and the API tokens of its users.
func (d *demo) print(w io.Writer) {
	fmt.Fprintf(w, `  Brightside Digital (a partner agency) manages Acme Corp and Globex;
  Acme invited Carol Danvers (Carol Consulting) as an external Analyst,
  and she re-delegated to her colleague Dave Park.

Accounts:
`)
	for _, a := range d.accounts {
		fmt.Fprintf(w, "  %-20s %-9s %s\n", a.Name, a.Kind, a.ID)
	}
	fmt.Fprintf(w, "\nEvery demo user's password is %q. API tokens (shown once):\n", demoPassword)
	for _, l := range d.tokens {
		fmt.Fprintf(w, "  %-32s %-48s %s\n", l.email, l.who, l.token)
	}
}

// curl is a command that asks the server at base a check as Dave, ready to
// paste: his token is in it.
func (d *demo) curl(base string) string {
	dave := d.tokens[len(d.tokens)-1]
	return fmt.Sprintf(`  curl -s -X POST %s/v1/check -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \
    -d '{"user_id": "%s", "account_id": "%s", "permission": "reports.view"}'`, base, dave.token, dave.userID, d.accounts[1].ID)
}
