package web_test

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/steward-iam/steward"
)

// chromiumPath is where Debian installs Chromium (.ci/run installs it).
const chromiumPath = "/usr/bin/chromium"

//go:embed testdata/axe.min.js
var axeSource string

// newBrowser starts a headless Chromium for the test. Without Chromium the
// test is skipped, except in CI (CI=true), where a missing browser fails it.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser tests need %s (apt-get install chromium): %v", chromiumPath, err)
		}
		t.Skipf("browser tests need %s", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	// Start the browser now, without a timeout: the first run's context
	// bounds the browser's life.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// tab opens a new tab with its own cookies (a new browser context): one per user.
func tab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// Open the tab now, without a timeout: the first run's context bounds
	// the tab's life. Each step gets its own timeout (see run).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return ctx
}

func run(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	step, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(step, actions...); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
		t.Fatalf("browser: %v\npage:\n%s", err, body)
	}
}

// get runs an action that reads a value.
func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

// xq quotes s as an XPath 1.0 string literal, which has no escapes.
func xq(s string) string {
	if !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	if !strings.Contains(s, "'") {
		return "'" + s + "'"
	}
	return `concat("` + strings.ReplaceAll(s, `"`, `", '"', "`) + `")`
}

// jsq quotes s as a JavaScript string literal.
func jsq(s string) string { b, _ := json.Marshal(s); return string(b) }

// byLabel finds the form control that the label with this visible text names.
func byLabel(label string) string {
	return fmt.Sprintf(`//*[@id=//label[normalize-space(.)=%s]/@for]`, xq(label))
}

// fill types value into the control labelled label.
func fill(label, value string) chromedp.Action[chromedp.Void] {
	return chromedp.SetValue(byLabel(label), value)
}

// click clicks the button or link with this visible text.
func click(text string) chromedp.Action[chromedp.Void] {
	return clickXPath(fmt.Sprintf(`//*[self::button or self::a][normalize-space(.)=%s]`, xq(text)))
}

// check ticks the checkbox labelled label.
func check(label string) chromedp.Action[chromedp.Void] { return clickXPath(byLabel(label)) }

func clickXPath(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.WaitVisible(sel),
		// The element's own click(), as a keyboard user's Enter would: mouse
		// events at computed coordinates miss links in table cells here.
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const el = document.evaluate(%s, document, null,
				XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue; el.click(); return true })()`, jsq(sel)))(ctx, t)
			return err
		}),
	)
}

// waitHeading waits for the page's h1 to read text.
func waitHeading(text string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(fmt.Sprintf(`//h1[normalize-space(.)=%s]`, xq(text)))
}

// waitText waits for an element of the main content containing text.
func waitText(text string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(fmt.Sprintf(`//main//*[contains(normalize-space(.), %s)]`, xq(text)))
}

func mainText(t *testing.T, ctx context.Context) string {
	t.Helper()
	return get(t, ctx, chromedp.Text(chromedp.CSS("main")))
}

// signIn signs in through the sign-in page at whatever address it is on.
func signIn(email, pass string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		waitHeading("Sign in"),
		fill("Email address", email),
		fill("Password", pass),
		click("Sign in"),
	)
}

