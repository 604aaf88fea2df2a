package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/steward-iam/steward"
)

// requestID returns the caller's X-Request-Id (or Request-Id) if it is a
// sane token, or a new one.
func requestID(r *http.Request) string {
	id := r.Header.Get("X-Request-Id")
	if id == "" {
		id = r.Header.Get("Request-Id")
	}
	if id != "" && len(id) <= 64 && strings.IndexFunc(id, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.')
	}) < 0 {
		return id
	}
	return steward.NewID("req_", time.Now())
}

// statusRecorder remembers the status written, for metrics, and the actor
// the request authenticated as, for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	actor  *steward.Actor
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Status returns the status written, 200 if none was.
func (w *statusRecorder) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// problemWriter turns the mux's plain-text errors into problem documents.
type problemWriter struct {
	http.ResponseWriter
	s       *Server
	r       *http.Request
	written bool
}

func (w *problemWriter) WriteHeader(code int) {
	if code < 400 {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.written = true
	p := newProblem(steward.ENOTFOUND, "route_not_found", "No such route; GET /v1/openapi.json lists them.")
	if code == http.StatusMethodNotAllowed {
		p = newProblem(steward.EBADREQUEST, "method_not_allowed", "This route does not take "+w.r.Method+"; it takes "+w.Header().Get("Allow")+".")
		p.Status, p.Title = code, http.StatusText(code)
	}
	w.Header().Del("X-Content-Type-Options")
	w.s.writeProblem(w.ResponseWriter, w.r, p)
}

func (w *problemWriter) Write(b []byte) (int, error) {
	if w.written {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// limitBody reads the whole body, at most maxBodyBytes, before anything
// else runs: bigger bodies are a 413, and the idempotency middleware can
// hash what it read.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		r.Body.Close()
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				s.writeProblem(w, r, newProblem(steward.ETOOLARGE, codeBodyTooLarge, problemDetail(codeBodyTooLarge, "", nil),
					steward.FieldError{Field: "body", Message: "is over 1 MiB"}))
				return
			}
			p := newProblem(steward.EBADREQUEST, "body_unreadable", "The request body could not be read.")
			p.err = err
			s.writeProblem(w, r, p)
			return
		}
		r.Body = &memBody{Reader: bytes.NewReader(body), b: body}
		r.ContentLength = int64(len(body))
		// curl -d sends a JSON body as a form unless told otherwise: the API
		// takes no forms, so a JSON object or array is read as JSON.
		if strings.HasPrefix(r.URL.Path, "/v1/") && r.Header.Get("Content-Type") == "application/x-www-form-urlencoded" && looksJSON(body) {
			r.Header.Set("Content-Type", "application/json")
		}
		next.ServeHTTP(w, r)
	})
}

// looksJSON reports whether body starts, after white space, as a JSON object or array.
func looksJSON(body []byte) bool {
	body = bytes.TrimLeft(body, " \t\r\n")
	return len(body) > 0 && (body[0] == '{' || body[0] == '[')
}

// memBody is a request body limitBody read into memory: the middleware
// after it take the bytes (bodyBytes) instead of reading and copying them.
type memBody struct {
	*bytes.Reader
	b []byte
}

func (*memBody) Close() error { return nil }

// bodyBytes returns the whole body of r if limitBody holds it in memory and
// nothing has read from it yet; reading it stays possible.
func bodyBytes(r *http.Request) ([]byte, bool) {
	if mb, ok := r.Body.(*memBody); ok && mb.Len() == len(mb.b) {
		return mb.b, true
	}
	return nil, false
}

// isPublic reports whether path answers without a token.
func isPublic(path string) bool {
	switch path {
	case pathHealth, pathReady, pathMetrics, pathOpenAPI:
		return true
	}
	return false
}

// authenticate resolves "Authorization: Bearer <token>" (and the operator's
// Steward-Act-As) to the actor of the request. Tokens are never logged.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isPublic(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		token, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="steward"`)
			s.writeProblem(w, r, newProblem(steward.EUNAUTHENTICATED, "unauthenticated", "A bearer token is required: Authorization: Bearer <token>."))
			return
		}
		actor, err := s.auth.Authenticate(r.Context(), token, r.Header.Get("Steward-Act-As"))
		if err != nil {
			if steward.ErrorKind(err) == steward.EUNAUTHENTICATED {
				w.Header().Set("WWW-Authenticate", `Bearer realm="steward", error="invalid_token"`)
			}
			s.writeProblem(w, r, problemOf(err))
			return
		}
		if rec, ok := w.(*statusRecorder); ok {
			rec.actor = actor
		}
		next.ServeHTTP(w, r.WithContext(steward.NewContextWithActor(r.Context(), actor)))
	})
}

// logAccess writes the access log line of a request: never its token, its
// query or its body.
func (s *Server) logAccess(r *http.Request, pattern, id string, rec *statusRecorder, d time.Duration) {
	route := "unmatched"
	if _, path, ok := strings.Cut(pattern, " "); ok {
		route = path
	} else if pattern != "" {
		route = pattern
	}
	actor := ""
	if a := rec.actor; a != nil {
		switch {
		case a.UserID != "":
			actor = a.UserID
		case a.IsOperator():
			actor = "operator"
		}
	}
	s.logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("method", r.Method), slog.String("route", route), slog.Int("status", rec.Status()),
		slog.Duration("duration", d), slog.String("request_id", id), slog.String("actor_id", actor))
}

