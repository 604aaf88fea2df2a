package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/steward-iam/steward"
)

// API tokens (SPEC §3), Idempotency-Key answers kept with their change, and
// secrets shown once (SPEC §4).
var idemCases = []suiteCase{
	{"APITokens_Expire", testTokensExpire},
	{"APITokens_ListWithoutSecrets", testTokensList},
	{"APITokens_RevokeOne", testTokensRevoke},
	{"SecretsShownOnce_TokenReplay", testSecretsShownOnceToken},
	{"SecretsShownOnce_AccessLinkReplay", testSecretsShownOnceAccessLink},
	{"IdempotencyKey_AnswerCommitsWithChange", testIdempotencyAnswerWithChange},
	{"IdempotencyKey_ConcurrentDuplicate", testIdempotencyConcurrent},
}

// withKey returns ctx carrying a fresh Idempotency-Key whose answer renders
// as the JSON of the write's result.
func withKey(ctx context.Context, key string) (context.Context, *steward.IdempotencyKey) {
	scope := "operator"
	if a := steward.ActorFromContext(ctx); a != nil && !a.IsOperator() {
		scope = a.UserID
	}
	k := &steward.IdempotencyKey{Key: key, Scope: scope, RequestHash: "h-" + key, Status: 201,
		Render: func(result any, rev int64) (map[string]string, []byte, error) {
			b, err := json.Marshal(result)
			return map[string]string{"Steward-Revision": strconv.FormatInt(rev, 10)}, b, err
		}}
	return steward.NewContextWithIdempotencyKey(ctx, k), k
}

func (w *World) auth() *steward.Authenticator {
	return &steward.Authenticator{Store: w.Store, OperatorTokenHash: steward.HashSecret("op-secret"), Now: func() time.Time { return w.Now }}
}

func testTokensExpire(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	_, owner := w.Account(steward.AccountStandard)
	w.Svc.TokenTTL, w.Svc.TokenMaxTTL = 24*time.Hour, 48*time.Hour

	def, _, err := w.Svc.CreateToken(w.Op, steward.TokenRequest{UserID: owner.ID})
	if err != nil {
		t.Fatal(err)
	}
	if !def.ExpiresAt.Equal(w.Now.Add(24 * time.Hour)) {
		t.Errorf("default expires_at = %v, want the default lifetime after %v", def.ExpiresAt, w.Now)
	}
	short, _, err := w.Svc.CreateToken(w.Op, steward.TokenRequest{UserID: owner.ID, ExpiresIn: 3600})
	if err != nil {
		t.Fatal(err)
	}
	if !short.ExpiresAt.Equal(w.Now.Add(time.Hour)) {
		t.Errorf("expires_in 3600: expires_at = %v, want an hour after %v", short.ExpiresAt, w.Now)
	}
	_, _, err = w.Svc.CreateToken(w.Op, steward.TokenRequest{UserID: owner.ID, ExpiresIn: 48*3600 + 1})
	WantCode(t, err, steward.EINVALID, "invalid_token_request")
	_, _, err = w.Svc.CreateToken(w.Op, steward.TokenRequest{UserID: owner.ID, ExpiresIn: -1})
	WantCode(t, err, steward.EINVALID, "invalid_token_request")
	if _, _, err := w.Svc.CreateToken(w.Op, steward.TokenRequest{UserID: owner.ID, ExpiresIn: 48 * 3600}); err != nil {
		t.Errorf("expires_in at the maximum: %v", err)
	}

	auth := w.auth()
	w.Now = w.Now.Add(time.Hour - time.Microsecond)
	if _, err := auth.Authenticate(ctx, short.Token, ""); err != nil {
		t.Fatalf("a token before its expiry: %v", err)
	}
	w.Now = w.Now.Add(time.Microsecond)
	_, err = auth.Authenticate(ctx, short.Token, "")
	WantCode(t, err, steward.EUNAUTHENTICATED, "token_expired")
	if _, err := auth.Authenticate(ctx, def.Token, ""); err != nil {
		t.Errorf("a token of the default lifetime after an hour: %v", err)
	}
}

