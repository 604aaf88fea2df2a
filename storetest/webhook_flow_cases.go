package storetest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/webhook"
)

func init() {
	partnerCases = append(partnerCases,
		suiteCase{"R-HOOK-2_PartnerFlowDeliveredOnceInOrder", testRHook2PartnerFlow},
		suiteCase{"R-HOOK-2_ExternalUserFlowDeliveredOnceInOrder", testRHook2ExternalFlow},
	)
}

// flowReceiver is one HTTPS server inside the test for several endpoints,
// one path each: it verifies every message with the Standard Webhooks
// library and the endpoint's secret, and fails while told to.
type flowReceiver struct {
	t         *testing.T
	srv       *httptest.Server
	mu        sync.Mutex
	verifiers map[string]*standardwebhooks.Webhook // by path
	failing   map[string]bool                      // by path
	got       map[string][]flowMessage             // accepted, by path, in arrival order
	tried     map[string]int                       // attempts, by path
	now       func() time.Time                     // the sender's clock
}

type flowMessage struct {
	id, typ string
	seq     int64
}

func newFlowReceiver(t *testing.T, w *World) *flowReceiver {
	r := &flowReceiver{t: t, now: func() time.Time { return w.Now }, verifiers: map[string]*standardwebhooks.Webhook{}, failing: map[string]bool{},
		got: map[string][]flowMessage{}, tried: map[string]int{}}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		p := req.URL.Path
		r.tried[p]++
		if r.failing[p] {
			rw.WriteHeader(http.StatusBadGateway)
			return
		}
		v := r.verifiers[p]
		if v == nil {
			r.t.Errorf("a message to unknown endpoint %s", p)
			rw.WriteHeader(http.StatusNotFound)
			return
		}
		// The sender signs on the test's clock, months from the real one:
		// the signature is checked, and the timestamp against that clock.
		if err := v.VerifyIgnoringTimestamp(body, req.Header); err != nil {
			r.t.Errorf("the Standard Webhooks library refuses a message to %s: %v", p, err)
			rw.WriteHeader(http.StatusBadRequest)
			return
		}
		var msg struct {
			Type string         `json:"type"`
			Data *steward.Event `json:"data"`
		}
		if err := json.Unmarshal(body, &msg); err != nil || msg.Data == nil {
			r.t.Errorf("body %s: %v", body, err)
			return
		}
		if id := req.Header.Get("webhook-id"); id != msg.Data.ID {
			r.t.Errorf("webhook-id %s is not the event's id %s", id, msg.Data.ID)
		}
		if ts := req.Header.Get("webhook-timestamp"); ts != strconv.FormatInt(r.now().Unix(), 10) {
			r.t.Errorf("webhook-timestamp %s, want the sender's clock %d", ts, r.now().Unix())
		}
		r.got[p] = append(r.got[p], flowMessage{msg.Data.ID, msg.Type, msg.Data.Seq})
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// register registers an endpoint of the account for every event, at path,
// as the owner.
func (r *flowReceiver) register(w *World, accountID, ownerID, path string) *steward.NewWebhook {
	r.t.Helper()
	hook, _, err := w.Svc.CreateWebhook(w.As(ownerID), accountID, steward.WebhookInput{URL: r.srv.URL + path, EventTypes: []string{"*"}})
	if err != nil {
		r.t.Fatalf("CreateWebhook: %v", err)
	}
	v, err := standardwebhooks.NewWebhook(hook.Secret)
	if err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	r.verifiers[path] = v
	r.mu.Unlock()
	return hook
}

func (r *flowReceiver) setFailing(path string, v bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failing[path] = v
}

func (r *flowReceiver) messages(path string) []flowMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got[path])
}

// flowSender is a sender on the world's clock whose jitter runs through a
// fixed list, so that each wait can be told exactly.
func flowSender(w *World, r *flowReceiver) (*webhook.Sender, func() []float64) {
	tlsCfg := r.srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	s := webhook.NewSender(w.Store, w.Svc, webhook.Config{Guard: w.Svc.WebhookGuard, TLSConfig: tlsCfg}, nil)
	s.Now = func() time.Time { return w.Now }
	var mu sync.Mutex
	jitters := []float64{0.05, 0.95, 0.5, 0.25, 0.75, 0.1, 0.9, 0.6}
	var used []float64
	s.Jitter = func() float64 {
		mu.Lock()
		defer mu.Unlock()
		j := jitters[len(used)%len(jitters)]
		used = append(used, j)
		return j
	}
	return s, func() []float64 {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(used)
	}
}

