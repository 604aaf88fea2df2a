package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/validation"
	"github.com/steward-iam/steward"
)

// kindStatus is the one table from error kinds to HTTP statuses.
var kindStatus = map[string]int{
	steward.EBADREQUEST:      http.StatusBadRequest,
	steward.EINVALID:         http.StatusUnprocessableEntity,
	steward.EUNAUTHENTICATED: http.StatusUnauthorized,
	steward.EFORBIDDEN:       http.StatusForbidden,
	steward.ENOTFOUND:        http.StatusNotFound,
	steward.ECONFLICT:        http.StatusConflict,
	steward.EGONE:            http.StatusGone,
	steward.ETOOLARGE:        http.StatusRequestEntityTooLarge,
	steward.EUNAVAILABLE:     http.StatusServiceUnavailable,
	steward.EINTERNAL:        http.StatusInternalServerError,
}

// statusOf returns the HTTP status of an error kind; unknown kinds are internal.
func statusOf(kind string) int {
	if s, ok := kindStatus[kind]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// kindOf returns the error kind of a status that did not come from a
// steward.Error (huma's own errors, the mux's 404 and 405).
func kindOf(status int) string {
	for k, s := range kindStatus {
		if s == status {
			return k
		}
	}
	if status >= 500 {
		return steward.EINTERNAL
	}
	return steward.EBADREQUEST
}

// internalDetail is all a caller learns of an internal error; the error
// itself goes to the log.
const internalDetail = "Internal error."

// retryAfter is the Retry-After of a 503 and of a 409 idempotency_in_progress, in seconds.
const retryAfter = "1"

// Problem is the RFC 9457 problem document of every error response, served
// as application/problem+json. Code is stable and machine-readable; Errors
// names the bad fields of the input, if any.
type Problem struct {
	Type   string               `json:"type" doc:"A URI reference identifying the problem type; about:blank, the code tells problems apart."`
	Title  string               `json:"title" doc:"The HTTP status text."`
	Status int                  `json:"status" doc:"The HTTP status code."`
	Detail string               `json:"detail" doc:"What went wrong, for people."`
	Code   string               `json:"code" doc:"What went wrong, for programs, e.g. last_super_admin or unknown_field."`
	Errors []steward.FieldError `json:"errors,omitempty" doc:"The bad fields of the input."`

	kind   string
	err    error // the cause, logged and never shown
	header http.Header
}

// Error returns the problem's code and detail.
func (p *Problem) Error() string { return p.Code + ": " + p.Detail }

// Unwrap returns the cause of the problem, if any.
func (p *Problem) Unwrap() error { return p.err }

// GetStatus returns the HTTP status; huma uses it to answer.
func (p *Problem) GetStatus() int { return p.Status }

// GetHeaders returns the headers that go with the problem (Retry-After).
func (p *Problem) GetHeaders() http.Header { return p.header }

// ContentType makes huma serve problems as application/problem+json.
func (p *Problem) ContentType(ct string) string {
	if ct == "application/json" {
		return "application/problem+json"
	}
	return ct
}

// newProblem returns a problem of the given kind.
func newProblem(kind, code, detail string, fields ...steward.FieldError) *Problem {
	status := statusOf(kind)
	p := &Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, Code: code, Errors: fields, kind: kind}
	if kind == steward.EUNAVAILABLE || code == "idempotency_in_progress" {
		p.header = http.Header{"Retry-After": {retryAfter}}
	}
	return p
}

// problemOf turns any error into the problem the caller sees. Internal
// errors show only "Internal error."; the cause stays in the problem for
// the log.
func problemOf(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	kind := steward.ErrorKind(err)
	if kind == steward.EINTERNAL {
		p = newProblem(kind, "internal", internalDetail)
	} else {
		p = newProblem(kind, steward.ErrorCode(err), steward.ErrorMessage(err), steward.ErrorFields(err)...)
	}
	p.err = err
	return p
}

// levelFor chooses the log level of a failed request: only what the server
// must fix is an error.
func levelFor(kind string) slog.Level {
	switch kind {
	case steward.EINTERNAL:
		return slog.LevelError
	case steward.EUNAVAILABLE:
		return slog.LevelWarn
	}
	return slog.LevelDebug
}

// secretParents are the path segments after /v1 whose next segment is a
// secret: an access link's or an invitation's token.
var secretParents = map[string]bool{"access-links": true, "invitations": true}

