package storetest

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/webhook"
)

func init() {
	partnerCases = append(partnerCases,
		suiteCase{"R-HOOK-1_WebhooksManagePermission", testRHook1},
		suiteCase{"R-HOOK-2_DeliveriesInTheChangesTransaction", testRHook2Enqueue},
		suiteCase{"R-HOOK-2_SignedInOrderOnceWithRetries", testRHook2Delivery},
		suiteCase{"R-HOOK-2_DisabledAfterThreeDaysAdminsMailed", testRHook2Disable},
		suiteCase{"R-HOOK-2_EndpointsFollowTheAuditLog", testRHook2FollowLog},
		suiteCase{"R-HOOK-2_CommitsWakeTheSendersWithWork", testRHook2Wake},
		suiteCase{"R-HOOK-3_URLGuard", testRHook3},
		suiteCase{"R-HOOK-3_CheckedAgainAtDelivery", testRHook3Delivery},
	)
}

// fakeDNS resolves the names of the tests; anything else does not resolve.
type fakeDNS struct {
	mu    sync.Mutex
	names map[string]string
}

func (d *fakeDNS) set(name, addr string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.names[name] = addr
}

func (d *fakeDNS) lookup(_ context.Context, host string) ([]netip.Addr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if a, ok := d.names[host]; ok {
		return []netip.Addr{netip.MustParseAddr(a)}, nil
	}
	return nil, fmt.Errorf("no such host %s", host)
}

