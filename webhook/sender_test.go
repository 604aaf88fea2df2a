package webhook_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/sqlite"
	"github.com/steward-iam/steward/webhook"
)

// passCounter counts the sender's passes (each reads the due deliveries).
type passCounter struct {
	*sqlite.DB
	passes atomic.Int32
}

func (p *passCounter) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]*steward.WebhookDelivery, error) {
	p.passes.Add(1)
	return p.DB.DueDeliveries(ctx, now, limit)
}

// TestRHOOK2_WokenByCommitsThatGaveItWork runs the sender with an hour's
// poll: a commit in an account with an active endpoint wakes it and its
// delivery goes at once; a commit in an account without endpoints does
// not wake it.
func TestRHOOK2_WokenByCommitsThatGaveItWork(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "steward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	svc := steward.NewService(db, steward.MustCatalogue(steward.DefaultProductPermissions()), nil)
	svc.Secrets, _ = steward.NewSecretBox(make([]byte, 32))
	svc.WebhookGuard = &steward.WebhookGuard{AllowHosts: []string{"127.0.0.1"}}
	arrived := make(chan string, 10)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- r.Header.Get("webhook-id")
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	op := steward.NewContextWithActor(context.Background(), &steward.Actor{Operator: true})
	hooked, _, err := svc.CreateAccount(op, steward.NewAccount{Name: "Hooked", Kind: steward.AccountStandard})
	if err != nil {
		t.Fatal(err)
	}
	plain, _, err := svc.CreateAccount(op, steward.NewAccount{Name: "Plain", Kind: steward.AccountStandard})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.CreateWebhook(op, hooked.ID, steward.WebhookInput{URL: srv.URL + "/in", EventTypes: []string{"role.created"}}); err != nil {
		t.Fatal(err)
	}
	tls := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	counted := &passCounter{DB: db}
	s := webhook.NewSender(counted, svc, webhook.Config{Guard: svc.WebhookGuard, TLSConfig: tls, Poll: time.Hour}, nil)
	var woken []steward.Queued
	svc.OnQueued = func(q steward.Queued) {
		woken = append(woken, q)
		s.Wake(q)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()

	role := func(accountID, name string) {
		t.Helper()
		perms := []string{}
		if _, _, err := svc.CreateRole(op, accountID, steward.RoleInput{Name: &name, Permissions: &perms}); err != nil {
			t.Fatal(err)
		}
	}
	wait := func() string {
		t.Helper()
		select {
		case id := <-arrived:
			return id
		case <-time.After(30 * time.Second):
			t.Fatal("no delivery: the commit did not wake the sender")
		}
		return ""
	}
	quiet := func() {
		t.Helper()
		select {
		case id := <-arrived:
			t.Fatalf("unexpected delivery %s", id)
		case <-time.After(200 * time.Millisecond):
		}
	}
	role(hooked.ID, "One")
	first := wait()
	// The sender passes once more after a delivery; wait until it rests.
	passes := counted.passes.Load()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		n := counted.passes.Load()
		if n == passes {
			break
		}
		passes = n
	}
	role(plain.ID, "Elsewhere")
	quiet()
	if n := counted.passes.Load(); n != passes {
		t.Fatalf("a commit in an account without endpoints made %d passes, want none", n-passes)
	}
	role(hooked.ID, "Two")
	if second := wait(); second == first {
		t.Fatalf("the first message came again: %s", second)
	}
	if n := len(woken); n != 3 || woken[1].Accounts[0] != plain.ID || woken[1].Webhooks || woken[1].Mail {
		t.Fatalf("OnQueued calls %+v", woken)
	}
}