func testTokensList(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	acc, owner := w.Account(steward.AccountStandard)
	other := w.User(acc.ID, steward.RoleSuperAdmin)
	var secrets []string
	for range 3 {
		tok, _, err := w.Svc.CreateToken(w.Op, steward.TokenRequest{UserID: owner.ID})
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, tok.Token)
	}
	if _, _, err := w.Svc.CreateToken(w.Op, steward.TokenRequest{UserID: other.ID}); err != nil {
		t.Fatal(err)
	}

	for name, as := range map[string]context.Context{"Operator": w.Op, "Self": w.As(owner.ID)} {
		t.Run(name, func(t *testing.T) {
			var all []*steward.Token
			page := steward.Page{Limit: 2}
			for {
				toks, next, err := w.Svc.FindTokens(as, owner.ID, page)
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, toks...)
				if next == "" {
					break
				}
				page.After = next
			}
			if len(all) != 3 {
				t.Fatalf("tokens = %d, want the owner's 3", len(all))
			}
			raw, _ := json.Marshal(all)
			for i, tok := range all {
				if tok.UserID != owner.ID || tok.ExpiresAt.IsZero() {
					t.Errorf("token %d = %+v", i, tok)
				}
				if bytes.Contains(raw, []byte(secrets[i])) || bytes.Contains(raw, []byte(tok.Hash)) {
					t.Errorf("the listing shows a secret or its hash: %s", raw)
				}
			}
		})
	}
	// Another user, even a super admin of the same account, gets what an
	// unknown user gets.
	_, _, errOther := w.Svc.FindTokens(w.As(other.ID), owner.ID, steward.Page{})
	_, _, errUnknown := w.Svc.FindTokens(w.Op, "usr_unknown", steward.Page{})
	WantCode(t, errOther, steward.ENOTFOUND, "user_not_found")
	WantCode(t, errUnknown, steward.ENOTFOUND, "user_not_found")
}

func testTokensRevoke(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	acc, owner := w.Account(steward.AccountStandard)
	other := w.User(acc.ID, steward.RoleSuperAdmin)
	mine, _, err := w.Svc.CreateToken(w.Op, steward.TokenRequest{UserID: owner.ID})
	if err != nil {
		t.Fatal(err)
	}
	kept, _, err := w.Svc.CreateToken(w.Op, steward.TokenRequest{UserID: owner.ID})
	if err != nil {
		t.Fatal(err)
	}
	auth := w.auth()

	// Another user cannot revoke it, and learns nothing: an unknown id answers the same.
	_, errOther := w.Svc.RevokeToken(w.As(other.ID), mine.ID)
	WantCode(t, errOther, steward.ENOTFOUND, "token_not_found")
	_, errUnknown := w.Svc.RevokeToken(w.As(other.ID), "tok_unknown")
	WantCode(t, errUnknown, steward.ENOTFOUND, "token_not_found")

	events := w.Events(acc.ID)
	if _, err := w.Svc.RevokeToken(w.As(owner.ID), mine.ID); err != nil {
		t.Fatalf("RevokeToken(own) = %v", err)
	}
	if w.Events(acc.ID) != events+1 {
		t.Error("revoking a token recorded no audit event")
	}
	_, err = auth.Authenticate(ctx, mine.Token, "")
	WantCode(t, err, steward.EUNAUTHENTICATED, "unauthenticated")
	if _, err := auth.Authenticate(ctx, kept.Token, ""); err != nil {
		t.Errorf("the other token stopped working: %v", err)
	}
	_, err = w.Svc.RevokeToken(w.As(owner.ID), mine.ID)
	WantCode(t, err, steward.ENOTFOUND, "token_not_found")
	if _, err := w.Svc.RevokeToken(w.Op, kept.ID); err != nil {
		t.Fatalf("RevokeToken(operator) = %v", err)
	}
	_, err = auth.Authenticate(ctx, kept.Token, "")
	WantCode(t, err, steward.EUNAUTHENTICATED, "")
	if toks, _, _ := w.Svc.FindTokens(w.Op, owner.ID, steward.Page{}); len(toks) != 0 {
		t.Errorf("revoked tokens still listed: %+v", toks)
	}
}