// secretPrefixes start every secret Steward hands out (API tokens,
// invitation and access link tokens); a path segment that starts with one
// is a secret wherever it appears.
var secretPrefixes = []string{"stw_", "stwi_", steward.AccessLinkTokenPrefix, steward.ConsoleLinkTokenPrefix}

// redactPath returns path with every secret-bearing segment replaced by
// {token}, whether or not the path matched a route: a near miss (a trailing
// slash, a wrong method, another letter case, an extra slash) still carries
// the token. It is what the log sees of a path, at every level; metrics
// label requests by route pattern only.
func redactPath(path string) string {
	segs := strings.Split(path, "/")
	v1 := false // a /v1 segment came before
	for i := 0; i < len(segs); i++ {
		seg := strings.ToLower(segs[i])
		switch {
		case seg == "":
			continue
		case seg == "v1":
			v1 = true
			continue
		case v1 && secretParents[seg]:
			for j := i + 1; j < len(segs); j++ { // the next non-empty segment
				if segs[j] != "" {
					segs[j] = "{token}"
					i = j
					break
				}
			}
		}
		for _, sp := range secretPrefixes {
			if strings.HasPrefix(seg, sp) {
				segs[i] = "{token}"
			}
		}
		v1 = false
	}
	return strings.Join(segs, "/")
}

// logProblem logs a failed request once, at the edge. Paths that carry a
// secret (an access link's or an invitation's token) are redacted, so that
// no token reaches the log.
func (s *Server) logProblem(ctx context.Context, method, path, pattern string, p *Problem) {
	path = redactPath(path)
	var err error = p
	if p.err != nil {
		err = p.err
	}
	s.logger.LogAttrs(ctx, levelFor(p.kind), "request failed",
		slog.String("code", p.Code), slog.Any("err", err),
		slog.Group("req", slog.String("method", method), slog.String("path", path), slog.String("route", pattern),
			slog.String("id", steward.RequestIDFromContext(ctx))))
}

