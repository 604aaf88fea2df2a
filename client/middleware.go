package client

import (
	"context"
	"errors"
	"net/http"

	"github.com/steward-iam/steward"
)

// Subject names who asks and where, for a request: the user and the
// account a check is about. An error refuses the request with 401.
type Subject func(r *http.Request) (userID, accountID string, err error)

type resultKey struct{}

// ResultFromContext returns the check that let the request through Require.
func ResultFromContext(ctx context.Context) *steward.CheckResult {
	res, _ := ctx.Value(resultKey{}).(*steward.CheckResult)
	return res
}

// Require returns a net/http middleware that asks a check of permission for
// every request, about the user and account subject names: allowed, the
// request goes on with the result in its context (ResultFromContext);
// denied, it is answered 403; a subject that cannot be told, 401; a check
// that cannot be answered (Steward unreachable, or still 503 after the
// retries), 503. A check about an account the user does not belong to is
// a denial, like any other.
func (c *Client) Require(permission string, subject Subject) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			userID, accountID, err := subject(r)
			if err != nil {
				http.Error(w, "Unauthenticated.", http.StatusUnauthorized)
				return
			}
			res, err := c.Check(r.Context(), steward.CheckRequest{UserID: userID, AccountID: accountID, Permission: permission})
			var e *Error
			switch {
			case err == nil && res.Allowed:
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), resultKey{}, res)))
			case err == nil, errors.As(err, &e) && e.Status == http.StatusNotFound:
				// A user token asking about a foreign account gets 404 (SPEC §4):
				// to the product, a denial.
				http.Error(w, "Forbidden.", http.StatusForbidden)
			default:
				w.Header().Set("Retry-After", "1")
				http.Error(w, "Authorization is unavailable; retry shortly.", http.StatusServiceUnavailable)
			}
		})
	}
}
