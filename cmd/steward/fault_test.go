package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/steward-iam/steward/internal/pgtest"
)

// faultMargin is what a request may take beyond the database timeout: the
// work around the wait and a loaded test machine.
const faultMargin = 1500 * time.Millisecond

// outcome is one request of the load.
type outcome struct {
	kind       string
	start, end time.Time
	status     int
	retryAfter string
	code       string
	err        error
}

// load sends requests from a few goroutines until stopped and keeps every outcome.
type load struct {
	mu   sync.Mutex
	outs []outcome
	stop chan struct{}
	wg   sync.WaitGroup
}

type faultRequest struct {
	kind, method, path, token string
	body                      func(i int) any
}

func startLoad(base string, reqs []faultRequest) *load {
	l := &load{stop: make(chan struct{})}
	client := &http.Client{Timeout: 20 * time.Second}
	for _, r := range reqs {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				o := send(client, base, r, i)
				l.mu.Lock()
				l.outs = append(l.outs, o)
				l.mu.Unlock()
				// A pause between requests spares the shared machine; a
				// longer one after a failure, as a client honouring
				// Retry-After would, but quicker.
				pause := 5 * time.Millisecond
				if o.err != nil || o.status >= 500 {
					pause = 20 * time.Millisecond
				}
				time.Sleep(pause)
			}
		}()
	}
	return l
}

func send(client *http.Client, base string, r faultRequest, i int) outcome {
	o := outcome{kind: r.kind, start: time.Now()}
	var body io.Reader
	if r.body != nil {
		b, _ := json.Marshal(r.body(i))
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(r.method, base+r.path, body)
	req.Header.Set("Authorization", "Bearer "+r.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		o.err, o.end = err, time.Now()
		return o
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	o.end, o.status, o.retryAfter = time.Now(), resp.StatusCode, resp.Header.Get("Retry-After")
	if resp.StatusCode >= 400 {
		var p struct{ Code string }
		if json.Unmarshal(data, &p) != nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
			o.code = "(not a problem document)"
		} else {
			o.code = p.Code
		}
	}
	return o
}

// since returns the outcomes of requests that started at or after t.
func (l *load) since(t time.Time) []outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []outcome
	for _, o := range l.outs {
		if !o.start.Before(t) {
			out = append(out, o)
		}
	}
	return out
}

func (l *load) finish() []outcome {
	close(l.stop)
	l.wg.Wait()
	return l.since(time.Time{})
}

func (o outcome) ok() bool { return o.err == nil && o.status >= 200 && o.status < 300 }

func (o outcome) String() string {
	if o.err != nil {
		return fmt.Sprintf("%s: %v after %s", o.kind, o.err, o.end.Sub(o.start).Round(time.Millisecond))
	}
	return fmt.Sprintf("%s: %d %s (Retry-After %q) after %s", o.kind, o.status, o.code, o.retryAfter, o.end.Sub(o.start).Round(time.Millisecond))
}

// awaitRecovery waits until, from some moment on, every kind of request
// succeeds, and fails the test unless that moment comes within the
// database timeout and the margin of back (the database's return).
func awaitRecovery(t *testing.T, l *load, back time.Time, bound time.Duration, kinds []string) {
	t.Helper()
	deadline := back.Add(bound + faultMargin)
	// Requests that start after the deadline must all succeed; wait until
	// each kind has had a few of them.
	for {
		time.Sleep(200 * time.Millisecond)
		outs := l.since(deadline)
		n := map[string]int{}
		for _, o := range outs {
			if o.end.IsZero() {
				continue
			}
			n[o.kind]++
		}
		done := true
		for _, k := range kinds {
			done = done && n[k] >= 3
		}
		if done {
			break
		}
		if time.Since(deadline) > 10*time.Second {
			t.Fatalf("after the database came back, some kinds of requests did not complete: %v", n)
		}
	}
	for _, o := range l.since(deadline) {
		if !o.ok() {
			t.Errorf("%s after the database came back (at %s): %s", o.start.Sub(back).Round(time.Millisecond), back.Format("15:04:05.000"), o)
		}
	}
}