// writeProblem answers with p from outside huma (middleware, unknown routes).
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	if isSCIM(r.URL.Path) {
		s.writeSCIMProblem(w, r, p) // SCIM routes answer SCIM error bodies
		return
	}
	pattern := s.pattern(r)
	s.logProblem(r.Context(), r.Method, r.URL.Path, pattern, p)
	for k, vs := range p.header {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Del("Content-Length")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

// logTransform is a huma transformer that logs every problem huma writes:
// the ones handlers return and the ones huma makes itself.
func (s *Server) logTransform(ctx huma.Context, _ string, v any) (any, error) {
	if p, ok := v.(*Problem); ok {
		u := ctx.URL()
		s.logProblem(ctx.Context(), ctx.Method(), u.Path, ctx.Operation().Path, p)
	}
	return v, nil
}

func init() {
	// huma makes its own errors (validation, body parsing, limits) through
	// NewError; replacing it is huma's documented way to make them the same
	// problem documents as ours.
	huma.NewError = humaProblem
}

// Codes of input that does not parse (400) and of input that parses but is
// not valid (422), for huma's own errors.
const (
	codeMalformedJSON = "malformed_json"
	codeUnknownField  = "unknown_field"
	codeWrongType     = "wrong_type"
	codeMissingField  = "missing_field"
	codeInvalidValue  = "invalid_value"
	codeBodyTooLarge  = "body_too_large"
)

// typeMessages are huma's messages for a value of the wrong JSON type.
var typeMessages = map[string]bool{
	validation.MsgExpectedBoolean: true,
	validation.MsgExpectedNumber:  true,
	validation.MsgExpectedInteger: true,
	validation.MsgExpectedString:  true,
	validation.MsgExpectedArray:   true,
	validation.MsgExpectedObject:  true,
}

// humaProblem replaces huma.NewError. huma reports every schema violation
// as 422; the status policy wants 400 for input that is not even of the
// right shape (malformed JSON, unknown fields, wrong types), so each detail
// is classified by huma's validation messages.
func humaProblem(status int, msg string, errs ...error) huma.StatusError {
	for _, err := range errs {
		var se *steward.Error
		if errors.As(err, &se) {
			return problemOf(err)
		}
	}
	if status >= 500 {
		p := newProblem(steward.EINTERNAL, "internal", internalDetail)
		p.Status, p.Title = status, http.StatusText(status)
		p.err = fmt.Errorf("%s: %w", msg, errors.Join(errs...))
		return p
	}
	var fields []steward.FieldError
	code := ""
	for _, err := range errs {
		if err == nil {
			continue
		}
		c, f := classify(status, err)
		fields = append(fields, f)
		if code == "" || (statusOfCode(c) == http.StatusBadRequest && statusOfCode(code) != http.StatusBadRequest) {
			code = c
		}
	}
	switch {
	case status == http.StatusRequestEntityTooLarge:
		code = codeBodyTooLarge
	case status == http.StatusUnsupportedMediaType:
		code, fields = "unsupported_media_type", []steward.FieldError{{Field: "body", Message: "must be application/json"}}
	case code == "" && status == http.StatusBadRequest && strings.Contains(msg, "body is required"):
		code, fields = "body_required", []steward.FieldError{{Field: "body", Message: "is required"}}
	case code == "":
		code = strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_")
	}
	if (status == http.StatusBadRequest || status == http.StatusUnprocessableEntity) && statusOfCode(code) != 0 {
		status = statusOfCode(code)
	}
	kind := kindOf(status)
	p := newProblem(kind, code, problemDetail(code, msg, fields), fields...)
	p.Status, p.Title = status, http.StatusText(status)
	return p
}

// statusOfCode returns the status a huma input code forces, or 0.
func statusOfCode(code string) int {
	switch code {
	case codeMalformedJSON, codeUnknownField, codeWrongType:
		return http.StatusBadRequest
	case codeMissingField, codeInvalidValue:
		return http.StatusUnprocessableEntity
	case codeBodyTooLarge:
		return http.StatusRequestEntityTooLarge
	}
	return 0
}

// classify names the field and the code of one huma error detail.
func classify(status int, err error) (string, steward.FieldError) {
	d := &huma.ErrorDetail{Message: err.Error()}
	if dd, ok := err.(huma.ErrorDetailer); ok {
		d = dd.ErrorDetail()
	}
	field := fieldOf(d.Location)
	pre, post, _ := strings.Cut(validation.MsgExpectedRequiredProperty, "%s")
	switch {
	case d.Message == validation.MsgUnexpectedProperty:
		return codeUnknownField, steward.FieldError{Field: field, Message: "is not a field of this request"}
	case typeMessages[d.Message]:
		return codeWrongType, steward.FieldError{Field: field, Message: d.Message}
	case strings.HasPrefix(d.Message, pre) && strings.HasSuffix(d.Message, post) && len(d.Message) > len(pre)+len(post):
		name := d.Message[len(pre) : len(d.Message)-len(post)]
		if field != "body" {
			name = field + "." + name
		}
		return codeMissingField, steward.FieldError{Field: name, Message: "is required"}
	case status == http.StatusBadRequest && d.Location == "body":
		// The body did not parse: huma's first pass decodes it into any.
		return codeMalformedJSON, steward.FieldError{Field: "body", Message: d.Message}
	}
	return codeInvalidValue, steward.FieldError{Field: field, Message: d.Message}
}

// fieldOf turns huma's location ("body.owner.email", "query.limit") into
// the field name the API speaks of, as its own handlers do: body fields by
// their JSON path, query and path parameters by their names, headers with
// their location ("header.Idempotency-Key").
func fieldOf(loc string) string {
	for _, prefix := range []string{"body.", "query.", "path."} {
		if f, ok := strings.CutPrefix(loc, prefix); ok {
			return f
		}
	}
	if loc == "" {
		return "body"
	}
	return loc
}

// problemDetail is the human sentence of a huma error.
func problemDetail(code, msg string, fields []steward.FieldError) string {
	names := make([]string, 0, len(fields))
	for _, f := range fields {
		names = append(names, f.Field)
	}
	list := strings.Join(names, ", ")
	switch code {
	case codeMalformedJSON:
		return "The request body is not valid JSON."
	case codeUnknownField:
		return "The request has fields this operation does not take: " + list + "."
	case codeWrongType:
		return "Some fields have the wrong type: " + list + "."
	case codeMissingField:
		return "Required fields are missing: " + list + "."
	case codeInvalidValue:
		return "The request is not valid: " + list + "."
	case codeBodyTooLarge:
		return fmt.Sprintf("The request body is over %d bytes.", maxBodyBytes)
	case "unsupported_media_type":
		return "The request body must be application/json."
	}
	if msg == "" {
		return "The request failed."
	}
	return strings.ToUpper(msg[:1]) + msg[1:] + "."
}