type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// checkPage runs axe-core on the current page at desktop and at phone width
// and fails on serious or critical violations; with STEWARD_SCREENSHOTS=1 it
// also writes the page at both widths into docs/console/.
func checkPage(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	shots := os.Getenv("STEWARD_SCREENSHOTS") == "1"
	dir := filepath.Join("..", "docs", "console")
	if shots {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, vp := range []struct {
		suffix        string
		width, height int64
		mobile        bool
	}{{"desktop", 1280, 900, false}, {"phone", 390, 844, true}} {
		emulate := chromedp.EmulateViewport(vp.width, vp.height)
		if vp.mobile {
			emulate = chromedp.EmulateViewport(vp.width, vp.height, chromedp.EmulateMobile)
		}
		run(t, ctx, emulate)
		get(t, ctx, chromedp.Evaluate[bool](axeSource+";true"))
		violations := get(t, ctx, chromedp.Evaluate[[]axeViolation](`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
			.filter(v => v.impact === "serious" || v.impact === "critical")
			.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(" "))})))`,
			chromedp.EvalAwaitPromise))
		for _, v := range violations {
			t.Errorf("%s at %s width: accessibility (%s) %s: %s at %v", name, vp.suffix, v.Impact, v.ID, v.Help, v.Nodes)
		}
		if !shots {
			continue
		}
		png := get(t, ctx, chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(dir, name+"-"+vp.suffix+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run(t, ctx, chromedp.EmulateReset())
}

var linkRE = regexp.MustCompile(`https?://\S+/(access-links|invitations)/[A-Za-z0-9_]+`)

// TestBrowserSignIn signs in by the page, sees the home page list the
// accounts, switches account, and signs out.
func TestBrowserSignIn(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		b := newBrowser(t)
		ctx := tab(t, b)
		run(t, ctx, chromedp.Navigate(e.URL+"/"), waitHeading("Sign in"))
		checkPage(t, ctx, "sign-in")

		run(t, ctx, fill("Email address", "ada@acme.example"), fill("Password", "wrong password"), click("Sign in"),
			waitText("The email address or the password is not right."))
		run(t, ctx, signIn("ada@acme.example", demoPassword), waitHeading("Your accounts"))
		text := mainText(t, ctx)
		for _, want := range []string{"Acme Corp", "Your home account, as Super admin."} {
			if !strings.Contains(text, want) {
				t.Errorf("home page lacks %q:\n%s", want, text)
			}
		}
		checkPage(t, ctx, "home")

		run(t, ctx, chromedp.SetValue(byLabel("Account"), e.acme.ID), click("Switch"), waitHeading("Acme Corp"),
			waitText("crm.contacts.view"))
		checkPage(t, ctx, "account")

		run(t, ctx, click("Sign out"), waitHeading("Sign in"), waitText("You are signed out."))
		run(t, ctx, chromedp.Navigate(e.URL+"/accounts/"+e.acme.ID), waitHeading("Sign in"))
	})
}

// TestBrowserAccessLink follows an access link as a client super admin who
// is not signed in yet: sign in, come back, approve; the check API then
// agrees that the partner user is a partner admin (R-PARTNER-3).
func TestBrowserAccessLink(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		b := newBrowser(t)
		link, _, err := e.svc.CreateAccessLink(e.as(e.pat), e.agency.ID, e.pat.ID)
		e.must(err)
		if got := e.check(e.pat.ID, e.acme.ID, "crm.contacts.view"); got.Allowed {
			t.Fatalf("before approval, check = allowed")
		}

		// Bob is no super admin: he reads who may approve, and gets no button.
		bob := tab(t, b)
		run(t, bob, chromedp.Navigate(link.URL), signIn("bob@acme.example", demoPassword),
			waitHeading("Access request from Brightside Digital"), waitText("you are not a super admin of any account"))

		ada := tab(t, b)
		run(t, ada, chromedp.Navigate(link.URL), signIn("ada@acme.example", demoPassword),
			waitHeading("Access request from Brightside Digital"))
		text := mainText(t, ada)
		for _, want := range []string{"Pat Morgan", "pat@brightside.example", "Partner admin", "account.partners.manage", "account.billing.manage"} {
			if !strings.Contains(text, want) {
				t.Errorf("access link page lacks %q:\n%s", want, text)
			}
		}
		checkPage(t, ada, "access-link")
		run(t, ada, chromedp.SetValue(byLabel("Account to give access to"), e.acme.ID), click("Approve"),
			waitHeading("Acme Corp"), waitText("Access approved"))

		res := e.check(e.pat.ID, e.acme.ID, "crm.contacts.view")
		if !res.Allowed || res.Reason.Kind != "partner" || res.Reason.Role != "partner_admin" {
			t.Errorf("after approval, check = %+v, want allowed as partner admin", res)
		}
		if got := e.check(e.pat.ID, e.acme.ID, "account.billing.manage"); got.Allowed {
			t.Errorf("partner admin holds account.billing.manage")
		}

		// The link is used: opening it again says so and what to do.
		run(t, ada, chromedp.Navigate(link.URL), waitHeading("This access link has been used"), waitText("Ask the partner"))
		checkPage(t, ada, "access-link-used")
		run(t, ada, chromedp.Navigate(e.URL+"/access-links/"+strings.Repeat("x", 40)), waitHeading("This access link is not known"))

		// Pat now sees Acme on the home page, and how.
		pat := tab(t, b)
		run(t, pat, chromedp.Navigate(e.URL+"/"), signIn("pat@brightside.example", demoPassword), waitHeading("Your accounts"),
			waitText("Client of Brightside Digital"))
	})
}

