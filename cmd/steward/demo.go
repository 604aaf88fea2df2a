package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"

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
	_, seeded, err := seedDemo(e.ctx, c.DB, e.logger, e.stdout)
	if err == nil && !seeded {
		err = fmt.Errorf("%s already holds accounts: the demo seeds an empty database (choose another with --db, e.g. --db sqlite:demo.db)", redactDSN(c.DB))
	}
	return err
}

// seedDemo seeds the demo world into dsn if it holds no account yet, and
// prints how to use it; it reports whether it did, and who can sign in.
func seedDemo(ctx context.Context, dsn string, logger *slog.Logger, out io.Writer) ([]demoLogin, bool, error) {
	db, err := openDatabase(ctx, dsn)
	if err != nil {
		return nil, false, err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return nil, false, err
	}
	empty := true
	if err := db.ScanAccountIDs(ctx, func(string) error { empty = false; return errStop }); err != nil && !errors.Is(err, errStop) {
		return nil, false, err
	}
	if !empty {
		return nil, false, nil
	}
	svc := steward.NewService(db, steward.MustCatalogue(steward.DefaultProductPermissions()), logger)
	svc.Passwords = password.New()
	svc.BaseURL = "http://" + DefaultConfig().Listen
	d := &demo{svc: svc, ctx: ctx}
	if err := d.seed(); err != nil {
		return nil, false, fmt.Errorf("seed the demo world: %w", err)
	}
	d.print(out, dsn)
	return d.tokens, true, nil
}

// printDemoSignIns tells how to sign in to the console at url as each demo user.
func printDemoSignIns(w io.Writer, url string, logins []demoLogin) {
	fmt.Fprintf(w, "Open the console at %s/ and sign in as a demo user, each with the password %q:\n", url, demoPassword)
	for _, l := range logins {
		fmt.Fprintf(w, "  %-32s %s\n", l.email, l.who)
	}
	fmt.Fprintln(w)
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

func (d *demo) print(w io.Writer, dsn string) {
	fmt.Fprintf(w, `The demo world is in %s:
  Brightside Digital (a partner agency) manages Acme Corp and Globex;
  Acme invited Carol Danvers (Carol Consulting) as an external Analyst,
  and she re-delegated to her colleague Dave Park.

Accounts:
`, redactDSN(dsn))
	for _, a := range d.accounts {
		fmt.Fprintf(w, "  %-20s %-9s %s\n", a.Name, a.Kind, a.ID)
	}
	fmt.Fprintf(w, "\nEvery demo user's password is %q. API tokens (shown once):\n", demoPassword)
	for _, l := range d.tokens {
		fmt.Fprintf(w, "  %-32s %-48s %s\n", l.email, l.who, l.token)
	}
	fmt.Fprintf(w, `
Start the server on the same database, open the console at
http://127.0.0.1:8080/ and sign in with an email above and the password, or
ask the API something, e.g. as Dave:
  steward serve --db %s
  curl -s -X POST http://127.0.0.1:8080/v1/check -H "Authorization: Bearer <Dave's token>" \
    -d '{"user_id": "%s", "account_id": "%s", "permission": "reports.view"}'
`, dsn, d.tokens[len(d.tokens)-1].userID, d.accounts[1].ID)
}
