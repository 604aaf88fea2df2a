package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/steward-iam/steward"
)

type received struct {
	header http.Header
	body   []byte
}

// TestWebhooksEndToEnd runs the real server with a receiver over HTTPS
// inside the test: audited changes arrive once each, in order, verified by
// the Standard Webhooks library; `steward webhooks verify` accepts a
// received message and refuses a changed one (R-HOOK-2).
func TestWebhooksEndToEnd(t *testing.T) {
	var mu sync.Mutex
	var got []received
	arrived := make(chan struct{}, 100)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, received{r.Header.Clone(), body})
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
		arrived <- struct{}{}
	}))
	defer srv.Close()

	m := NewMain()
	m.Config.DB = "sqlite:" + filepath.Join(t.TempDir(), "steward.db")
	m.Config.MailDir = filepath.Join(t.TempDir(), "mail")
	m.Config.Listen = "127.0.0.1:0"
	m.Config.OperatorToken = testOperatorToken
	m.Config.SecretKey = steward.NewSecretKey()
	m.Config.WebhookAllowHosts = []string{"127.0.0.1"}
	m.Config.WebhookTLS = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	m.Stderr = io.Discard
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		t.Fatal(err)
	}
	defer m.Close()

	acc := mustCall(t, http.StatusCreated, "POST", m.URL()+"/v1/accounts", testOperatorToken, map[string]any{"name": "Hooked", "kind": "standard"})
	accID := acc["id"].(string)
	hook := mustCall(t, http.StatusCreated, "POST", m.URL()+"/v1/webhooks", testOperatorToken,
		map[string]any{"account_id": accID, "url": srv.URL + "/in", "event_types": []string{"role.created", "role.deleted"}})
	secret := hook["secret"].(string)
	var roles []string
	for _, name := range []string{"One", "Two", "Three"} {
		r := mustCall(t, http.StatusCreated, "POST", m.URL()+"/v1/accounts/"+accID+"/roles", testOperatorToken, map[string]any{"name": name, "permissions": []string{}})
		roles = append(roles, r["id"].(string))
	}
	mustCall(t, http.StatusNoContent, "DELETE", m.URL()+"/v1/accounts/"+accID+"/roles/"+roles[0], testOperatorToken, nil)
	for range 4 {
		select {
		case <-arrived:
		case <-time.After(30 * time.Second):
			t.Fatal("the deliveries did not arrive")
		}
	}
	v, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	msgs := append([]received(nil), got...)
	mu.Unlock()
	wantTypes := []string{"role.created", "role.created", "role.created", "role.deleted"}
	seen := map[string]bool{}
	for i, msg := range msgs[:4] {
		if err := v.Verify(msg.body, msg.header); err != nil {
			t.Fatalf("message %d: the Standard Webhooks library refuses it: %v", i, err)
		}
		if !bytes.Contains(msg.body, []byte(`"type":"`+wantTypes[i]+`"`)) {
			t.Fatalf("message %d = %s, want type %s", i, msg.body, wantTypes[i])
		}
		if i < 3 && !bytes.Contains(msg.body, []byte(roles[i])) {
			t.Fatalf("message %d is out of order: %s", i, msg.body)
		}
		id := msg.header.Get("webhook-id")
		if seen[id] {
			t.Fatalf("message %s arrived twice", id)
		}
		seen[id] = true
	}

	// steward webhooks verify checks a message by hand.
	bodyFile := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(bodyFile, msgs[0].body, 0o600); err != nil {
		t.Fatal(err)
	}
	h := msgs[0].header
	args := []string{"webhooks", "verify", "--secret", secret, "--id", h.Get("webhook-id"), "--timestamp", h.Get("webhook-timestamp"),
		"--signature", h.Get("webhook-signature"), "--body-file", bodyFile}
	if code, out, errOut := runCLI(t, args...); code != 0 || strings.TrimSpace(out) != "valid" {
		t.Fatalf("verify = %d %q %q, want 0 valid", code, out, errOut)
	}
	if err := os.WriteFile(bodyFile, append(msgs[0].body, ' '), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runCLI(t, args...); code != exitFailed || !strings.HasPrefix(out, "invalid") {
		t.Fatalf("verify of a changed body = %d %q, want 1 invalid", code, out)
	}
}

// TestSecretKeyGeneratedOnce: without --secret-key the first start prints
// one, once, and keeps only its hash; a later start without it runs with
// webhooks off, with another key refuses to start, with it works.
func TestSecretKeyGeneratedOnce(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "steward.db")
	start := func(key string) (*Main, string, error) {
		var stderr bytes.Buffer
		m := NewMain()
		m.Config.MailDir = filepath.Join(t.TempDir(), "mail")
		m.Config.DB, m.Config.Listen, m.Config.OperatorToken, m.Config.SecretKey = db, "127.0.0.1:0", testOperatorToken, key
		m.Stderr = &stderr
		err := m.Run(context.Background())
		if err != nil {
			m.Close()
		}
		return m, stderr.String(), err
	}
	keyRE := regexp.MustCompile(`(?m)^    ([A-Za-z0-9+/]{43}=)$`)
	m, first, err := start("")
	if err != nil {
		t.Fatal(err)
	}
	keys := keyRE.FindAllStringSubmatch(first, -1)
	if len(keys) != 1 {
		t.Fatalf("first start printed %d secret keys, want 1: %q", len(keys), first)
	}
	key := keys[0][1]
	acc := mustCall(t, http.StatusCreated, "POST", m.URL()+"/v1/accounts", testOperatorToken, map[string]any{"name": "K", "kind": "standard"})
	m.Close()
	data, _ := os.ReadFile(filepath.Join(dir, "steward.db"))
	if bytes.Contains(data, []byte(key)) {
		t.Fatal("the database holds the secret key in clear")
	}

	m, second, err := start("")
	if err != nil {
		t.Fatal(err)
	}
	if keyRE.MatchString(second) {
		t.Fatalf("a later start printed a key again: %q", second)
	}
	status, body := call(t, "POST", m.URL()+"/v1/webhooks", testOperatorToken, map[string]any{"account_id": acc["id"], "url": "https://example.com/in", "event_types": []string{"*"}})
	if status != http.StatusServiceUnavailable || body["code"] != "webhook_secret_key_missing" {
		t.Fatalf("a webhook without the key: %d %v, want 503 webhook_secret_key_missing", status, body)
	}
	m.Close()

	if _, _, err := start(steward.NewSecretKey()); err == nil || !strings.Contains(err.Error(), "secret-key") {
		t.Fatalf("another key: err = %v, want a refusal", err)
	}
	m, _, err = start(key)
	if err != nil {
		t.Fatalf("the printed key: %v", err)
	}
	m.Close()
}
