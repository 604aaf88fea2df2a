package http

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/steward-iam/steward"
)

// requestID returns the caller's Request-Id if it is a sane token, or a new one.
func requestID(r *http.Request) string {
	id := r.Header.Get("Request-Id")
	if id != "" && len(id) <= 64 && strings.IndexFunc(id, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.')
	}) < 0 {
		return id
	}
	return steward.NewID("req_", time.Now())
}

// statusRecorder remembers the status written, for metrics.
type statusRecorder struct {
	http.ResponseWriter
	status int
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
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
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
		next.ServeHTTP(w, r.WithContext(steward.NewContextWithActor(r.Context(), actor)))
	})
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
