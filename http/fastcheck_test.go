package http_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/steward-iam/steward"
	stewardhttp "github.com/steward-iam/steward/http"
)

// TestFastCheck_AnswersAsHuma sends the same requests to POST /v1/check of
// a server that answers plain checks itself and of one that sends every
// request through huma: statuses, headers and bodies must be the same
// bytes, for answers, refusals and the requests the fast path leaves to huma.
func TestFastCheck_AnswersAsHuma(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		ix := withIndex(t, e)
		acc, owner := e.Account(t, steward.AccountStandard)
		other, _ := e.Account(t, steward.AccountStandard)
		viewer := e.Role(t, acc, "Viewer <&> \u2028", "reports.view")
		u := e.User(t, acc, viewer)
		userToken := e.Token(t, u)
		rev := e.Revision(t)
		cache := steward.NewTokenCache()
		ix.Watch(cache.Changed)
		auth := &steward.Authenticator{Store: e.Store, OperatorTokenHash: steward.HashSecret(operatorToken), Cache: cache}
		fast := httptest.NewServer(stewardhttp.NewServer(e.Svc, auth, slog.New(slog.DiscardHandler)))
		defer fast.Close()
		slow := httptest.NewServer(stewardhttp.NewServer(e.Svc, auth, slog.New(slog.DiscardHandler), stewardhttp.WithoutFastPaths()))
		defer slow.Close()

		plain := func(user, account, perm string) string {
			return fmt.Sprintf(`{"user_id":%q,"account_id":%q,"permission":%q}`, user, account, perm)
		}
		bodies := []string{
			plain(u, acc, "reports.view"),
			plain(u, acc, "reports.edit"),
			plain(owner, acc, "reports.edit"),
			plain(u, other, "reports.view"),
			plain(u, acc, "no.such"),
			plain("usr_unknown", acc, "reports.view"),
			plain(u, "acc_unknown", "reports.view"),
			plain("", "", ""),
			plain(owner, acc, "reports.view"),
			fmt.Sprintf(" {\n\t\"permission\" : \"reports.view\" , \"account_id\":%q,\"user_id\":%q, \"min_revision\": %d }\r\n", acc, u, rev),
			fmt.Sprintf(`{"user_id":%q,"account_id":%q,"permission":"reports.view","min_revision":0}`, u, acc),
			fmt.Sprintf(`{"user_id":%q,"account_id":%q,"permission":"reports.view","min_revision":-1}`, u, acc),
			fmt.Sprintf(`{"user_id":%q,"account_id":%q,"permission":"reports.view","min_revision":1.0}`, u, acc),
			fmt.Sprintf(`{"user_id":%q,"account_id":%q,"permission":"reports.view","min_revision":01}`, u, acc),
			fmt.Sprintf(`{"user_id":%q,"account_id":%q,"permission":"reports.view","min_revision":"1"}`, u, acc),
			fmt.Sprintf(`{"user_id":%q,"account_id":%q,"permission":"reports.view","at":"2030-01-01T00:00:00Z"}`, u, acc),
			fmt.Sprintf(`{"user_id":%q,"account_id":%q,"permission":"reports.view","extra":1}`, u, acc),
			fmt.Sprintf(`{"user_id":%q,"account_id":%q,"permission":"reports.view","user_id":%q}`, u, acc, owner),
			fmt.Sprintf(`{"USER_ID":%q,"account_id":%q,"permission":"reports.view"}`, u, acc),
			fmt.Sprintf(`{"user_id":%q,"account_id":%q}`, u, acc),
			fmt.Sprintf(`{"user_id":%q,"account_id":%q,"permission":"reports\u002eview"}`, u, acc),
			fmt.Sprintf(`{"user_id":%q,"account_id":%q,"permission":"reports.view"}x`, u, acc),
			fmt.Sprintf(`{"user_id":%q,"account_id":%q,"permission":null}`, u, acc),
			fmt.Sprintf(`{"user_id":%q,"account_id":%q,"permission":"réports.view"}`, u, acc),
			fmt.Sprintf(`[{"user_id":%q}]`, u),
			`{"user_id":"a\u0000b","account_id":"x","permission":"reports.view"}`,
			"{\"user_id\":\"\xff\",\"account_id\":\"x\",\"permission\":\"reports.view\"}",
			`{`, ``, `{}`,
		}
		type variant struct {
			token   string
			headers []string
		}
		variants := []variant{
			{operatorToken, []string{"Content-Type", "application/json"}},
			{userToken, []string{"Content-Type", "application/json"}},
			{operatorToken, nil},
			{operatorToken, []string{"Content-Type", "application/json", "Accept", "*/*"}},
			{operatorToken, []string{"Content-Type", "text/plain", "Accept", "application/cbor"}},
			{operatorToken, []string{"Content-Type", "application/json", "Idempotency-Key", "k1"}},
			{operatorToken, []string{"Content-Type", "application/json", "Steward-Act-As", u}},
			{"stw_not_a_token", []string{"Content-Type", "application/json"}},
		}
		send := func(base, body string, v variant) (int, http.Header, []byte) {
			req, _ := http.NewRequest("POST", base+"/v1/check", bytes.NewReader([]byte(body)))
			req.Header.Set("Authorization", "Bearer "+v.token)
			for i := 0; i+1 < len(v.headers); i += 2 {
				req.Header.Set(v.headers[i], v.headers[i+1])
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			data, _ := io.ReadAll(res.Body)
			h := res.Header.Clone()
			h.Del("Date")
			h.Del("Request-Id")
			h.Del("X-Request-Id")
			return res.StatusCode, h, data
		}
		for _, v := range variants {
			for _, body := range bodies {
				fs, fh, fb := send(fast.URL, body, v)
				ss, sh, sb := send(slow.URL, body, v)
				if fs != ss || !bytes.Equal(fb, sb) || !sameHeaders(fh, sh) {
					t.Errorf("%v %s:\nfast %d %v %s\nhuma %d %v %s", v.headers, body, fs, fh, fb, ss, sh, sb)
				}
			}
		}
	})
}

func sameHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