// bearer returns the token of an Authorization header.
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// refuseBadText answers 422 invalid_text, naming the fields, for a request
// whose path segments, query parameters, Steward-Act-As or Idempotency-Key
// header, or JSON body strings hold NUL bytes or invalid UTF-8: PostgreSQL
// refuses such text and SQLite would keep it, so neither store sees it
// (SPEC §4 "Text").
func (s *Server) refuseBadText(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bad := badPathText(r.URL.Path, s.pattern(r))
		bad = append(bad, badQueryText(r.URL.RawQuery)...)
		for _, h := range textHeaders {
			for _, v := range r.Header[h] {
				if !steward.ValidText(v) {
					bad = append(bad, "header."+h)
				}
			}
		}
		if body, ok := bodyBytes(r); ok {
			bad = append(bad, badBodyText(body)...)
		} else if r.Body != nil && r.Body != http.NoBody {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				p := newProblem(steward.EBADREQUEST, "body_unreadable", "The request body could not be read.")
				p.err = err
				s.writeProblem(w, r, p)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			bad = append(bad, badBodyText(body)...)
		}
		if len(bad) > 0 {
			err := steward.TextError(slices.Compact(bad)...)
			if strings.HasPrefix(r.URL.Path, "/scim/") {
				s.scimFail(w, r, err) // SCIM clients read SCIM's error format
				return
			}
			s.writeProblem(w, r, problemOf(err))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// textHeaders are the headers refuseBadText looks at, canonical.
var textHeaders = []string{"Steward-Act-As", "Idempotency-Key"}

// badPathText names the path parameters of pattern ("GET
// /v1/accounts/{account}") whose segments of path are not valid text.
func badPathText(path, pattern string) []string {
	if steward.ValidText(path) {
		return nil
	}
	if _, p, ok := strings.Cut(pattern, " "); ok {
		pattern = p
	}
	names := strings.Split(pattern, "/")
	var bad []string
	for i, seg := range strings.Split(path, "/") {
		if steward.ValidText(seg) {
			continue
		}
		name := "path"
		if i < len(names) {
			name = names[i]
		} else if n := len(names); n > 0 && strings.HasSuffix(names[n-1], "...}") {
			name = names[n-1]
		}
		if strings.HasPrefix(name, "{") {
			name = strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(name, "{"), "}"), "...")
		} else {
			name = "path"
		}
		bad = append(bad, name)
	}
	return bad
}

// badQueryText names the query parameters that are not valid text once decoded.
func badQueryText(raw string) []string {
	if raw == "" {
		return nil
	}
	q, _ := url.ParseQuery(raw) // what does not parse reaches nothing
	var bad []string
	for _, k := range slices.Sorted(maps.Keys(q)) {
		ok := steward.ValidText(k)
		for _, v := range q[k] {
			ok = ok && steward.ValidText(v)
		}
		if !ok {
			if !steward.ValidText(k) {
				k = "query"
			}
			bad = append(bad, k)
		}
	}
	return bad
}

// badBodyText names the strings of a JSON body (by their JSON path, as
// "owner.email" or "checks[1].user_id") that are not valid text. A body
// that is not JSON is named whole if it is not valid text; huma refuses it
// anyway.
func badBodyText(body []byte) []string {
	if utf8.Valid(body) && !bytes.Contains(body, []byte(`\u0000`)) && bytes.IndexByte(body, 0) < 0 {
		return nil
	}
	// Invalid bytes can only stand inside JSON strings; the decoder would
	// quietly make them U+FFFD, so they become NUL escapes first, which the
	// walk below finds with their field.
	var marked []byte
	for i := 0; i < len(body); {
		r, size := utf8.DecodeRune(body[i:])
		if r == utf8.RuneError && size == 1 {
			marked = append(marked, `\u0000`...)
		} else {
			marked = append(marked, body[i:i+size]...)
		}
		i += size
	}
	dec := json.NewDecoder(bytes.NewReader(marked))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if !steward.ValidText(string(body)) {
			return []string{"body"}
		}
		return nil
	}
	var bad []string
	walkText(v, "", &bad)
	return bad
}

// walkText adds to bad the JSON path of every string in v that is not valid text.
func walkText(v any, path string, bad *[]string) {
	at := func(p string) string {
		if p == "" {
			return "body"
		}
		return p
	}
	switch v := v.(type) {
	case string:
		if !steward.ValidText(v) {
			*bad = append(*bad, at(path))
		}
	case []any:
		for i, e := range v {
			walkText(e, fmt.Sprintf("%s[%d]", path, i), bad)
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if !steward.ValidText(k) {
				*bad = append(*bad, at(path))
				continue
			}
			child := k
			if path != "" {
				child = path + "." + k
			}
			walkText(v[k], child, bad)
		}
	}
}
