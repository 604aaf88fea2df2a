package http

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"

	"github.com/steward-iam/steward"
)

// maxIdempotencyKey is the longest Idempotency-Key accepted.
const maxIdempotencyKey = 255

// replayedHeaders are the headers of a first answer that a retry gets back.
var replayedHeaders = []string{"Content-Type", "Steward-Revision", "Location"}

// idempotent makes a POST with an Idempotency-Key happen once: the first
// answer is stored, a retry with the same key and request gets it back and
// changes nothing, the same key with another request is refused (422), and
// a retry while the first is still running is a 409. Only successful
// answers are kept: a failed request changed nothing (R-AUDIT-1), so its
// key is released and a retry runs again.
func (s *Server) idempotent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if r.Method != http.MethodPost || key == "" {
			next.ServeHTTP(w, r)
			return
		}
		if len(key) > maxIdempotencyKey {
			s.writeProblem(w, r, newProblem(steward.EBADREQUEST, "bad_idempotency_key", "Idempotency-Key is at most 255 characters.",
				steward.FieldError{Field: "header.Idempotency-Key", Message: "is too long"}))
			return
		}
		// limitBody has read the body already; this reads it from memory.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			s.writeProblem(w, r, problemOf(err))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))

		ctx := r.Context()
		rec := &steward.IdempotentResponse{
			Key:         key,
			Scope:       scopeOf(steward.ActorFromContext(ctx)),
			RequestHash: requestHash(r.Method, r.URL.Path, body),
			CreatedAt:   s.now(),
		}
		first, reserved, err := s.store.ReserveIdempotencyKey(ctx, rec)
		if err != nil {
			s.writeProblem(w, r, problemOf(err))
			return
		}
		if !reserved {
			s.replay(w, r, rec, first)
			return
		}

		buf := &bufferedResponse{header: http.Header{}}
		done := false
		defer func() {
			// Whatever went wrong before the answer was kept, a retry must
			// be able to run: the request changed nothing.
			if !done {
				if err := s.store.ReleaseIdempotencyKey(context.WithoutCancel(ctx), rec.Scope, rec.Key); err != nil {
					s.logger.ErrorContext(ctx, "release idempotency key", "err", err)
				}
			}
		}()
		next.ServeHTTP(buf, r)

		if buf.status >= 200 && buf.status < 300 {
			rec.Status, rec.Body, rec.Header = buf.status, buf.body.Bytes(), map[string]string{}
			for _, h := range replayedHeaders {
				if v := buf.header.Get(h); v != "" {
					rec.Header[h] = v
				}
			}
			if err := s.store.CompleteIdempotencyKey(context.WithoutCancel(ctx), rec); err != nil {
				// The change is made and its answer is here: give it. A retry
				// finds the key in progress until the reservation lapses.
				s.logger.ErrorContext(ctx, "complete idempotency key", "err", err)
			}
			done = true
		}
		buf.copyTo(w)
	})
}

// replay answers a request whose key is known.
func (s *Server) replay(w http.ResponseWriter, r *http.Request, rec, first *steward.IdempotentResponse) {
	switch {
	case first.RequestHash != rec.RequestHash:
		s.writeProblem(w, r, problemOf(steward.Invalid("idempotency_key_reused", "This Idempotency-Key was used for another request; use a new key for a new request.",
			steward.FieldError{Field: "header.Idempotency-Key", Message: "was used for another request"})))
	case first.Status == 0:
		w.Header().Set("Retry-After", retryAfter)
		s.writeProblem(w, r, problemOf(steward.Errorf(steward.ECONFLICT, "idempotency_in_progress", "A request with this Idempotency-Key is still being answered; retry shortly.")))
	default:
		for k, v := range first.Header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(first.Status)
		w.Write(first.Body)
	}
}

// scopeOf is who sent a request, for Idempotency-Key: the same key from
// someone else is another request.
func scopeOf(a *steward.Actor) string {
	switch {
	case a == nil:
		return "anonymous"
	case a.IsOperator():
		return "operator"
	case a.Operator:
		return "operator:" + a.UserID
	}
	return a.UserID
}

// requestHash identifies a request by method, path and body.
func requestHash(method, path string, body []byte) string {
	h := sha256.New()
	io.WriteString(h, method+" "+path+"\n")
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// bufferedResponse holds an answer until it is known whether to keep it.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferedResponse) copyTo(w http.ResponseWriter) {
	for k, vs := range b.header {
		w.Header()[k] = vs
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	w.Write(b.body.Bytes())
}