// TestBrowserInvitation invites Carol, reads the mail the SMTP server got,
// shows the invitation to the wrong user (who cannot accept) and to Carol,
// who accepts; the check API then agrees (R-EXT-6).
func TestBrowserInvitation(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		b := newBrowser(t)
		consent := e.svc.Consent()
		_, _, err := e.svc.Invite(e.as(e.ada), e.acme.ID, e.analyst, steward.NewInvitations{Emails: steward.EmailList{e.carol.Email},
			Consent: steward.ConsentInput{Accepted: true, Version: consent.Version}, AllowRedelegation: true})
		e.must(err)
		var url string
		for _, m := range e.smtp.Wait(1, 10*time.Second) {
			if len(m.To) == 1 && m.To[0] == e.carol.Email {
				url = linkRE.FindString(m.Body)
			}
		}
		if url == "" {
			t.Fatalf("no invitation link mailed to %s: %+v", e.carol.Email, e.smtp.Mails())
		}
		if got := e.check(e.carol.ID, e.acme.ID, "reports.view"); got.Allowed {
			t.Fatalf("before acceptance, check = allowed")
		}

		// Dave holds the link but is not the invitee: he reads why and gets no Accept.
		dave := tab(t, b)
		run(t, dave, chromedp.Navigate(url), signIn("dave@carol.example", demoPassword), waitHeading("Invitation to Acme Corp"),
			waitText("This invitation is for carol@carol.example, and you are signed in as dave@carol.example."))
		n := get(t, dave, chromedp.Evaluate[int](`document.querySelectorAll("main button").length`))
		if n != 0 {
			t.Errorf("the wrong user sees %d buttons on the invitation", n)
		}

		carol := tab(t, b)
		run(t, carol, chromedp.Navigate(url), signIn("carol@carol.example", demoPassword), waitHeading("Invitation to Acme Corp"))
		text := mainText(t, carol)
		for _, want := range []string{"Analyst", "reports.view", "ada@acme.example", "No end date"} {
			if !strings.Contains(text, want) {
				t.Errorf("invitation page lacks %q:\n%s", want, text)
			}
		}
		checkPage(t, carol, "invitation")
		run(t, carol, chromedp.Navigate(e.URL+"/mail"), waitHeading("Your mail"), waitText("Invitation to administer Acme Corp"))
		checkPage(t, carol, "mail")
		run(t, carol, chromedp.Navigate(url), waitHeading("Invitation to Acme Corp"))
		run(t, carol, click("Accept"), waitHeading("Acme Corp"), waitText("Invitation accepted"), waitText("External user, invited as Analyst."))
		res := e.check(e.carol.ID, e.acme.ID, "reports.view")
		if !res.Allowed || res.Reason.Kind != "external" {
			t.Errorf("after acceptance, check = %+v, want allowed as external", res)
		}
		run(t, carol, chromedp.Navigate(url), waitHeading("This invitation has been used"))
		checkPage(t, carol, "invitation-used")
	})
}