// secretReplay runs create twice under one Idempotency-Key and checks that
// the kept answer has no secret, says so, and that the retry changed nothing.
func secretReplay(t *testing.T, w *World, accountID string, as context.Context, create func(ctx context.Context) (secret string, err error)) {
	t.Helper()
	ctx1, k1 := withKey(as, "k-secret")
	secret, err := create(ctx1)
	if err != nil {
		t.Fatal(err)
	}
	if secret == "" || k1.Kept == nil {
		t.Fatalf("first answer: secret %q, kept %+v", secret, k1.Kept)
	}
	events := w.Events(accountID)
	kept, err := w.Store.FindIdempotentResponse(ctx, k1.Scope, k1.Key)
	if err != nil {
		t.Fatal(err)
	}
	suffix := secret[len(secret)-20:]
	if bytes.Contains(kept.Body, []byte(suffix)) || bytes.Contains(kept.Body, []byte(steward.HashSecret(secret))) {
		t.Errorf("the kept answer holds the secret: %s", kept.Body)
	}
	var body map[string]any
	if err := json.Unmarshal(kept.Body, &body); err != nil || body["secret_withheld"] != true {
		t.Errorf("the kept answer does not say the secret was withheld: %s", kept.Body)
	}
	ctx2, k2 := withKey(as, "k-secret")
	_, err = create(ctx2)
	WantCode(t, err, steward.ECONFLICT, "idempotency_key_answered")
	if k2.Answered == nil || !bytes.Equal(k2.Answered.Body, kept.Body) {
		t.Fatalf("retry answered %+v, want the kept answer", k2.Answered)
	}
	if w.Events(accountID) != events {
		t.Error("the retry recorded something")
	}
}

func testSecretsShownOnceToken(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	acc, owner := w.Account(steward.AccountStandard)
	secretReplay(t, w, acc.ID, w.Op, func(ctx context.Context) (string, error) {
		tok, _, err := w.Svc.CreateToken(ctx, steward.TokenRequest{UserID: owner.ID})
		if err != nil {
			return "", err
		}
		return tok.Token, nil
	})
	if toks, _, _ := w.Svc.FindTokens(w.Op, owner.ID, steward.Page{}); len(toks) != 1 {
		t.Errorf("tokens = %d, want 1", len(toks))
	}
}

func testSecretsShownOnceAccessLink(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	partner, powner := w.Account(steward.AccountPartner)
	secretReplay(t, w, partner.ID, w.As(powner.ID), func(ctx context.Context) (string, error) {
		l, _, err := w.Svc.CreateAccessLink(ctx, partner.ID, "")
		if err != nil {
			return "", err
		}
		return tokenOf(l.URL), nil
	})
}

