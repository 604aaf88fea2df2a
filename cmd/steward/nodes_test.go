package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	stewardhttp "github.com/steward-iam/steward/http"
	"github.com/steward-iam/steward/internal/pgtest"
)

// TestMain lets the test binary run as the steward command itself, so that
// tests can start real `steward serve` processes.
func TestMain(m *testing.M) {
	if os.Getenv("STEWARD_TEST_RUN_AS_STEWARD") == "1" {
		if os.Getenv("STEWARD_TEST_KILL_AFTER_COMMIT") == "1" {
			// The process dies the moment a POST with an Idempotency-Key has
			// committed, before its answer is written.
			testServerOptions = append(testServerOptions, stewardhttp.WithAfterCommit(func(*http.Request) {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}))
		}
		main()
		return
	}
	os.Exit(m.Run())
}

// node is one `steward serve` process.
type node struct {
	url string
	cmd *exec.Cmd
}

var listeningRE = regexp.MustCompile(`is listening on (http://\S+)`)

// startNode starts `steward serve` on a free loopback port over dsn, with
// env added to its environment, and waits until it listens. It is stopped
// with SIGTERM when the test ends.
func startNode(t *testing.T, dsn string, env ...string) *node {
	t.Helper()
	return startNodeArgs(t, dsn, nil, env...)
}

// startNodeArgs is startNode with args added to `steward serve`.
func startNodeArgs(t *testing.T, dsn string, args []string, env ...string) *node {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--listen", "127.0.0.1:0", "--mail-dir", filepath.Join(t.TempDir(), "mail")}, args...)...)
	cmd.Env = append(os.Environ(), "STEWARD_TEST_RUN_AS_STEWARD=1", "STEWARD_DB="+dsn, "STEWARD_OPERATOR_TOKEN="+testOperatorToken)
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Error("a node did not stop within 20s of SIGTERM")
		}
	})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	select {
	case u := <-urls:
		return &node{url: u, cmd: cmd}
	case <-time.After(60 * time.Second):
		t.Fatal("a node did not start listening within 60s")
	}
	return nil
}

func (n *node) do(t *testing.T, method, path string, body any) (*http.Response, []byte) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, n.url+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+testOperatorToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res, data
}