// wantLog checks that an endpoint received every event of its account's
// audit log from its registration on, once each, in the log's order, and
// that the log holds the actions of the flow.
func wantLog(t *testing.T, w *World, r *flowReceiver, path, accountID string, hook *steward.NewWebhook, actions ...string) {
	t.Helper()
	var want []flowMessage
	from := int64(-1)
	if err := w.Store.ScanEvents(context.Background(), accountID, func(e *steward.Event) error {
		if e.Action == "webhook.created" && e.TargetID == hook.ID {
			from = e.Seq
		}
		if from >= 0 && e.Seq >= from {
			want = append(want, flowMessage{e.ID, e.Action, e.Seq})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got := r.messages(path)
	if !slices.Equal(got, want) {
		t.Fatalf("%s received %d messages:\n%v\nwant the account's %d events since the endpoint, once each, in order:\n%v", path, len(got), got, len(want), want)
	}
	for _, a := range actions {
		if !slices.ContainsFunc(want, func(m flowMessage) bool { return m.typ == a }) {
			t.Fatalf("%s: no %s among %v", path, a, want)
		}
	}
}

// deliverAll runs passes of s, moving the clock to each next attempt, until
// nothing is pending; it fails after many passes.
func deliverAll(t *testing.T, w *World, s *webhook.Sender, hooks ...*steward.NewWebhook) {
	t.Helper()
	for range 50 {
		mustDeliver(t, s)
		var next *time.Time
		for _, h := range hooks {
			for _, d := range pending(t, w, h.AccountID, h.ID) {
				if d.Status == steward.DeliveryPending && (next == nil || d.NextAttemptAt.Before(*next)) {
					next = &d.NextAttemptAt
				}
			}
		}
		if next == nil {
			return
		}
		if next.After(w.Now) {
			w.Now = *next
		}
	}
	t.Fatal("deliveries still pending after 50 passes")
}

// testRHook2PartnerFlow: every audited change of the partner flow (access
// link created, approved, employees added, a role changed, an employee
// removed, the relationship ended) reaches the partner's and the client's
// endpoints once each, in order, verified by the Standard Webhooks
// library. The client's receiver fails for a while first: its first
// delivery is retried after waits that double, each varied by the jitter,
// on the test's clock; the later deliveries wait behind it, and then
// everything arrives in order.
func testRHook2PartnerFlow(t *testing.T, open Opener) {
	pw := newPartnerWorld(t, open)
	w := pw.World
	box, _ := steward.NewSecretBox(make([]byte, 32))
	w.Svc.Secrets = box
	w.Svc.WebhookGuard = &steward.WebhookGuard{AllowHosts: []string{"127.0.0.1"}}
	r := newFlowReceiver(t, w)
	pHook := r.register(w, pw.P.ID, pw.POwner.ID, "/partner")
	cHook := r.register(w, pw.C.ID, pw.COwner.ID, "/client")
	s, jitters := flowSender(w, r)
	r.setFailing("/client", true)

	u := w.User(pw.P.ID, steward.RoleMember)
	token := w.Link(pw.P.ID, u.ID, u.ID)
	if _, _, err := w.Svc.ApproveAccessLink(w.As(pw.COwner.ID), token, pw.C.ID); err != nil {
		t.Fatalf("ApproveAccessLink: %v", err)
	}
	emps := w.Employees(pw.P.ID, pw.C.ID, u.ID, steward.RoleMember, 2)
	viewers := w.Role(pw.C.ID, "Viewers", "crm.contacts.view")
	if _, _, err := w.Svc.ChangeEmployeeRole(w.As(u.ID), pw.P.ID, pw.C.ID, emps[0].ID, viewers.ID); err != nil {
		t.Fatalf("ChangeEmployeeRole: %v", err)
	}
	if _, _, err := w.Svc.RemoveEmployees(w.As(pw.POwner.ID), pw.P.ID, steward.EmployeeSelection{UserIDs: []string{emps[1].ID}, AccountIDs: []string{pw.C.ID}}); err != nil {
		t.Fatalf("RemoveEmployees: %v", err)
	}
	if _, _, err := w.Svc.EndRelationship(w.As(pw.COwner.ID), pw.C.ID, pw.P.ID); err != nil {
		t.Fatalf("EndRelationship: %v", err)
	}

	// The client's receiver fails: its head delivery is retried after
	// Backoff·2^(n−1)·(0.8 + 0.4·jitter), nothing behind it is tried, and
	// the test's clock moves to each next attempt (no real waiting).
	for attempt := 1; attempt <= 5; attempt++ {
		mustDeliver(t, s)
		ds := pending(t, w, pw.C.ID, cHook.ID)
		head := ds[0]
		if head.Attempts != attempt || head.LastStatus != http.StatusBadGateway {
			t.Fatalf("attempt %d: head delivery %+v", attempt, head)
		}
		for _, d := range ds[1:] {
			if d.Attempts != 0 {
				t.Fatalf("a delivery behind the failing one was tried: %+v", d)
			}
		}
		wait := head.NextAttemptAt.Sub(w.Now)
		j := jitters()[attempt-1]
		base := webhook.DefaultBackoff << (attempt - 1)
		if want := time.Duration(float64(base) * (0.8 + 0.4*j)); wait != want {
			t.Fatalf("wait after failure %d = %s, want %s (backoff %s, jitter %.2f)", attempt, wait, want, base, j)
		}
		if n := mustDeliver(t, s); n != 0 || len(r.messages("/client")) != 0 {
			t.Fatal("delivered to the client during the backoff")
		}
		w.Now = head.NextAttemptAt
	}
	// The partner's endpoint was never held up by the client's.
	wantLog(t, w, r, "/partner", pw.P.ID, pHook, "access_link.created", "access_link.approved", "relationship.ended")

	r.setFailing("/client", false)
	deliverAll(t, w, s, pHook, cHook)
	wantLog(t, w, r, "/client", pw.C.ID, cHook, "access_link.approved", "partner_member.added", "partner_member.role_changed", "partner_member.removed", "relationship.ended")
	if n := mustDeliver(t, s); n != 0 {
		t.Fatalf("a pass after everything delivered %d more", n)
	}
}

// testRHook2ExternalFlow: every audited change of the external-user flow
// (invited, accepted, delegated, edited, removed) reaches the client's
// endpoint once, in order, verified by the Standard Webhooks library.
func testRHook2ExternalFlow(t *testing.T, open Opener) {
	x := newExtWorld(t, open)
	w := x.World
	box, _ := steward.NewSecretBox(make([]byte, 32))
	w.Svc.Secrets = box
	w.Svc.WebhookGuard = &steward.WebhookGuard{AllowHosts: []string{"127.0.0.1"}}
	r := newFlowReceiver(t, w)
	hook := r.register(w, x.client.ID, x.owner.ID, "/client")
	s, _ := flowSender(w, r)

	x.invite(x.As(x.owner.ID), x.editors.ID, steward.NewInvitations{AllowRedelegation: true}, x.ext.Email)
	mustDeliver(t, s) // deliveries go while the flow runs, too
	if _, _, err := x.Svc.AcceptInvitation(x.As(x.ext.ID), x.token(x.ext.Email)); err != nil {
		t.Fatalf("AcceptInvitation: %v", err)
	}
	if _, _, err := x.Svc.AddDelegates(x.As(x.ext.ID), x.client.ID, x.ext.ID, steward.NewDelegates{UserIDs: []string{x.colleague.ID}}); err != nil {
		t.Fatalf("AddDelegates: %v", err)
	}
	mustDeliver(t, s)
	end := w.Now.Add(30 * 24 * time.Hour)
	if _, _, err := x.Svc.UpdateExternalUser(x.As(x.owner.ID), x.client.ID, x.ext.ID, steward.ExternalUpdate{EndsAt: &end}); err != nil {
		t.Fatalf("UpdateExternalUser: %v", err)
	}
	if _, err := x.Svc.RemoveMember(x.As(x.owner.ID), x.client.ID, x.ext.ID); err != nil {
		t.Fatalf("RemoveMember: %v", err)
	}
	deliverAll(t, w, s, hook)
	wantLog(t, w, r, "/client", x.client.ID, hook, "invitation.created", "invitation.accepted", "delegate.added", "external_user.updated", "member.removed")
}