// A database that stops, or hangs, costs requests a bounded wait and a 503
// with Retry-After, never a 500; checks by the operator keep answering from
// memory; and the same process serves every request again soon after the
// database is back (a stop with pg_ctl, then a freeze with SIGSTOP).
func TestDatabaseFaults(t *testing.T) {
	srv := pgtest.StartServer(t)
	m := NewMain()
	m.Config.DB = srv.DSN()
	m.Config.MailDir = filepath.Join(t.TempDir(), "mail")
	m.Config.Listen = "127.0.0.1:0"
	m.Config.OperatorToken = testOperatorToken
	m.Stderr = io.Discard
	bound := m.Config.DBTimeout
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		t.Fatalf("Run: %v", err)
	}
	defer func() {
		srv.Thaw()
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	base := m.URL()

	acc := mustCall(t, http.StatusCreated, "POST", base+"/v1/accounts", testOperatorToken, map[string]any{
		"name": "Acme", "kind": "standard", "owner": map[string]any{"email": "ada@acme.example", "name": "Ada"},
	})
	accID := acc["id"].(string)
	members := mustCall(t, http.StatusOK, "GET", base+"/v1/accounts/"+accID+"/members", testOperatorToken, nil)
	owner := members["items"].([]any)[0].(map[string]any)["user_id"].(string)
	userToken := mustCall(t, http.StatusCreated, "POST", base+"/v1/tokens", testOperatorToken, map[string]any{"user_id": owner})["token"].(string)
	check := func(int) any {
		return map[string]any{"user_id": owner, "account_id": accID, "permission": "crm.contacts.edit"}
	}
	reqs := []faultRequest{
		{kind: "write", method: "PATCH", path: "/v1/accounts/" + accID, token: userToken,
			body: func(i int) any { return map[string]any{"name": fmt.Sprintf("Acme %d", i)} }},
		{kind: "user check", method: "POST", path: "/v1/check", token: userToken, body: check},
		{kind: "read", method: "GET", path: "/v1/accounts/" + accID + "/members", token: userToken},
		{kind: "operator check", method: "POST", path: "/v1/check", token: testOperatorToken, body: check},
	}
	kinds := []string{"write", "user check", "read", "operator check"}
	l := startLoad(base, reqs)
	begin := time.Now()

	// Warm: everything answers.
	time.Sleep(500 * time.Millisecond)

	t0 := time.Now()
	srv.Stop()
	time.Sleep(5 * time.Second)
	srv.Start()
	back := time.Now()
	t.Logf("stopped for %s", back.Sub(t0).Round(time.Millisecond))
	awaitRecovery(t, l, back, bound, kinds)
	stopOutage := l.since(t0)

	t1 := time.Now()
	srv.Freeze()
	time.Sleep(8 * time.Second)
	srv.Thaw()
	back = time.Now()
	awaitRecovery(t, l, back, bound, kinds)
	freezeOutage := l.since(t1)

	outs := l.finish()
	for _, o := range outs {
		took := o.end.Sub(o.start)
		switch {
		case o.err != nil:
			t.Errorf("at %s: %s", o.start.Sub(begin).Round(time.Millisecond), o)
		case o.ok():
		case o.status == http.StatusServiceUnavailable && o.retryAfter != "" && o.code == "database_unavailable":
		default:
			t.Errorf("at %s: %s; want 2xx, or 503 database_unavailable with Retry-After", o.start.Sub(begin).Round(time.Millisecond), o)
		}
		// The one duration the test checks is the configured bound.
		if took > bound+faultMargin {
			t.Errorf("at %s: %s; waited longer than --db-timeout %s and %s", o.start.Sub(begin).Round(time.Millisecond), o, bound, faultMargin)
		}
		if o.kind == "operator check" && !o.ok() {
			t.Errorf("at %s: %s; an operator check answers from memory", o.start.Sub(begin).Round(time.Millisecond), o)
		}
	}
	// The outages were felt: requests that needed the database were refused.
	for name, phase := range map[string][]outcome{"stop": stopOutage, "freeze": freezeOutage} {
		refused, operator := 0, 0
		for _, o := range phase {
			if o.status == http.StatusServiceUnavailable {
				refused++
			}
			if o.kind == "operator check" && o.ok() {
				operator++
			}
		}
		if refused == 0 || operator == 0 {
			t.Errorf("%s: %d requests answered 503 and %d operator checks 200, want some of each", name, refused, operator)
		}
	}
	t.Logf("%d requests in %s", len(outs), time.Since(begin).Round(time.Millisecond))
}
