package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/authz"
	stewardhttp "github.com/steward-iam/steward/http"
)

// benchWorld is an account of benchMembers members over SQLite, served by
// the real handler chain with the check index, as `steward serve` runs it.
type benchWorld struct {
	handler   http.Handler
	account   string
	owner     string
	users     []string
	userToken string // the owner's: a super admin of the account
	checks    [][]byte
}

const benchMembers = 120

func newBenchWorld(b *testing.B) *benchWorld {
	b.Helper()
	st := MustOpenSQLite(b)
	e := MustServe(b, st)
	ix := authz.New(st.(authz.Source), e.Svc.Catalogue, nil)
	if err := ix.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	e.Svc.Checker, e.Svc.Lister, e.Svc.OnCommit = ix, ix, ix.OnCommit
	w := &benchWorld{}
	w.account, w.owner = e.Account(b, steward.AccountStandard)
	viewer := e.Role(b, w.account, "Viewer", "reports.view")
	for range benchMembers {
		w.users = append(w.users, e.User(b, w.account, viewer))
	}
	w.userToken = e.Token(b, w.owner)
	for i, u := range w.users {
		perm := "reports.view"
		if i%4 == 3 {
			perm = "reports.edit" // denied: permission_missing
		}
		body, _ := json.Marshal(steward.CheckRequest{UserID: u, AccountID: w.account, Permission: perm})
		w.checks = append(w.checks, body)
	}
	cache := steward.NewTokenCache()
	ix.Watch(cache.Changed)
	auth := &steward.Authenticator{Store: st, OperatorTokenHash: steward.HashSecret(operatorToken), Cache: cache}
	w.handler = stewardhttp.NewServer(e.Svc, auth, nil)
	return w
}

// serveOnce answers one request through the handler, without a network.
func serveOnce(b *testing.B, h http.Handler, method, target, token string, body []byte) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("%s %s: %d %s", method, target, rec.Code, rec.Body)
	}
}

// BenchmarkHandler measures the server's handler chain in-process (no
// network): `go test -run xxx -bench BenchmarkHandler -benchmem ./http`,
// with -cpuprofile or -memprofile to see where a request's time goes.
func BenchmarkHandler(b *testing.B) {
	w := newBenchWorld(b)
	b.Run("Check/Operator", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			serveOnce(b, w.handler, "POST", "/v1/check", operatorToken, w.checks[i%len(w.checks)])
			i++
		}
	})
	b.Run("Check/UserToken", func(b *testing.B) {
		b.ReportAllocs()
		body, _ := json.Marshal(steward.CheckRequest{UserID: w.owner, AccountID: w.account, Permission: "reports.view"})
		for b.Loop() {
			serveOnce(b, w.handler, "POST", "/v1/check", w.userToken, body)
		}
	})
	b.Run("CheckBatch/10", func(b *testing.B) {
		b.ReportAllocs()
		var req steward.BatchCheckRequest
		for i := range 10 {
			var c steward.CheckRequest
			json.Unmarshal(w.checks[i], &c)
			req.Checks = append(req.Checks, c)
		}
		body, _ := json.Marshal(req)
		for b.Loop() {
			serveOnce(b, w.handler, "POST", "/v1/check/batch", operatorToken, body)
		}
	})
	b.Run("AccountAccess/Operator", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			serveOnce(b, w.handler, "GET", "/v1/accounts/"+w.account+"/access?permission=reports.view", operatorToken, nil)
		}
	})
	b.Run("AccountAccess/UserToken", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			serveOnce(b, w.handler, "GET", "/v1/accounts/"+w.account+"/access?permission=reports.view", w.userToken, nil)
		}
	})
	b.Run("UserAccounts/Operator", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			serveOnce(b, w.handler, "GET", "/v1/users/"+w.users[0]+"/accounts", operatorToken, nil)
		}
	})
	b.Run("UserAccounts/UserToken", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			serveOnce(b, w.handler, "GET", "/v1/users/"+w.owner+"/accounts", w.userToken, nil)
		}
	})
}

// BenchmarkLoopback measures POST /v1/check through a real http.Server
// on loopback, keep-alive, against a bare net/http handler that decodes the
// check and encodes a fixed answer: `go test -run xxx -bench
// BenchmarkLoopback ./http`. Its parallel clients are GOMAXPROCS × -cpu.
func BenchmarkLoopback(b *testing.B) {
	w := newBenchWorld(b)
	bare := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var req steward.CheckRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		json.NewEncoder(rw).Encode(steward.CheckResult{Allowed: true, Reason: steward.Reason{Code: steward.ReasonGranted}})
	})
	for _, target := range []struct {
		name string
		h    http.Handler
	}{{"Bare", bare}, {"Steward", w.handler}} {
		b.Run(target.name, func(b *testing.B) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := &http.Server{Handler: target.h, ReadHeaderTimeout: 5 * time.Second}
			go srv.Serve(l)
			defer srv.Close()
			url := fmt.Sprintf("http://%s/v1/check", l.Addr())
			transport := &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}
			defer transport.CloseIdleConnections()
			client := &http.Client{Transport: transport}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(w.checks[i%len(w.checks)]))
					req.Header.Set("Authorization", "Bearer "+operatorToken)
					req.Header.Set("Content-Type", "application/json")
					res, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						b.Errorf("status %d", res.StatusCode)
						return
					}
					i++
				}
			})
		})
	}
}
