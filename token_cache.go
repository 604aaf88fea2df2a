package steward

import (
	"sync"
	"time"
)

// maxCachedTokens bounds a TokenCache; past it the cache starts again empty.
const maxCachedTokens = 1 << 16

// TokenCache keeps what Authenticator read of API tokens and users in
// memory, so that a request's bearer token costs no database read. It holds
// no secret: tokens are kept by their hash.
//
// The cache is only as current as what it is told: whoever sets
// Authenticator.Cache must call Changed for every user whose rows (its
// status, its memberships, its tokens) a committed write touched, on every
// node, and Changed(nil, true) when it cannot tell. The check index does so
// as it follows the change feed (authz.Index.Watch): a node applies its own
// writes before answering them, so a revoked token, a deactivated or deleted
// user stops working on the next request to that node, and on the other
// nodes as soon as they have followed the feed (R-REVOKE-2). A token's
// expiry is compared on every request.
type TokenCache struct {
	mu     sync.RWMutex
	gen    uint64                 // counts invalidations; see put
	tokens map[string]cachedToken // by token hash; only tokens of active users
	byUser map[string][]string    // user id → hashes of its cached tokens
	users  map[string]bool        // ids of users known active (Steward-Act-As)
}

type cachedToken struct {
	userID    string
	expiresAt time.Time
}

// NewTokenCache returns an empty cache.
func NewTokenCache() *TokenCache {
	c := &TokenCache{}
	c.reset()
	return c
}

func (c *TokenCache) reset() {
	c.tokens, c.byUser, c.users = map[string]cachedToken{}, map[string][]string{}, map[string]bool{}
}

// Changed forgets what the cache holds of the users, or everything with all.
// Lookups that were reading the database while it ran keep nothing.
func (c *TokenCache) Changed(userIDs []string, all bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if all {
		c.reset()
		return
	}
	for _, id := range userIDs {
		for _, h := range c.byUser[id] {
			delete(c.tokens, h)
		}
		delete(c.byUser, id)
		delete(c.users, id)
	}
}

// generation is read before a lookup reads the database; put keeps the
// lookup's result only if nothing was invalidated in between, so that a
// read that raced a revocation cannot bring the revoked token back.
func (c *TokenCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

func (c *TokenCache) token(hash string) (cachedToken, bool) {
	c.mu.RLock()
	t, ok := c.tokens[hash]
	c.mu.RUnlock()
	return t, ok
}

func (c *TokenCache) putToken(gen uint64, hash string, tok *Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.tokens) >= maxCachedTokens {
		c.reset()
	}
	c.tokens[hash] = cachedToken{userID: tok.UserID, expiresAt: tok.ExpiresAt}
	c.byUser[tok.UserID] = append(c.byUser[tok.UserID], hash)
}

func (c *TokenCache) activeUser(id string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.users[id]
}

func (c *TokenCache) putUser(gen uint64, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.users) >= maxCachedTokens {
		c.reset()
	}
	c.users[id] = true
}
