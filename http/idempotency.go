package http

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"

	"github.com/steward-iam/steward"
)

// maxIdempotencyKey is the longest Idempotency-Key accepted.
const maxIdempotencyKey = 255

// idempotent makes a POST with an Idempotency-Key happen once. The answer
// of a successful write is kept in the write's own transaction (see
// steward.IdempotencyKey): a retry with the same key and request gets it
// back and changes nothing, also after a crash between the commit and the
// answer; the same key with another request is refused (422). A request
// that failed, or whose process died before its commit, changed nothing
// and kept nothing, so its retry runs again. While the first request's
// transaction runs, a retry gets 409 idempotency_in_progress (PostgreSQL;
// SQLite runs one write at a time, so there the retry waits for the first
// and replays its answer). POSTs that change nothing (checks, previews)
// keep no answer: a retry asks again. SCIM routes take no key: SCIM
// matches a retried create by its userName or externalId (409
// uniqueness), as RFC 7644 clients expect.
func (s *Server) idempotent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if r.Method != http.MethodPost || key == "" || isSCIM(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		if len(key) > maxIdempotencyKey {
			s.writeProblem(w, r, newProblem(steward.EBADREQUEST, "bad_idempotency_key", "Idempotency-Key is at most 255 characters.",
				steward.FieldError{Field: "header.Idempotency-Key", Message: "is too long"}))
			return
		}
		// limitBody has read the body already; this reads it from memory.
		body, ok := bodyBytes(r)
		if !ok {
			var err error
			if body, err = io.ReadAll(r.Body); err != nil {
				s.writeProblem(w, r, problemOf(err))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}

		ctx := r.Context()
		pattern := s.pattern(r)
		k := &steward.IdempotencyKey{
			Key:         key,
			Scope:       scopeOf(steward.ActorFromContext(ctx)),
			RequestHash: requestHash(r.Method, r.URL.Path, body),
			Status:      s.statuses[pattern],
		}
		first, err := s.store.FindIdempotentResponse(ctx, k.Scope, k.Key)
		if err == nil {
			s.replay(w, r, k, first)
			return
		} else if steward.ErrorKind(err) != steward.ENOTFOUND {
			s.writeProblem(w, r, problemOf(err))
			return
		}

		buf := &bufferedResponse{header: http.Header{}}
		next.ServeHTTP(buf, r.WithContext(steward.NewContextWithIdempotencyKey(ctx, k)))
		if k.Answered != nil {
			// Another request with the key committed first: its answer is ours.
			s.replay(w, r, k, k.Answered)
			return
		}
		if k.Kept != nil && s.afterCommit != nil {
			s.afterCommit(r)
		}
		buf.copyTo(w)
	})
}

// replay answers a request whose key is answered already.
func (s *Server) replay(w http.ResponseWriter, r *http.Request, k *steward.IdempotencyKey, first *steward.IdempotentResponse) {
	if first.RequestHash != k.RequestHash {
		s.writeProblem(w, r, problemOf(steward.Invalid("idempotency_key_reused", "This Idempotency-Key was used for another request; use a new key for a new request.",
			steward.FieldError{Field: "header.Idempotency-Key", Message: "was used for another request"})))
		return
	}
	for h, v := range first.Header {
		w.Header().Set(h, v)
	}
	w.Header().Set("Idempotent-Replayed", "true")
	w.WriteHeader(first.Status)
	w.Write(first.Body)
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