// hookWorld is a World with a secret key and a webhook guard over fake DNS.
func hookWorld(t *testing.T, open Opener, allow ...string) (*World, *fakeDNS) {
	w := NewWorld(t, open(t))
	box, err := steward.NewSecretBox(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	dns := &fakeDNS{names: map[string]string{"hooks.example.com": "93.184.215.14"}}
	w.Svc.Secrets = box
	w.Svc.WebhookGuard = &steward.WebhookGuard{AllowHosts: allow, LookupIP: dns.lookup}
	return w, dns
}

// testRHook1: account.webhooks.manage is a system permission that partner
// admins hold; its holders and the operator register endpoints, the secret
// is shown once and kept only sealed; others get 403, other tenants 404.
func testRHook1(t *testing.T, open Opener) {
	w, _ := hookWorld(t, open)
	ctx := context.Background()
	if !w.Svc.Catalogue.Has(steward.PermWebhooksManage) {
		t.Fatalf("the catalogue lacks %s", steward.PermWebhooksManage)
	}
	partner, _ := w.Account(steward.AccountPartner)
	client, owner := w.Account(steward.AccountStandard)
	other, otherOwner := w.Account(steward.AccountStandard)
	admin := w.PartnerAdmin(partner.ID, client.ID, owner.ID)
	if !w.Allowed(admin.ID, client.ID, steward.PermWebhooksManage) {
		t.Fatalf("a partner admin does not hold %s (R-PARTNER-1)", steward.PermWebhooksManage)
	}
	member := w.User(client.ID, steward.RoleMember)
	in := steward.WebhookInput{URL: "https://hooks.example.com/steward", EventTypes: []string{"role.created"}}

	w.unchanged(t, func() {
		_, _, err := w.Svc.CreateWebhook(w.As(member.ID), client.ID, in)
		WantCode(t, err, steward.EFORBIDDEN, "permission_required")
		_, _, err = w.Svc.FindWebhooks(w.As(member.ID), client.ID, steward.Page{})
		WantCode(t, err, steward.EFORBIDDEN, "permission_required")
		_, _, err = w.Svc.CreateWebhook(w.As(otherOwner.ID), client.ID, in)
		WantCode(t, err, steward.ENOTFOUND, "")
	}, client.ID)

	byAdmin, _, err := w.Svc.CreateWebhook(w.As(admin.ID), client.ID, in)
	if err != nil {
		t.Fatalf("the partner admin's webhook: %v", err)
	}
	if !strings.HasPrefix(byAdmin.Secret, "whsec_") || byAdmin.Status != steward.WebhookActive {
		t.Fatalf("answer = %+v, want an active endpoint with a whsec_ secret", byAdmin)
	}
	if r, ok := byAdmin.Redacted().(*steward.NewWebhook); !ok || r.Secret != "" || !r.SecretWithheld {
		t.Fatalf("Redacted() = %+v, want the answer without its secret", byAdmin.Redacted())
	}
	byOwner, _, err := w.Svc.CreateWebhook(w.As(owner.ID), client.ID, in)
	if err != nil {
		t.Fatalf("the super admin's webhook: %v", err)
	}
	byOp, _, err := w.Svc.CreateAnyWebhook(w.Op, steward.WebhookInput{AccountID: other.ID, URL: in.URL, EventTypes: in.EventTypes})
	if err != nil {
		t.Fatalf("the operator's webhook: %v", err)
	}
	_, _, err = w.Svc.CreateAnyWebhook(w.As(owner.ID), steward.WebhookInput{AccountID: client.ID, URL: in.URL, EventTypes: in.EventTypes})
	WantCode(t, err, steward.EFORBIDDEN, "operator_only")

	// The secret is stored sealed: not in plain text, and it opens to the one shown.
	var sealed string
	if err := rawDB(t, w.Store).QueryRowContext(ctx, `SELECT secret_cipher FROM webhooks WHERE id = '`+byOwner.ID+`'`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, strings.TrimPrefix(byOwner.Secret, "whsec_")) {
		t.Fatal("the webhook secret is stored in plain text")
	}
	stored, err := w.Store.FindWebhookByID(ctx, client.ID, byOwner.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := w.Svc.WebhookSecret(stored); err != nil || got != byOwner.Secret {
		t.Fatalf("WebhookSecret = %q, %v; want the secret shown at registration", got, err)
	}
	raw, _ := json.Marshal(stored)
	if strings.Contains(string(raw), "secret") {
		t.Fatalf("a webhook renders its secret: %s", raw)
	}

	list, _, err := w.Svc.FindWebhooks(w.As(owner.ID), client.ID, steward.Page{})
	if err != nil || len(list) != 2 {
		t.Fatalf("FindWebhooks = %d, %v; want the client's 2", len(list), err)
	}
	all, _, err := w.Svc.FindAllWebhooks(w.Op, "", steward.Page{})
	if err != nil || len(all) != 3 {
		t.Fatalf("FindAllWebhooks = %d, %v; want 3", len(all), err)
	}
	_, _, err = w.Svc.FindAllWebhooks(w.As(owner.ID), "", steward.Page{})
	WantCode(t, err, steward.EFORBIDDEN, "operator_only")
	_, err = w.Svc.FindWebhook(w.As(owner.ID), client.ID, byOp.ID)
	WantCode(t, err, steward.ENOTFOUND, "")

	disabled := steward.WebhookDisabled
	got, _, err := w.Svc.UpdateWebhook(w.As(owner.ID), client.ID, byAdmin.ID, steward.WebhookUpdate{Status: &disabled})
	if err != nil || got.Status != steward.WebhookDisabled {
		t.Fatalf("UpdateWebhook = %+v, %v", got, err)
	}
	if _, err := w.Svc.DeleteWebhook(w.As(member.ID), client.ID, byAdmin.ID); steward.ErrorKind(err) != steward.EFORBIDDEN {
		t.Fatalf("a member's delete = %v, want EFORBIDDEN", err)
	}
	if _, err := w.Svc.DeleteWebhook(w.As(owner.ID), client.ID, byAdmin.ID); err != nil {
		t.Fatal(err)
	}
	_, err = w.Svc.FindWebhook(w.As(owner.ID), client.ID, byAdmin.ID)
	WantCode(t, err, steward.ENOTFOUND, "")
}

// pending returns the endpoint's deliveries, oldest first, once the events
// recorded so far are queued (as the sender does before each pass).
func pending(t *testing.T, w *World, accountID, webhookID string) []*steward.WebhookDelivery {
	t.Helper()
	if _, err := w.Svc.QueueWebhookEvents(context.Background()); err != nil {
		t.Fatal(err)
	}
	ds, _, err := w.Svc.FindDeliveries(w.Op, accountID, webhookID, steward.Page{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(ds, func(a, b *steward.WebhookDelivery) int { return cmp.Compare(a.Seq, b.Seq) })
	return ds
}

// testRHook2Enqueue: a change writes a delivery of each of its events that
// an active endpoint of the account wants, in its own transaction; a
// refused change writes none, nor does an event of another type.
func testRHook2Enqueue(t *testing.T, open Opener) {
	w, _ := hookWorld(t, open)
	acc, owner := w.Account(steward.AccountStandard)
	other, _ := w.Account(steward.AccountStandard)
	hook, _, err := w.Svc.CreateWebhook(w.As(owner.ID), acc.ID, steward.WebhookInput{URL: "https://hooks.example.com/a", EventTypes: []string{"role.created", "role.deleted"}})
	if err != nil {
		t.Fatal(err)
	}
	r := w.Role(acc.ID, "Editors", "crm.contacts.edit")
	w.Role(other.ID, "Editors", "crm.contacts.edit") // another account's event
	name := "Writers"
	if _, _, err := w.Svc.UpdateRole(w.As(owner.ID), acc.ID, r.ID, steward.RoleInput{Name: &name}); err != nil { // role.updated: not wanted
		t.Fatal(err)
	}
	// A refused change: a member without roles.manage.
	m := w.User(acc.ID, steward.RoleMember)
	n := "Nope"
	if _, _, err := w.Svc.CreateRole(w.As(m.ID), acc.ID, steward.RoleInput{Name: &n}); steward.ErrorKind(err) != steward.EFORBIDDEN {
		t.Fatalf("a member's CreateRole = %v", err)
	}
	ds := pending(t, w, acc.ID, hook.ID)
	if len(ds) != 1 || ds[0].EventType != "role.created" || ds[0].Status != steward.DeliveryPending {
		t.Fatalf("deliveries = %+v, want one pending role.created", ds)
	}
	events, _, err := w.Store.FindEvents(context.Background(), steward.AuditFilter{AccountID: acc.ID, Action: "role.created", Limit: 10})
	if err != nil || len(events) != 1 {
		t.Fatalf("FindEvents = %d, %v", len(events), err)
	}
	if ds[0].MessageID != events[0].ID {
		t.Fatalf("message id = %s, want the event's id %s", ds[0].MessageID, events[0].ID)
	}
	var body struct {
		Type string         `json:"type"`
		Data *steward.Event `json:"data"`
	}
	stored, err := w.Store.FindDeliveryByID(context.Background(), hook.ID, ds[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(stored.Payload, &body); err != nil || body.Type != "role.created" || body.Data.TargetID != r.ID {
		t.Fatalf("payload = %s (%v)", stored.Payload, err)
	}
	// A disabled endpoint gets nothing new.
	disabled := steward.WebhookDisabled
	if _, _, err := w.Svc.UpdateWebhook(w.As(owner.ID), acc.ID, hook.ID, steward.WebhookUpdate{Status: &disabled}); err != nil {
		t.Fatal(err)
	}
	w.Role(acc.ID, "Later")
	if got := pending(t, w, acc.ID, hook.ID); len(got) != 1 {
		t.Fatalf("a disabled endpoint got %d deliveries, want still 1", len(got))
	}
}

// types returns the event types of the endpoint's deliveries, in order.
func types(t *testing.T, w *World, accountID, webhookID string) []string {
	t.Helper()
	var out []string
	for _, d := range pending(t, w, accountID, webhookID) {
		out = append(out, d.EventType)
	}
	return out
}

// testRHook2FollowLog: a write records its events and no delivery; the
// sender queues the deliveries from the audit log in order, each once, by
// the endpoint's settings at the time of each event: a change of event
// types applies from then on, a disabled endpoint gets nothing, and an
// endpoint enabled again gets the events from then on.
func testRHook2FollowLog(t *testing.T, open Opener) {
	w, _ := hookWorld(t, open)
	acc, owner := w.Account(steward.AccountStandard)
	hook, _, err := w.Svc.CreateWebhook(w.As(owner.ID), acc.ID, steward.WebhookInput{URL: "https://hooks.example.com/a", EventTypes: []string{"role.created"}})
	if err != nil {
		t.Fatal(err)
	}
	one := w.Role(acc.ID, "One")
	ds, _, err := w.Store.FindDeliveries(context.Background(), hook.ID, steward.Page{Limit: 10})
	if err != nil || len(ds) != 0 {
		t.Fatalf("deliveries before the sender's pass = %d, %v; want none: the write records only its event", len(ds), err)
	}
	if got := types(t, w, acc.ID, hook.ID); !slices.Equal(got, []string{"role.created"}) {
		t.Fatalf("after a pass: %v, want [role.created]", got)
	}
	if n, err := w.Svc.QueueWebhookEvents(context.Background()); err != nil || n != 0 {
		t.Fatalf("a second pass queued %d, %v; want 0 (each event once)", n, err)
	}
	// New event types apply to the events recorded from then on.
	w.Role(acc.ID, "Two")
	deleted := []string{"role.deleted"}
	if _, _, err := w.Svc.UpdateWebhook(w.As(owner.ID), acc.ID, hook.ID, steward.WebhookUpdate{EventTypes: &deleted}); err != nil {
		t.Fatal(err)
	}
	w.Role(acc.ID, "Three")
	if _, err := w.Svc.DeleteRole(w.As(owner.ID), acc.ID, one.ID); err != nil {
		t.Fatal(err)
	}
	if got := types(t, w, acc.ID, hook.ID); !slices.Equal(got, []string{"role.created", "role.created", "role.deleted"}) {
		t.Fatalf("after the change of types: %v, want role.created twice (before), role.deleted (after)", got)
	}
	// Disabled, then enabled again: nothing of the time between.
	disabled, active := steward.WebhookDisabled, steward.WebhookActive
	if _, _, err := w.Svc.UpdateWebhook(w.As(owner.ID), acc.ID, hook.ID, steward.WebhookUpdate{Status: &disabled}); err != nil {
		t.Fatal(err)
	}
	between := w.Role(acc.ID, "Between")
	if _, err := w.Svc.DeleteRole(w.As(owner.ID), acc.ID, between.ID); err != nil {
		t.Fatal(err)
	}
	if got := types(t, w, acc.ID, hook.ID); len(got) != 3 {
		t.Fatalf("a disabled endpoint got %v", got)
	}
	if _, _, err := w.Svc.UpdateWebhook(w.As(owner.ID), acc.ID, hook.ID, steward.WebhookUpdate{Status: &active}); err != nil {
		t.Fatal(err)
	}
	after := w.Role(acc.ID, "After")
	if _, err := w.Svc.DeleteRole(w.As(owner.ID), acc.ID, after.ID); err != nil {
		t.Fatal(err)
	}
	ds = pending(t, w, acc.ID, hook.ID)
	if len(ds) != 4 || ds[3].EventType != "role.deleted" {
		t.Fatalf("after enabling again: %d deliveries, want the 3 before and the deletion after", len(ds))
	}
	events, _, err := w.Store.FindEvents(context.Background(), steward.AuditFilter{AccountID: acc.ID, Action: "role.deleted", Limit: 1})
	if err != nil || len(events) != 1 || ds[3].MessageID != events[0].ID {
		t.Fatalf("the last delivery is %s, want the latest role.deleted event (%v)", ds[3].MessageID, err)
	}
	// Many events at once (inserted 64 rows to a statement, then by halves):
	// each once, in order.
	all, _, err := w.Svc.CreateWebhook(w.As(owner.ID), acc.ID, steward.WebhookInput{URL: "https://hooks.example.com/all", EventTypes: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 74 {
		w.Role(acc.ID, fmt.Sprintf("Many %d", i))
	}
	ds = pending(t, w, acc.ID, all.ID)
	if len(ds) != 75 || ds[0].EventType != "webhook.created" {
		t.Fatalf("%d deliveries to the second endpoint, want its creation and 74 roles", len(ds))
	}
	for i, d := range ds[1:] {
		if d.EventType != "role.created" || d.Seq != ds[0].Seq+int64(i)+1 {
			t.Fatalf("delivery %d: %s seq %d, want role.created seq %d", i+1, d.EventType, d.Seq, ds[0].Seq+int64(i)+1)
		}
	}
}

// testRHook2Wake: a committed write tells the server what it gave the
// senders (mail, an endpoint changed, the accounts of its events), so that
// they wake for it rather than after every write; a refused write tells
// nothing.
func testRHook2Wake(t *testing.T, open Opener) {
	w, _ := hookWorld(t, open)
	acc, owner := w.Account(steward.AccountStandard)
	var got []steward.Queued
	w.Svc.OnQueued = func(q steward.Queued) { got = append(got, q) }
	last := func() steward.Queued {
		t.Helper()
		if len(got) == 0 {
			t.Fatal("OnQueued was not called")
		}
		q := got[len(got)-1]
		got = nil
		return q
	}
	w.Role(acc.ID, "One")
	if q := last(); q.Mail || q.Webhooks || !slices.Equal(q.Accounts, []string{acc.ID}) {
		t.Fatalf("a role's creation: %+v, want only its account", q)
	}
	hook, _, err := w.Svc.CreateWebhook(w.As(owner.ID), acc.ID, steward.WebhookInput{URL: "https://hooks.example.com/a", EventTypes: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	if q := last(); !q.Webhooks || q.Mail {
		t.Fatalf("an endpoint's creation: %+v, want Webhooks", q)
	}
	if err := w.Svc.DisableWebhook(context.Background(), acc.ID, hook.ID, "failing"); err != nil {
		t.Fatal(err)
	}
	if q := last(); !q.Mail {
		t.Fatalf("disabling an endpoint mails its account's admins: %+v, want Mail", q)
	}
	m := w.User(acc.ID, steward.RoleMember)
	got = nil
	n := "Nope"
	if _, _, err := w.Svc.CreateRole(w.As(m.ID), acc.ID, steward.RoleInput{Name: &n}); steward.ErrorKind(err) != steward.EFORBIDDEN {
		t.Fatalf("a member's CreateRole = %v", err)
	}
	if len(got) != 0 {
		t.Fatalf("a refused write told %+v", got)
	}
}

// receiver is an HTTPS endpoint inside the test that verifies each
// message with the Standard Webhooks library and fails while told to.
type receiver struct {
	t        *testing.T
	srv      *httptest.Server
	verifier *standardwebhooks.Webhook
	mu       sync.Mutex
	failing  bool
	ok       []string // webhook-id of every accepted message, in arrival order
	types    []string
	seqs     []int64
	tried    int
	stamps   []string
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.tried++
		if r.failing {
			rw.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if err := r.verifier.VerifyIgnoringTimestamp(body, req.Header); err != nil {
			r.t.Errorf("the Standard Webhooks library refuses a message: %v", err)
			rw.WriteHeader(http.StatusBadRequest)
			return
		}
		var msg struct {
			Type string         `json:"type"`
			Data *steward.Event `json:"data"`
		}
		if err := json.Unmarshal(body, &msg); err != nil {
			r.t.Errorf("body: %v", err)
		}
		r.ok = append(r.ok, req.Header.Get("webhook-id"))
		r.types = append(r.types, msg.Type)
		r.seqs = append(r.seqs, msg.Data.Seq)
		r.stamps = append(r.stamps, req.Header.Get("webhook-timestamp"))
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setFailing(v bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failing = v
}

func (r *receiver) snapshot() (ok []string, seqs []int64, tried int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ok...), append([]int64(nil), r.seqs...), r.tried
}

// hookSender is a Sender over the world's store and clock that trusts the receiver.
func hookSender(w *World, r *receiver) *webhook.Sender {
	tlsCfg := r.srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	s := webhook.NewSender(w.Store, w.Svc, webhook.Config{Guard: w.Svc.WebhookGuard, TLSConfig: tlsCfg, Parallel: 2}, nil)
	s.Now = func() time.Time { return w.Now }
	s.Jitter = func() float64 { return 0.5 }
	return s
}

func mustDeliver(t *testing.T, s *webhook.Sender) int {
	t.Helper()
	n, err := s.DeliverDue(context.Background())
	if err != nil {
		t.Fatalf("DeliverDue: %v", err)
	}
	return n
}

// registerReceiver registers the receiver for the account as its owner.
func registerReceiver(t *testing.T, w *World, r *receiver, accountID, ownerID string, types ...string) *steward.NewWebhook {
	t.Helper()
	hook, _, err := w.Svc.CreateWebhook(w.As(ownerID), accountID, steward.WebhookInput{URL: r.srv.URL + "/hook", EventTypes: types})
	if err != nil {
		t.Fatalf("CreateWebhook: %v", err)
	}
	v, err := standardwebhooks.NewWebhook(hook.Secret)
	if err != nil {
		t.Fatal(err)
	}
	r.verifier = v
	return hook
}

// testRHook2Delivery: audited changes reach a real HTTPS receiver once
// each, in order, signed so that the Standard Webhooks library verifies
// them; a receiver failing for a while gets retries after a backoff, then
// everything in order; a resend arrives under the same webhook-id.
func testRHook2Delivery(t *testing.T, open Opener) {
	w, _ := hookWorld(t, open, "127.0.0.1")
	acc, owner := w.Account(steward.AccountStandard)
	r := newReceiver(t)
	hook := registerReceiver(t, w, r, acc.ID, owner.ID, "role.created")
	s := hookSender(w, r)

	for i := range 5 {
		w.Role(acc.ID, fmt.Sprintf("Role %d", i))
	}
	if n := mustDeliver(t, s); n != 5 {
		t.Fatalf("delivered %d, want 5", n)
	}
	if n := mustDeliver(t, s); n != 0 {
		t.Fatalf("a second pass delivered %d, want 0 (each once)", n)
	}
	if r.stamps[0] != fmt.Sprint(w.Now.Unix()) {
		t.Fatalf("webhook-timestamp = %s, want the sender's clock %d", r.stamps[0], w.Now.Unix())
	}

	r.setFailing(true)
	for i := range 3 {
		w.Role(acc.ID, fmt.Sprintf("Later %d", i))
	}
	if n := mustDeliver(t, s); n != 0 {
		t.Fatalf("a failing receiver took %d", n)
	}
	_, _, tried := r.snapshot()
	if n := mustDeliver(t, s); n != 0 {
		t.Fatal("delivered during the backoff")
	}
	if _, _, again := r.snapshot(); again != tried {
		t.Fatalf("the receiver was tried %d times during the backoff, want none", again-tried)
	}
	ds := pending(t, w, acc.ID, hook.ID)
	head := ds[5]
	if head.Attempts != 1 || head.LastStatus != http.StatusServiceUnavailable || !head.NextAttemptAt.After(w.Now) {
		t.Fatalf("failed delivery = %+v, want 1 attempt, 503, a later next attempt", head)
	}
	for _, d := range ds[6:] {
		if d.Attempts != 0 {
			t.Fatalf("a delivery behind a failing one was tried: %+v", d)
		}
	}
	// Still failing after the backoff: one more attempt, a longer wait.
	w.Now = head.NextAttemptAt
	mustDeliver(t, s)
	second := pending(t, w, acc.ID, hook.ID)[5]
	if second.Attempts != 2 || second.NextAttemptAt.Sub(w.Now) != s.Backoff(2) || s.Backoff(2) <= s.Backoff(1) {
		t.Fatalf("second failure = %+v; the wait should grow", second)
	}
	r.setFailing(false)
	w.Now = second.NextAttemptAt
	if n := mustDeliver(t, s); n != 3 {
		t.Fatalf("after recovery delivered %d, want 3", n)
	}
	ok, seqs, _ := r.snapshot()
	if len(ok) != 8 {
		t.Fatalf("received %d messages, want 8", len(ok))
	}
	seen := map[string]bool{}
	for i, id := range ok {
		if seen[id] {
			t.Fatalf("message %s arrived twice", id)
		}
		seen[id] = true
		if i > 0 && seqs[i] <= seqs[i-1] {
			t.Fatalf("out of order: seq %d after %d", seqs[i], seqs[i-1])
		}
	}
	for _, d := range pending(t, w, acc.ID, hook.ID) {
		if d.Status != steward.DeliveryDelivered || d.DeliveredAt == nil {
			t.Fatalf("delivery %+v not delivered", d)
		}
	}

	// Resend: the first delivery again, under its webhook-id, after the rest.
	first := pending(t, w, acc.ID, hook.ID)[0]
	if _, _, err := w.Svc.ResendDelivery(w.As(owner.ID), acc.ID, hook.ID, first.ID); err != nil {
		t.Fatal(err)
	}
	if n := mustDeliver(t, s); n != 1 {
		t.Fatalf("resend delivered %d, want 1", n)
	}
	ok, _, _ = r.snapshot()
	if ok[len(ok)-1] != first.MessageID {
		t.Fatalf("resent webhook-id = %s, want %s", ok[len(ok)-1], first.MessageID)
	}
	_, _, err := w.Svc.ResendDelivery(w.As(owner.ID), acc.ID, hook.ID, "dlv_unknown")
	WantCode(t, err, steward.ENOTFOUND, "")
}

// testRHook2Disable: an endpoint failing for three days is disabled and
// the account's super admins are mailed in the same transaction; enabled
// again, it gets its deliveries in order.
func testRHook2Disable(t *testing.T, open Opener) {
	w, _ := hookWorld(t, open, "127.0.0.1")
	acc, owner := w.Account(steward.AccountStandard)
	r := newReceiver(t)
	hook := registerReceiver(t, w, r, acc.ID, owner.ID, "role.created")
	s := hookSender(w, r)
	r.setFailing(true)
	w.Role(acc.ID, "One")
	w.Role(acc.ID, "Two")
	start := w.Now
	for range 1000 {
		mustDeliver(t, s)
		d := pending(t, w, acc.ID, hook.ID)[0]
		if d.Status != steward.DeliveryPending {
			t.Fatalf("delivery %+v", d)
		}
		got, err := w.Svc.FindWebhook(w.Op, acc.ID, hook.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == steward.WebhookDisabled {
			break
		}
		if w.Now.Sub(start) >= steward.WebhookRetryFor {
			t.Fatal("still active after three days of failures")
		}
		if !d.NextAttemptAt.After(w.Now) {
			t.Fatalf("failed delivery %+v is not put off", d)
		}
		w.Now = d.NextAttemptAt
	}
	got, err := w.Svc.FindWebhook(w.Op, acc.ID, hook.ID)
	if err != nil || got.Status != steward.WebhookDisabled {
		t.Fatalf("after %s of failures: %+v, %v; want disabled", w.Now.Sub(start), got, err)
	}
	if w.Now.Sub(start) < steward.WebhookRetryFor {
		t.Fatalf("disabled after %s, before three days", w.Now.Sub(start))
	}
	msgs, err := w.Store.FindMessages(context.Background(), 20)
	if err != nil {
		t.Fatal(err)
	}
	mailed := false
	for _, m := range msgs {
		if m.Kind == "webhook.disabled" && m.To == owner.Email && m.AccountID == acc.ID {
			mailed = true
		}
	}
	if !mailed {
		t.Fatal("the account's super admin was not mailed")
	}
	events, _, err := w.Store.FindEvents(context.Background(), steward.AuditFilter{AccountID: acc.ID, Action: "webhook.disabled", Limit: 10})
	if err != nil || len(events) != 1 {
		t.Fatalf("webhook.disabled events = %d, %v", len(events), err)
	}
	// Disabled: nothing is tried.
	_, _, tried := r.snapshot()
	w.Now = w.Now.Add(24 * time.Hour)
	mustDeliver(t, s)
	if _, _, again := r.snapshot(); again != tried {
		t.Fatal("a disabled endpoint was tried")
	}
	r.setFailing(false)
	active := steward.WebhookActive
	if _, _, err := w.Svc.UpdateWebhook(w.As(owner.ID), acc.ID, hook.ID, steward.WebhookUpdate{Status: &active}); err != nil {
		t.Fatal(err)
	}
	if n := mustDeliver(t, s); n != 2 {
		t.Fatalf("re-enabled endpoint got %d, want its 2 waiting deliveries", n)
	}
}

// testRHook3: webhook URLs must be https and resolve only to public
// addresses unless the operator allows the host.
func testRHook3(t *testing.T, open Opener) {
	w, dns := hookWorld(t, open)
	dns.set("internal.example.com", "10.1.2.3")
	dns.set("metadata.example.com", "169.254.169.254")
	dns.set("loop.example.com", "127.0.0.1")
	acc, owner := w.Account(steward.AccountStandard)
	create := func(u string) error {
		_, _, err := w.Svc.CreateWebhook(w.As(owner.ID), acc.ID, steward.WebhookInput{URL: u, EventTypes: []string{"*"}})
		return err
	}
	for _, u := range []string{
		"http://hooks.example.com/plain",
		"https://127.0.0.1/hook",
		"https://127.0.0.1:8443/hook",
		"https://[::1]/hook",
		"https://10.0.0.1/hook",
		"https://10.255.1.1/hook",
		"https://192.168.1.10/hook",
		"https://172.16.0.1/hook",
		"https://169.254.169.254/latest/meta-data",
		"https://[fd00:ec2::254]/",
		"https://0.0.0.0/",
		"https://internal.example.com/hook",
		"https://metadata.example.com/hook",
		"https://loop.example.com/hook",
		"https://unknown.example.com/hook",
		"https://user:pw@hooks.example.com/hook",
		"hooks.example.com/hook",
	} {
		t.Run(u, func(t *testing.T) {
			w.unchanged(t, func() { WantCode(t, create(u), steward.EINVALID, "invalid_webhook_url") }, acc.ID)
		})
	}
	if err := create("https://hooks.example.com/ok"); err != nil {
		t.Fatalf("a public https URL: %v", err)
	}
	// Changing the URL is checked the same way.
	hooks, _, _ := w.Svc.FindWebhooks(w.As(owner.ID), acc.ID, steward.Page{})
	bad := "https://10.0.0.1/"
	_, _, err := w.Svc.UpdateWebhook(w.As(owner.ID), acc.ID, hooks[0].ID, steward.WebhookUpdate{URL: &bad})
	WantCode(t, err, steward.EINVALID, "invalid_webhook_url")

	// The operator allows a host by name: then anything it resolves to goes.
	w.Svc.WebhookGuard.AllowHosts = []string{"127.0.0.1", "loop.example.com"}
	for _, u := range []string{"https://127.0.0.1:8443/hook", "https://loop.example.com/hook"} {
		if err := create(u); err != nil {
			t.Fatalf("allowed host %s: %v", u, err)
		}
	}
	WantCode(t, create("https://10.0.0.1/hook"), steward.EINVALID, "invalid_webhook_url")
}

// testRHook3Delivery: a host that resolved to a public address at
// registration and to a loopback one later is not dialled: the delivery
// fails without reaching it.
func testRHook3Delivery(t *testing.T, open Opener) {
	w, dns := hookWorld(t, open)
	acc, owner := w.Account(steward.AccountStandard)
	r := newReceiver(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(r.srv.URL, "https://"))
	dns.set("rebind.example.com", "93.184.215.14")
	hook, _, err := w.Svc.CreateWebhook(w.As(owner.ID), acc.ID, steward.WebhookInput{URL: "https://rebind.example.com:" + port + "/hook", EventTypes: []string{"role.created"}})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := standardwebhooks.NewWebhook(hook.Secret)
	r.verifier = v
	dns.set("rebind.example.com", "127.0.0.1") // DNS changes after registration
	tlsCfg := r.srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	tlsCfg.ServerName = "example.com" // httptest's certificate names example.com
	s := webhook.NewSender(w.Store, w.Svc, webhook.Config{Guard: w.Svc.WebhookGuard, TLSConfig: tlsCfg}, nil)
	s.Now = func() time.Time { return w.Now }
	w.Role(acc.ID, "Rebound")
	if n := mustDeliver(t, s); n != 0 {
		t.Fatalf("delivered %d to a host now resolving to loopback", n)
	}
	if _, _, tried := r.snapshot(); tried != 0 {
		t.Fatalf("the receiver on the loopback was reached %d times", tried)
	}
	d := pending(t, w, acc.ID, hook.ID)[0]
	if d.Attempts != 1 || d.Status != steward.DeliveryPending || d.LastError == "" {
		t.Fatalf("delivery = %+v, want a failed attempt", d)
	}
	// The dialer itself refuses a refused address even when asked directly.
	c := webhook.NewClient(&steward.WebhookGuard{}, &tls.Config{}, time.Second)
	if _, err := c.Get(r.srv.URL); err == nil {
		t.Fatal("the delivery client reached 127.0.0.1")
	}
}
