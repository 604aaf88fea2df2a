package steward

import (
	"testing"
	"time"
)

// TestTokenCache_StaleReadKeepsNothing: a lookup that read the database
// before a change of its user was applied keeps nothing, so that a read
// racing a revocation cannot bring the revoked token back (R-REVOKE-2).
func TestTokenCache_StaleReadKeepsNothing(t *testing.T) {
	c := NewTokenCache()
	tok := &Token{ID: "tok_1", UserID: "usr_1", ExpiresAt: time.Now().Add(time.Hour)}
	gen := c.generation() // the lookup starts, reads the token…
	c.Changed([]string{"usr_1"}, false)
	c.putToken(gen, "h1", tok) // …and finishes after the revocation was applied
	if _, ok := c.token("h1"); ok {
		t.Fatal("a read from before the change was kept")
	}
	c.putUser(gen, "usr_1")
	if c.activeUser("usr_1") {
		t.Fatal("an act-as read from before the change was kept")
	}

	gen = c.generation()
	c.putToken(gen, "h1", tok)
	c.putToken(gen, "h2", &Token{ID: "tok_2", UserID: "usr_1", ExpiresAt: tok.ExpiresAt})
	c.putToken(gen, "h3", &Token{ID: "tok_3", UserID: "usr_2", ExpiresAt: tok.ExpiresAt})
	c.putUser(gen, "usr_1")
	c.Changed([]string{"usr_1"}, false)
	for _, h := range []string{"h1", "h2"} {
		if _, ok := c.token(h); ok {
			t.Errorf("token %s of a changed user is still cached", h)
		}
	}
	if c.activeUser("usr_1") {
		t.Error("a changed user is still known active")
	}
	if got, ok := c.token("h3"); !ok || got.userID != "usr_2" {
		t.Error("another user's token was forgotten")
	}
	c.Changed(nil, true)
	if _, ok := c.token("h3"); ok {
		t.Error("Changed(nil, true) kept a token")
	}
}
