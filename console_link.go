package steward

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// ConsoleLinkTTL is how long a console link stays usable (SPEC §3 "console
// hand-off": valid 60 s).
const ConsoleLinkTTL = 60 * time.Second

// ConsoleLinkTokenPrefix starts every console link token.
const ConsoleLinkTokenPrefix = "stwc_"

var consoleLinkTokenRE = regexp.MustCompile(`^stwc_[a-z2-7]{52}$`)

// WellFormedConsoleLinkToken reports whether token has the shape NewSecret
// gives console links.
func WellFormedConsoleLinkToken(token string) bool { return consoleLinkTokenRE.MatchString(token) }

// ConsoleLink is the platform's hand-off of a user to the console: a
// single-use URL, valid ConsoleLinkTTL, that signs the user in (SPEC §3
// "console hand-off"). Only the hash of its token is kept, in the database,
// so that any node of one database can redeem it.
type ConsoleLink struct {
	ID        string     `json:"id"`
	TokenHash string     `json:"-"`
	UserID    string     `json:"user_id"`
	ReturnTo  string     `json:"return_to"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	UsedAt    *time.Time `json:"used_at,omitempty"`
}

// ConsoleLinkStore keeps console links.
type ConsoleLinkStore interface {
	CreateConsoleLink(ctx context.Context, l *ConsoleLink) error
	// FindConsoleLinkByHash returns ENOTFOUND for an unknown hash.
	FindConsoleLinkByHash(ctx context.Context, hash string) (*ConsoleLink, error)
	// UseConsoleLink marks a link used at at; it returns ECONFLICT when the
	// link was used already, also by a concurrent transaction, so that a
	// link signs in at most once.
	UseConsoleLink(ctx context.Context, id string, at time.Time) error
	// PruneConsoleLinks deletes the links that expired before before, used
	// or not; it returns how many it deleted.
	PruneConsoleLinks(ctx context.Context, before time.Time) (int, error)
}

// ConsoleLinkRetention is how long a console link is kept after it
// expired, so that opening it says "expired" rather than "not known" for a
// while; the housekeeping job then deletes it.
const ConsoleLinkRetention = 24 * time.Hour

// maxConsolePath bounds a return_to path.
const maxConsolePath = 2048

// IsConsolePath reports whether p is a path on the console's own site: it
// starts with one slash, names no other host or scheme and holds no
// backslash or line break. Sign-in and the console hand-off send the
// browser only to such paths, never to another site.
func IsConsolePath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return false
	}
	u, err := url.Parse(p)
	return err == nil && u.Host == "" && u.Scheme == ""
}
