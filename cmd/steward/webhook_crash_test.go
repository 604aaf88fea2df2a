package main

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/internal/pgtest"
)

// TestRHOOK2_DeliveredOnceAfterSIGKILL starts a real `steward serve` with an
// endpoint on a receiver inside the test, makes a change, and kills the
// process with SIGKILL while the change's delivery is on its way (the
// receiver holds the first attempt until the process is dead, then fails
// it). Restarted on the same database, the server delivers the change; the
// receiver answers it once with success and never sees it again; each
// message verifies with the Standard Webhooks library (R-HOOK-2).
func TestRHOOK2_DeliveredOnceAfterSIGKILL(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		testDeliveredAfterKill(t, "sqlite:"+filepath.Join(t.TempDir(), "steward.db"))
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		testDeliveredAfterKill(t, pgtest.NewDSN(t))
	})
}

// holdingReceiver holds the first message it gets until released, then
// fails it; it accepts every later one that verifies.
type holdingReceiver struct {
	t        *testing.T
	srv      *httptest.Server
	held     chan string   // the webhook-id of the held message
	release  chan struct{} // closed to let the held attempt fail
	mu       sync.Mutex
	verifier *standardwebhooks.Webhook
	attempts []string // webhook-id of every attempt, in arrival order
	accepted []string // webhook-id of every message answered with success
	arrived  chan struct{}
}

func newHoldingReceiver(t *testing.T) *holdingReceiver {
	r := &holdingReceiver{t: t, held: make(chan string, 1), release: make(chan struct{}), arrived: make(chan struct{}, 100)}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		id := req.Header.Get("webhook-id")
		r.mu.Lock()
		first := len(r.attempts) == 0
		r.attempts = append(r.attempts, id)
		v := r.verifier
		r.mu.Unlock()
		if err := v.Verify(body, req.Header); err != nil {
			t.Errorf("the Standard Webhooks library refuses message %s: %v", id, err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if first {
			r.held <- id
			<-r.release
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		r.mu.Lock()
		r.accepted = append(r.accepted, id)
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		r.arrived <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	t.Cleanup(func() {
		select {
		case <-r.release:
		default:
			close(r.release)
		}
	})
	return r
}

// certFile writes the receiver's certificate where the child process's TLS
// looks for its roots (SSL_CERT_FILE).
func (r *holdingReceiver) certFile(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "receiver.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (r *holdingReceiver) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-r.arrived:
		case <-time.After(60 * time.Second):
			t.Fatal("a delivery did not arrive within 60s")
		}
	}
}

func testDeliveredAfterKill(t *testing.T, db string) {
	r := newHoldingReceiver(t)
	args := []string{"--webhook-allow-host", "127.0.0.1"} // R-HOOK-3: loopback only when allowed
	env := []string{"STEWARD_SECRET_KEY=" + steward.NewSecretKey(), "SSL_CERT_FILE=" + r.certFile(t)}
	first := startNodeArgs(t, db, args, env...)

	res, body := first.do(t, "POST", "/v1/accounts", steward.NewAccount{Name: "Hooked", Kind: steward.AccountStandard})
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create account: %d %s", res.StatusCode, body)
	}
	var acc steward.Account
	json.Unmarshal(body, &acc)
	res, body = first.do(t, "POST", "/v1/webhooks", map[string]any{"account_id": acc.ID, "url": r.srv.URL + "/in", "event_types": []string{"role.created"}})
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create webhook: %d %s", res.StatusCode, body)
	}
	var hook steward.NewWebhook
	json.Unmarshal(body, &hook)
	v, err := standardwebhooks.NewWebhook(hook.Secret)
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.verifier = v
	r.mu.Unlock()

	roles := "/v1/accounts/" + acc.ID + "/roles"
	res, body = first.do(t, "POST", roles, map[string]any{"name": "Support", "permissions": []string{}})
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create role: %d %s", res.StatusCode, body)
	}
	var held string
	select {
	case held = <-r.held:
	case <-time.After(60 * time.Second):
		t.Fatal("the change's delivery did not start within 60s")
	}
	// The change is committed, its delivery is on its way: kill -9.
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.cmd.Wait()
	if ws, ok := first.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the server ended with %v, want SIGKILL", first.cmd.ProcessState)
	}
	close(r.release) // the held attempt fails: the receiver never accepted it

	// Restarted on the same database, the server delivers it.
	restarted := startNodeArgs(t, db, args, env...)
	r.wait(t, 1)
	// A later change comes after it; the first is not sent again.
	res, body = restarted.do(t, "POST", roles, map[string]any{"name": "Billing", "permissions": []string{}})
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create role after the restart: %d %s", res.StatusCode, body)
	}
	r.wait(t, 1)

	_, body = restarted.do(t, "GET", "/v1/accounts/"+acc.ID+"/audit?action=role.created", nil)
	var events struct{ Items []steward.Event }
	json.Unmarshal(body, &events)
	if len(events.Items) != 2 {
		t.Fatalf("role.created events = %d, want 2", len(events.Items))
	}
	want := []string{events.Items[1].ID, events.Items[0].ID} // the log lists newest first
	if held != want[0] {
		t.Fatalf("the held message was %s, want the first change's event %s", held, want[0])
	}
	r.mu.Lock()
	accepted := slices.Clone(r.accepted)
	r.mu.Unlock()
	if !slices.Equal(accepted, want) {
		t.Fatalf("accepted messages %v, want each change once, in order: %v", accepted, want)
	}
	// The sender records each success after the receiver's answer.
	var deliveries struct{ Items []steward.WebhookDelivery }
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, body = restarted.do(t, "GET", "/v1/accounts/"+acc.ID+"/webhooks/"+hook.ID+"/deliveries", nil)
		deliveries.Items = nil
		json.Unmarshal(body, &deliveries)
		done := len(deliveries.Items) == 2
		for _, d := range deliveries.Items {
			done = done && d.Status == steward.DeliveryDelivered
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries = %s, want two, one per change, delivered", body)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Equal(r.accepted, want) {
		t.Fatalf("accepted messages %v, want each change once, in order: %v", r.accepted, want)
	}
}
