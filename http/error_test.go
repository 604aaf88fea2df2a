package http_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/steward-iam/steward"
	stewardhttp "github.com/steward-iam/steward/http"
)

func TestErrorStatus(t *testing.T) {
	for _, tc := range []struct {
		kind   string
		status int
	}{
		{steward.EBADREQUEST, http.StatusBadRequest},
		{steward.EINVALID, http.StatusUnprocessableEntity},
		{steward.EUNAUTHENTICATED, http.StatusUnauthorized},
		{steward.EFORBIDDEN, http.StatusForbidden},
		{steward.ENOTFOUND, http.StatusNotFound},
		{steward.ECONFLICT, http.StatusConflict},
		{steward.EGONE, http.StatusGone},
		{steward.ETOOLARGE, http.StatusRequestEntityTooLarge},
		{steward.EUNAVAILABLE, http.StatusServiceUnavailable},
		{steward.EINTERNAL, http.StatusInternalServerError},
		{"no_such_kind", http.StatusInternalServerError},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			if got := stewardhttp.StatusOf(tc.kind); got != tc.status {
				t.Errorf("StatusOf(%q)=%d, want %d", tc.kind, got, tc.status)
			}
		})
	}
}

func TestProblemOf(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		status     int
		code       string
		detail     string
		fields     []steward.FieldError
		retryAfter bool
	}{
		{
			name: "Conflict", err: steward.Errorf(steward.ECONFLICT, "last_super_admin", "This is the last one."),
			status: 409, code: "last_super_admin", detail: "This is the last one.",
		},
		{
			name: "InvalidWithFields", err: fmt.Errorf("wrapped: %w", steward.Invalid("invalid_user", "The user is not valid.", steward.FieldError{Field: "email", Message: "bad"})),
			status: 422, code: "invalid_user", detail: "The user is not valid.", fields: []steward.FieldError{{Field: "email", Message: "bad"}},
		},
		{
			name: "NotFound", err: steward.NotFound("account", "acc_x"),
			status: 404, code: "account_not_found", detail: `No account "acc_x".`,
		},
		{
			name: "Unavailable", err: steward.Errorf(steward.EUNAVAILABLE, "behind", "Try again."),
			status: 503, code: "behind", detail: "Try again.", retryAfter: true,
		},
		{
			// What a store returns for a database that does not answer:
			// the cause stays for the log, the caller sees neither it nor a 500.
			name: "DatabaseUnavailable", err: fmt.Errorf("find token: %w", errors.Join(
				steward.Errorf(steward.EUNAVAILABLE, "database_unavailable", "The database is not answering; retry shortly."),
				errors.New("dial tcp 127.0.0.1:5432: connect: connection refused"))),
			status: 503, code: "database_unavailable", detail: "The database is not answering; retry shortly.", retryAfter: true,
		},
		{
			name: "InternalKind", err: steward.Errorf(steward.EINTERNAL, "internal", "write without audit event"),
			status: 500, code: "internal", detail: "Internal error.",
		},
		{
			name: "Foreign", err: errors.New("pq: connection refused to 10.0.0.5"),
			status: 500, code: "internal", detail: "Internal error.",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := stewardhttp.ProblemOf(tc.err)
			if p.Status != tc.status || p.Title != http.StatusText(tc.status) {
				t.Errorf("Status=%d Title=%q, want %d", p.Status, p.Title, tc.status)
			}
			if p.Code != tc.code {
				t.Errorf("Code=%q, want %q", p.Code, tc.code)
			}
			if p.Detail != tc.detail {
				t.Errorf("Detail=%q, want %q", p.Detail, tc.detail)
			}
			if diff := cmp.Diff(tc.fields, p.Errors); diff != "" {
				t.Errorf("Errors (-want +got):\n%s", diff)
			}
			if got := p.Headers()["Retry-After"] != nil; got != tc.retryAfter {
				t.Errorf("Retry-After present=%v, want %v", got, tc.retryAfter)
			}
			if !errors.Is(p, tc.err) {
				t.Error("the problem lost its cause, which the log needs")
			}
		})
	}
}
