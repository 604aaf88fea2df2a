package steward

import (
	"errors"
	"fmt"
)

// Error kinds. Each maps to one HTTP status in http/error.go.
const (
	EBADREQUEST      = "bad_request"     // malformed input: bad JSON, unknown fields, wrong types
	EINVALID         = "invalid"         // well-formed but invalid input
	EUNAUTHENTICATED = "unauthenticated" // missing or unknown credentials
	EFORBIDDEN       = "forbidden"       // authenticated, not allowed
	ENOTFOUND        = "not_found"       // unknown, or not visible to the actor
	ECONFLICT        = "conflict"        // state conflict
	EGONE            = "gone"            // expired link or invitation
	ETOOLARGE        = "too_large"       // body over the limit
	EUNAVAILABLE     = "unavailable"     // retryable: the node is behind or shutting down, or its database does not answer
	EINTERNAL        = "internal"        // anything else
)

// Error is the one error type of the domain. Kind selects the HTTP status,
// Code is a stable machine-readable reason (e.g. "last_super_admin") and
// Message is safe to show to the caller.
type Error struct {
	Kind    string
	Code    string
	Message string
	Fields  []FieldError
}

// FieldError names one bad field of the input.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("steward error: kind=%s code=%s message=%s", e.Kind, e.Code, e.Message)
}

// Errorf returns an *Error of the given kind and code.
func Errorf(kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error that names its bad fields.
func Invalid(code, message string, fields ...FieldError) *Error {
	return &Error{Kind: EINVALID, Code: code, Message: message, Fields: fields}
}

// NotFound returns the ENOTFOUND error for a resource type and id. It is also
// what a caller gets for another tenant's id, which is never confirmed.
func NotFound(what, id string) *Error {
	return &Error{Kind: ENOTFOUND, Code: what + "_not_found", Message: fmt.Sprintf("No %s %q.", what, id)}
}

// ErrorKind returns the kind of err, or EINTERNAL for anything that is not an *Error.
func ErrorKind(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return EINTERNAL
}

// ErrorCode returns the stable code of err ("internal" for foreign errors).
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		if e.Code != "" {
			return e.Code
		}
		return e.Kind
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of err; internal details never leak.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// ErrorFields returns the bad fields named by err, if any.
func ErrorFields(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}
