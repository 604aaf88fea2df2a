// Package client is a Go client of Steward's JSON API, for the products that
// ask Steward whether a user may do something.
//
// It asks checks (Check, CheckBatch) and the access listings (FindAccess,
// FindUserAccounts), retries an answer 503 after the Retry-After the server
// gives, and carries the revision of a write (the Steward-Revision header)
// into the checks that follow as min_revision, so that a product reads its
// own writes on any node (R-CHECK-3). Require is a net/http middleware that
// asks a check for every request.
//
//	c, err := client.New("https://steward.example.com", os.Getenv("STEWARD_TOKEN"))
//	res, err := c.Check(ctx, steward.CheckRequest{UserID: u, AccountID: a, Permission: "reports.view"})
//	if res.Allowed { … }
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/steward-iam/steward"
)

// Defaults of a Client.
const (
	// DefaultRetries is how many times a request answered 503 is sent again.
	DefaultRetries = 3
	// DefaultMaxRetryWait caps the wait before a retry, whatever Retry-After says.
	DefaultMaxRetryWait = 10 * time.Second
	// DefaultTimeout bounds one request of the default HTTP client.
	DefaultTimeout = 30 * time.Second
)

// Client calls a Steward server. It is safe for concurrent use.
type Client struct {
	base     *url.URL
	token    string
	http     *http.Client
	retries  int
	maxWait  time.Duration
	revision atomic.Int64 // the highest Steward-Revision seen
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends the requests with hc instead of a client with DefaultTimeout.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithRetries sets how many times a request answered 503 is sent again (0: never).
func WithRetries(n int) Option { return func(c *Client) { c.retries = max(n, 0) } }

// WithMaxRetryWait caps the wait before a retry.
func WithMaxRetryWait(d time.Duration) Option { return func(c *Client) { c.maxWait = d } }

// New returns a client of the server at baseURL (e.g. http://127.0.0.1:8080)
// that authenticates with token: the operator token, or a user token to ask
// about that user.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("steward client: %q must be the server's URL, e.g. http://127.0.0.1:8080", baseURL)
	}
	if token == "" {
		return nil, errors.New("steward client: no token (the operator token, or a user token for checks about that user)")
	}
	c := &Client{base: u, token: token, http: &http.Client{Timeout: DefaultTimeout}, retries: DefaultRetries, maxWait: DefaultMaxRetryWait}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Error is an error answer of the API: an RFC 9457 problem document.
type Error struct {
	Status int                  `json:"status"`
	Title  string               `json:"title"`
	Detail string               `json:"detail"`
	Code   string               `json:"code"`
	Errors []steward.FieldError `json:"errors"`
	// RetryAfter is the wait the server asked for (503), zero if none.
	RetryAfter time.Duration `json:"-"`
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the server answered %d", e.Status)
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if msg := e.Detail; msg != "" || e.Title != "" {
		if msg == "" {
			msg = e.Title
		}
		fmt.Fprintf(&b, ": %s", msg)
	}
	for _, f := range e.Errors {
		fmt.Fprintf(&b, "\n  %s: %s", f.Field, f.Message)
	}
	return b.String()
}

// ErrorCode returns the problem code of an error answer ("" for other errors).
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Revision returns the highest revision this client has seen a write commit.
func (c *Client) Revision() int64 { return c.revision.Load() }

// ObserveRevision records a revision committed elsewhere (a write made by
// another client, whose Steward-Revision was passed along): the checks
// that follow wait for it.
func (c *Client) ObserveRevision(rev int64) {
	for {
		cur := c.revision.Load()
		if rev <= cur || c.revision.CompareAndSwap(cur, rev) {
			return
		}
	}
}