// TestRCHECK3_ThreeNodes starts three `steward serve` processes on one
// PostgreSQL database. A write on one node is visible on the others at once
// with min_revision, and soon after without it (R-CHECK-3).
func TestRCHECK3_ThreeNodes(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	nodes := []*node{startNode(t, dsn), startNode(t, dsn), startNode(t, dsn)}

	res, body := nodes[0].do(t, "POST", "/v1/accounts", steward.NewAccount{Name: "Acme", Kind: steward.AccountStandard,
		Owner: &steward.NewOwner{Email: "ada@acme.example", Name: "Ada"}})
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create account: %d %s", res.StatusCode, body)
	}
	var acc steward.Account
	json.Unmarshal(body, &acc)
	var delays []time.Duration
	for i := range 20 {
		// Alternate the writing node; every other node must see the write.
		writer := nodes[i%3]
		res, body := writer.do(t, "POST", "/v1/users", steward.NewUser{Email: fmt.Sprintf("u%d@acme.example", i), Name: "U",
			HomeAccountID: acc.ID, Role: steward.RoleSuperAdmin})
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("create user: %d %s", res.StatusCode, body)
		}
		written := time.Now()
		rev, _ := strconv.ParseInt(res.Header.Get("Steward-Revision"), 10, 64)
		var u steward.User
		json.Unmarshal(body, &u)
		for j, n := range nodes {
			if n == writer {
				continue
			}
			if i%2 == 0 {
				// With min_revision: answered at once, and right.
				var got steward.CheckResult
				res, body := n.do(t, "POST", "/v1/check", steward.CheckRequest{UserID: u.ID, AccountID: acc.ID, Permission: "reports.view", MinRevision: rev})
				if res.StatusCode != http.StatusOK {
					t.Fatalf("node %d: check with min_revision %d: %d %s", j, rev, res.StatusCode, body)
				}
				json.Unmarshal(body, &got)
				if !got.Allowed || got.Revision < rev {
					t.Fatalf("node %d: check with min_revision %d = %+v, want allowed at that revision", j, rev, got)
				}
				continue
			}
			// Without: poll the index's listing, which never waits.
			for {
				var page struct{ Items []steward.Access }
				_, body := n.do(t, "GET", "/v1/users/"+u.ID+"/accounts?permission=reports.view", nil)
				json.Unmarshal(body, &page)
				if len(page.Items) == 1 {
					delays = append(delays, time.Since(written))
					break
				}
				if time.Since(written) > 5*time.Second {
					t.Fatalf("node %d: a write of another node is not visible after 5s", j)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
	}
	slices.Sort(delays)
	t.Logf("visibility without min_revision over %d reads: median %s, max %s (steward bench measures it properly)",
		len(delays), delays[len(delays)/2], delays[len(delays)-1])
}

// TestRREVOKE2_TokensStopOnEveryNode starts two `steward serve` processes on
// one PostgreSQL database, each resolving bearer tokens from memory. A
// token revoked, or its user deactivated, through one node is refused by
// that node on the next request and by the other as soon as it has followed
// the change feed (R-REVOKE-2: within one second).
func TestRREVOKE2_TokensStopOnEveryNode(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	nodes := []*node{startNode(t, dsn), startNode(t, dsn)}
	res, body := nodes[0].do(t, "POST", "/v1/accounts", steward.NewAccount{Name: "Acme", Kind: steward.AccountStandard,
		Owner: &steward.NewOwner{Email: "ada@acme.example", Name: "Ada"}})
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create account: %d %s", res.StatusCode, body)
	}
	var acc steward.Account
	json.Unmarshal(body, &acc)
	newToken := func(email string) (userID, tokenID, token string) {
		res, body := nodes[0].do(t, "POST", "/v1/users", steward.NewUser{Email: email, Name: "U", HomeAccountID: acc.ID, Role: steward.RoleSuperAdmin})
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("create user: %d %s", res.StatusCode, body)
		}
		var u steward.User
		json.Unmarshal(body, &u)
		res, body = nodes[0].do(t, "POST", "/v1/tokens", steward.TokenRequest{UserID: u.ID})
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("create token: %d %s", res.StatusCode, body)
		}
		var tok steward.NewToken
		json.Unmarshal(body, &tok)
		return u.ID, tok.ID, tok.Token
	}
	// status asks a node for the user with the user's own token.
	status := func(n *node, token, userID string) int {
		req, _ := http.NewRequest("GET", n.url+"/v1/users/"+userID, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	for _, c := range []struct {
		name   string
		want   int
		revoke func(userID, tokenID string) (*http.Response, []byte)
	}{
		{"Revoked", http.StatusUnauthorized, func(_, tokenID string) (*http.Response, []byte) {
			return nodes[0].do(t, "DELETE", "/v1/tokens/"+tokenID, nil)
		}},
		{"UserDeactivated", http.StatusForbidden, func(userID, _ string) (*http.Response, []byte) {
			return nodes[0].do(t, "POST", "/v1/users/"+userID+"/deactivate", nil)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			userID, tokenID, token := newToken(c.name + "@acme.example")
			for _, n := range nodes {
				for range 2 { // the second answer comes from the node's cache
					if got := status(n, token, userID); got != http.StatusOK {
						t.Fatalf("before: %d, want 200", got)
					}
				}
			}
			if res, body := c.revoke(userID, tokenID); res.StatusCode/100 != 2 {
				t.Fatalf("revoke: %d %s", res.StatusCode, body)
			}
			revoked := time.Now()
			if got := status(nodes[0], token, userID); got != c.want {
				t.Fatalf("the node that revoked answered %d on the next request, want %d", got, c.want)
			}
			for {
				got := status(nodes[1], token, userID)
				if got == c.want {
					t.Logf("the other node refused the token %s after the revocation answered", time.Since(revoked))
					break
				}
				if got != http.StatusOK {
					t.Fatalf("the other node answered %d, want 200 or %d", got, c.want)
				}
				if time.Since(revoked) > 5*time.Second {
					t.Fatal("the other node still accepts the token 5s after its revocation")
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
}