func testIdempotencyAnswerWithChange(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	acc, owner := w.Account(steward.AccountStandard)
	as := w.As(owner.ID)
	name, perms := "Support", []string{"tickets.view"}
	in := steward.RoleInput{Name: &name, Permissions: &perms}
	roles := func() int {
		t.Helper()
		rs, _, err := w.Svc.FindRoles(as, acc.ID, steward.Page{})
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	nRoles, events := roles(), w.Events(acc.ID)

	t.Run("KeptWithTheChange", func(t *testing.T) {
		c, k := withKey(as, "k-1")
		r, rev, err := w.Svc.CreateRole(c, acc.ID, in)
		if err != nil {
			t.Fatal(err)
		}
		kept, err := w.Store.FindIdempotentResponse(ctx, k.Scope, k.Key)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(r)
		if !bytes.Equal(kept.Body, want) || kept.Header["Steward-Revision"] != strconv.FormatInt(rev, 10) || kept.Status != 201 {
			t.Errorf("kept answer = %d %v %s, want 201, revision %d, %s", kept.Status, kept.Header, kept.Body, rev, want)
		}
		if roles() != nRoles+1 || w.Events(acc.ID) != events+1 {
			t.Fatal("the first request did not change what it should")
		}
	})
	t.Run("RetryChangesNothing", func(t *testing.T) {
		rev, _ := w.Store.CurrentRevision(ctx)
		c, k := withKey(as, "k-1")
		_, _, err := w.Svc.CreateRole(c, acc.ID, in)
		WantCode(t, err, steward.ECONFLICT, "idempotency_key_answered")
		if k.Answered == nil || k.Kept != nil {
			t.Errorf("retry: answered %+v, kept %+v", k.Answered, k.Kept)
		}
		if now, _ := w.Store.CurrentRevision(ctx); now != rev || roles() != nRoles+1 || w.Events(acc.ID) != events+1 {
			t.Error("the retry changed something")
		}
	})
	t.Run("RenderFailsNothingCommits", func(t *testing.T) {
		// The answer and the change commit together: no answer, no change.
		other := "Other"
		c, k := withKey(as, "k-2")
		k.Render = func(any, int64) (map[string]string, []byte, error) {
			return nil, nil, steward.Errorf(steward.EINTERNAL, "internal", "cannot render")
		}
		_, _, err := w.Svc.CreateRole(c, acc.ID, steward.RoleInput{Name: &other, Permissions: &perms})
		WantCode(t, err, steward.EINTERNAL, "")
		if roles() != nRoles+1 || w.Events(acc.ID) != events+1 {
			t.Error("a change committed without its answer")
		}
		if _, err := w.Store.FindIdempotentResponse(ctx, k.Scope, k.Key); steward.ErrorKind(err) != steward.ENOTFOUND {
			t.Error("an answer was kept for a write that failed")
		}
		// The retry runs.
		c, k = withKey(as, "k-2")
		if _, _, err := w.Svc.CreateRole(c, acc.ID, steward.RoleInput{Name: &other, Permissions: &perms}); err != nil || k.Kept == nil {
			t.Fatalf("retry after a failure = %v, kept %+v", err, k.Kept)
		}
	})
	t.Run("RefusedKeepsNothing", func(t *testing.T) {
		bad := []string{"no.such"}
		c, k := withKey(as, "k-3")
		_, _, err := w.Svc.CreateRole(c, acc.ID, steward.RoleInput{Name: &name, Permissions: &bad})
		WantCode(t, err, steward.EINVALID, "")
		if _, err := w.Store.FindIdempotentResponse(ctx, k.Scope, k.Key); steward.ErrorKind(err) != steward.ENOTFOUND {
			t.Error("a refused request kept an answer")
		}
	})
	t.Run("ErrNoRender", func(t *testing.T) {
		// An operation that cannot keep its answer must not change anything
		// under a key it would then not honour.
		third := "Third"
		c, k := withKey(as, "k-4")
		k.Render = nil
		_, _, err := w.Svc.CreateRole(c, acc.ID, steward.RoleInput{Name: &third, Permissions: &perms})
		WantCode(t, err, steward.EINTERNAL, "")
	})
}

func testIdempotencyConcurrent(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	acc, owner := w.Account(steward.AccountStandard)
	as := w.As(owner.ID)
	name, perms := "Support", []string{"tickets.view"}
	in := steward.RoleInput{Name: &name, Permissions: &perms}
	events := w.Events(acc.ID)

	// The first request's transaction holds the key until it commits.
	locked, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- w.Store.InTx(ctx, func(tx steward.Store) error {
			if _, err := tx.LockIdempotencyKey(ctx, owner.ID, "k-1"); err != nil {
				return err
			}
			close(locked)
			<-release
			return tx.SaveIdempotentResponse(ctx, &steward.IdempotentResponse{Scope: owner.ID, Key: "k-1", RequestHash: "h-k-1", Status: 201,
				Header: map[string]string{}, Body: []byte(`{"first":true}`), CreatedAt: w.Now})
		})
	}()
	<-locked
	dup := make(chan error, 1)
	c, k := withKey(as, "k-1")
	go func() {
		_, _, err := w.Svc.CreateRole(c, acc.ID, in)
		dup <- err
	}()
	if d, ok := w.Store.(interface{ Dialect() string }); ok && d.Dialect() == "sqlite" {
		// SQLite runs one write transaction at a time: the duplicate waits
		// for the first and then gets its answer.
		close(release)
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		WantCode(t, <-dup, steward.ECONFLICT, "idempotency_key_answered")
		if k.Answered == nil || string(k.Answered.Body) != `{"first":true}` {
			t.Errorf("duplicate answered %+v, want the first answer", k.Answered)
		}
	} else {
		// The duplicate is refused at once while the first runs.
		WantCode(t, <-dup, steward.ECONFLICT, "idempotency_in_progress")
		close(release)
		if err := <-first; err != nil {
			t.Fatal(err)
		}
	}
	if w.Events(acc.ID) != events {
		t.Error("the duplicate changed something")
	}
}