// Check asks whether req.UserID may use req.Permission in req.AccountID
// (POST /v1/check). Unless req.MinRevision is set, it is the highest
// revision this client saw a write commit, so that the answer reflects it.
func (c *Client) Check(ctx context.Context, req steward.CheckRequest) (*steward.CheckResult, error) {
	if req.MinRevision == 0 {
		req.MinRevision = c.revision.Load()
	}
	var res steward.CheckResult
	if _, err := c.Do(ctx, http.MethodPost, "/v1/check", req, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// CheckBatch asks up to 1,000 checks at once (POST /v1/check/batch); the
// results are in request order. MinRevision is filled as in Check.
func (c *Client) CheckBatch(ctx context.Context, req steward.BatchCheckRequest) (*steward.BatchCheckResult, error) {
	if req.MinRevision == 0 {
		req.MinRevision = c.revision.Load()
	}
	var res steward.BatchCheckResult
	if _, err := c.Do(ctx, http.MethodPost, "/v1/check/batch", req, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// ListOptions are the parameters of the access listings.
type ListOptions struct {
	// At decides at this time instead of now.
	At *time.Time
	// Limit is the page size, 1 to 500 (0: the server's default).
	Limit int
	// Cursor is the NextCursor of the previous page.
	Cursor string
}

// Page is one page of a listing.
type Page[T any] struct {
	Items []T `json:"items"`
	// NextCursor fetches the next page; empty on the last one.
	NextCursor string `json:"next_cursor"`
}

// FindAccess lists who can use permission in the account, and why
// (GET /v1/accounts/{account}/access).
func (c *Client) FindAccess(ctx context.Context, accountID, permission string, opt ListOptions) (*Page[steward.Access], error) {
	return list[steward.Access](ctx, c, "/v1/accounts/"+url.PathEscape(accountID)+"/access", permission, opt)
}

// FindUserAccounts lists the accounts in which the user can use permission,
// and why; with an empty permission, every account where a membership of
// the user holds (GET /v1/users/{user}/accounts).
func (c *Client) FindUserAccounts(ctx context.Context, userID, permission string, opt ListOptions) (*Page[steward.Access], error) {
	return list[steward.Access](ctx, c, "/v1/users/"+url.PathEscape(userID)+"/accounts", permission, opt)
}

// AllAccess iterates over every page of FindAccess.
func (c *Client) AllAccess(ctx context.Context, accountID, permission string, opt ListOptions) iter.Seq2[steward.Access, error] {
	return all(func(opt ListOptions) (*Page[steward.Access], error) {
		return c.FindAccess(ctx, accountID, permission, opt)
	}, opt)
}

// AllUserAccounts iterates over every page of FindUserAccounts.
func (c *Client) AllUserAccounts(ctx context.Context, userID, permission string, opt ListOptions) iter.Seq2[steward.Access, error] {
	return all(func(opt ListOptions) (*Page[steward.Access], error) {
		return c.FindUserAccounts(ctx, userID, permission, opt)
	}, opt)
}

func all[T any](page func(ListOptions) (*Page[T], error), opt ListOptions) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for {
			p, err := page(opt)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range p.Items {
				if !yield(it, nil) {
					return
				}
			}
			if p.NextCursor == "" {
				return
			}
			opt.Cursor = p.NextCursor
		}
	}
}

func list[T any](ctx context.Context, c *Client, path, permission string, opt ListOptions) (*Page[T], error) {
	q := url.Values{}
	if permission != "" {
		q.Set("permission", permission)
	}
	if opt.At != nil {
		q.Set("at", opt.At.UTC().Format(time.RFC3339Nano))
	}
	if opt.Limit > 0 {
		q.Set("limit", strconv.Itoa(opt.Limit))
	}
	if opt.Cursor != "" {
		q.Set("cursor", opt.Cursor)
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var p Page[T]
	if _, err := c.Do(ctx, http.MethodGet, path, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// ConsoleLink asks for the console hand-off of a user (SPEC §3 "console
// hand-off"): a single-use URL, valid 60 seconds, that signs userID in to
// the console and lands on returnTo, a console path ("" for the home page).
// Redirect the user's browser to its URL at once. The request carries no
// Idempotency-Key and is not retried: a replay would withhold the URL, and
// asking again costs only another link.
func (c *Client) ConsoleLink(ctx context.Context, userID, returnTo string) (*steward.NewConsoleLink, error) {
	var out steward.NewConsoleLink
	if _, err := c.Do(ctx, http.MethodPost, "/v1/console-links", steward.ConsoleLinkRequest{UserID: userID, ReturnTo: returnTo}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Assignment is the body of AddEmployeesToClients.
type Assignment struct {
	ClientIDs []string `json:"client_ids"`
	UserIDs   []string `json:"user_ids"`
	Role      string   `json:"role"`
}

// AddEmployeesToClients adds employees of a partner to many of its clients
// with one role, in one transaction (POST
// /v1/partners/{partner}/employees/assignments, R-PARTNER-4): all are added
// or none, and a user who is a member of a client already is left as it
// is there. At most 500 clients, 1,000 users and 10,000 memberships a
// request. It is sent with an Idempotency-Key (see Write), and answers,
// per client, the new membership ids and the revision it committed.
func (c *Client) AddEmployeesToClients(ctx context.Context, partnerID string, a Assignment) (*steward.Assignment, int64, error) {
	var out steward.Assignment
	rev, err := c.Write(ctx, http.MethodPost, "/v1/partners/"+url.PathEscape(partnerID)+"/employees/assignments", a, &out)
	if err != nil {
		return nil, 0, err
	}
	return &out, rev, nil
}

// Do sends a request to the API: in, when not nil, as its JSON body; the
// JSON answer is decoded into out, when not nil. An error answer is an
// *Error. Answers 503 are retried after their Retry-After, a write's only
// when it carries an Idempotency-Key (set by Write). The revision a write
// commits is remembered for the checks that follow and returned.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) (int64, error) {
	return c.do(ctx, method, path, "", in, out)
}

// Write sends a write (POST, PUT, PATCH, DELETE) with an Idempotency-Key, so
// that a retry after a 503 or a lost answer changes nothing twice, and
// returns the revision it committed; the checks this client asks next
// wait for that revision.
func (c *Client) Write(ctx context.Context, method, path string, in, out any) (int64, error) {
	return c.do(ctx, method, path, "cli_"+rand.Text(), in, out)
}

func (c *Client) do(ctx context.Context, method, path, key string, in, out any) (int64, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return 0, err
		}
	}
	target := c.base.String() + path
	// Reads and checks may be sent again; a write only under its key.
	retry := method == http.MethodGet || path == "/v1/check" || path == "/v1/check/batch" || key != ""
	for attempt := 0; ; attempt++ {
		rev, err := c.once(ctx, method, target, key, body, out)
		var e *Error
		if err == nil || !retry || attempt >= c.retries || !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable {
			return rev, err
		}
		wait := min(max(e.RetryAfter, 50*time.Millisecond), c.maxWait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, err
		case <-t.C:
		}
	}
}

func (c *Client) once(ctx context.Context, method, target, key string, body []byte, out any) (int64, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, r)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("call %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, fmt.Errorf("read the answer of %s: %w", c.base, err)
	}
	if resp.StatusCode >= 300 {
		e := &Error{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); strings.HasSuffix(mt, "json") {
			_ = json.Unmarshal(data, e)
		}
		e.Status = resp.StatusCode
		if e.Title == "" && e.Detail == "" {
			e.Detail = http.StatusText(resp.StatusCode)
		}
		return 0, e
	}
	var rev int64
	if h := resp.Header.Get("Steward-Revision"); h != "" {
		if rev, err = strconv.ParseInt(h, 10, 64); err == nil {
			c.ObserveRevision(rev)
		}
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return rev, fmt.Errorf("the answer of %s is not the expected JSON: %w", c.base, err)
		}
	}
	return rev, nil
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
