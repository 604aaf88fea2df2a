package http

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
	"github.com/steward-iam/steward"
)

// The check is the hottest route. POST /v1/check is registered with huma
// like every route (its OpenAPI description, its error answers), but a
// plain request (a JSON object of user_id, account_id, permission and
// perhaps min_revision, no escapes, JSON accepted) is decoded and answered
// here, without reflection, in the very bytes huma would write. Anything
// else goes to huma, which answers or refuses it as before.

const pathCheck = "/v1/check"

// fastRoutes answers the plain requests of the hot routes and hands the
// rest to next.
func (s *Server) fastRoutes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.noFastPaths && r.Method == http.MethodPost && r.URL.Path == pathCheck && s.serveCheck(w, r) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// plainJSON reports whether a request sends JSON and accepts it, so that
// huma would decode its body as JSON and answer in JSON.
func plainJSON(r *http.Request) bool {
	switch r.Header.Get("Content-Type") {
	case "application/json", "":
	default:
		return false
	}
	switch r.Header.Get("Accept") {
	case "", "*/*", "application/json":
		return true
	}
	return false
}

// serveCheck answers a plain POST /v1/check and reports true, or reports
// false, having written nothing and read nothing from r.Body.
func (s *Server) serveCheck(w http.ResponseWriter, r *http.Request) bool {
	body, ok := bodyBytes(r)
	if !ok || !plainJSON(r) {
		return false
	}
	var req steward.CheckRequest
	if !decodeCheck(body, &req) {
		return false
	}
	res, err := s.svc.Check(r.Context(), req)
	if err != nil {
		s.writeHumaProblem(w, r, pathCheck, problemOf(err))
		return true
	}
	writeJSON(w, http.StatusOK, res, appendCheckResult)
	return true
}

// writeHumaProblem writes a handler's problem as huma writes it: logged
// with the operation's path, its headers, application/problem+json.
func (s *Server) writeHumaProblem(w http.ResponseWriter, r *http.Request, opPath string, p *Problem) {
	s.logProblem(r.Context(), r.Method, r.URL.Path, opPath, p)
	for k, vs := range p.GetHeaders() {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(p)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// writeJSON writes v as huma's JSON format does (encoding/json without
// HTML escapes, a newline at the end), through a hand-written appender.
func writeJSON[T any](w http.ResponseWriter, status int, v T, appendTo func([]byte, T) ([]byte, bool)) {
	bp := bufPool.Get().(*[]byte)
	b, ok := appendTo((*bp)[:0], v)
	if !ok { // a value the appender leaves to encoding/json
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.Encode(v)
		b = append(b[:0], buf.Bytes()...)
	} else {
		b = append(b, '\n')
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
	if cap(b) <= 64<<10 {
		*bp = b
		bufPool.Put(bp)
	}
}

// decodeCheck decodes a check request that huma would take as it is: an
// object of exactly the fields of CheckRequest but at (whose date-time
// parsing huma owns), each once, strings without escapes, min_revision a
// plain non-negative integer. It reports false for anything else.
func decodeCheck(b []byte, req *steward.CheckRequest) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	var seen [4]bool
	for {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		key, next, ok := plainString(b, i)
		if !ok {
			return false
		}
		i = skipSpace(b, next)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		var field *string
		slot := -1
		switch string(key) {
		case "user_id":
			field, slot = &req.UserID, 0
		case "account_id":
			field, slot = &req.AccountID, 1
		case "permission":
			field, slot = &req.Permission, 2
		case "min_revision":
			slot = 3
		default:
			return false
		}
		if seen[slot] {
			return false
		}
		seen[slot] = true
		if field != nil {
			if i >= len(b) || b[i] != '"' {
				return false
			}
			v, next, ok := plainString(b, i)
			if !ok {
				return false
			}
			*field, i = string(v), next
		} else {
			n, next, ok := plainInt(b, i)
			if !ok {
				return false
			}
			req.MinRevision, i = n, next
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return false
		}
		if b[i] == '}' {
			i++
			break
		}
		if b[i] != ',' {
			return false
		}
		i = skipSpace(b, i+1)
	}
	return skipSpace(b, i) == len(b) && seen[0] && seen[1] && seen[2]
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString returns the string that starts at b[i] (a quote) if it has
// no escape and no control character, and where it ends.
func plainString(b []byte, i int) ([]byte, int, bool) {
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			if !utf8.Valid(b[i+1 : j]) {
				return nil, 0, false
			}
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// plainInt returns the non-negative JSON integer at b[i] and where it ends.
func plainInt(b []byte, i int) (int64, int, bool) {
	j := i
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	if j == i || j-i > 18 || (b[i] == '0' && j-i > 1) {
		return 0, 0, false
	}
	if j < len(b) && (b[j] == '.' || b[j] == 'e' || b[j] == 'E') {
		return 0, 0, false
	}
	n, err := strconv.ParseInt(string(b[i:j]), 10, 64)
	return n, j, err == nil
}

// appendCheckResult appends res as encoding/json writes it; false for a
// time outside the years encoding/json can write.
func appendCheckResult(b []byte, res *steward.CheckResult) ([]byte, bool) {
	b = append(b, `{"allowed":`...)
	b = strconv.AppendBool(b, res.Allowed)
	b = append(b, `,"reason":`...)
	b, ok := appendReason(b, &res.Reason)
	b = append(b, `,"revision":`...)
	b = strconv.AppendInt(b, res.Revision, 10)
	return append(b, '}'), ok
}

func appendReason(b []byte, r *steward.Reason) ([]byte, bool) {
	ok := true
	b = append(b, `{"code":`...)
	b = appendString(b, r.Code)
	b = append(b, `,"message":`...)
	b = appendString(b, r.Message)
	b = appendField(b, "membership_id", r.MembershipID)
	b = appendField(b, "kind", string(r.Kind))
	b = appendField(b, "role", r.Role)
	b = appendField(b, "source", r.Source)
	if len(r.Chain) > 0 {
		b = append(b, `,"chain":[`...)
		for i := range r.Chain {
			if i > 0 {
				b = append(b, ',')
			}
			c := &r.Chain[i]
			b = append(b, `{"type":`...)
			b = appendString(b, c.Type)
			b = append(b, `,"id":`...)
			b = appendString(b, c.ID)
			b = appendField(b, "account_id", c.AccountID)
			b = appendField(b, "user_id", c.UserID)
			b = appendField(b, "kind", c.Kind)
			b = append(b, `,"status":`...)
			b = appendString(b, c.Status)
			if c.EndsAt != nil {
				b = append(b, `,"ends_at":`...)
				b, ok = appendTime(b, *c.EndsAt, ok)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if r.EndsAt != nil {
		b = append(b, `,"ends_at":`...)
		b, ok = appendTime(b, *r.EndsAt, ok)
	}
	if e := r.Elevation; e != nil { // R-ELEVATE-2, R-CHECK-2
		b = append(b, `,"elevation":{"id":`...)
		b = appendString(b, e.ID)
		b = append(b, `,"ends_at":`...)
		b, ok = appendTime(b, e.EndsAt, ok)
		b = append(b, '}')
	}
	return append(b, '}'), ok
}

// appendField appends a string field tagged omitempty.
func appendField(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

// appendTime appends t as time.Time's MarshalJSON does.
func appendTime(b []byte, t time.Time, ok bool) ([]byte, bool) {
	if y := t.Year(); y < 0 || y > 9999 {
		return b, false
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), ok
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string as encoding/json does without
// HTML escapes: control characters, quotes and backslashes escaped, invalid
// UTF-8 as U+FFFD, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// jsonFormat is huma's JSON format, with the answers of the check routes
// and the access listings written by hand: the same bytes as encoding/json
// without HTML escapes, without reflection.
var jsonFormat = huma.Format{
	Marshal: func(w io.Writer, v any) error {
		var (
			b  []byte
			ok bool
		)
		bp := bufPool.Get().(*[]byte)
		defer func() {
			if cap(b) <= 64<<10 {
				*bp = b[:0]
				bufPool.Put(bp)
			}
		}()
		switch v := v.(type) {
		case *steward.CheckResult:
			b, ok = appendCheckResult((*bp)[:0], v)
		case *steward.BatchCheckResult:
			b, ok = appendBatchResult((*bp)[:0], v)
		case List[steward.Access]:
			b, ok = appendAccessList((*bp)[:0], &v)
		}
		if !ok {
			b = (*bp)[:0]
			return huma.DefaultJSONFormat.Marshal(w, v)
		}
		b = append(b, '\n')
		_, err := w.Write(b)
		return err
	},
	Unmarshal: huma.DefaultJSONFormat.Unmarshal,
}

func appendBatchResult(b []byte, res *steward.BatchCheckResult) ([]byte, bool) {
	if res.Results == nil {
		return append(b, `{"results":null}`...), true
	}
	ok := true
	b = append(b, `{"results":[`...)
	for i := range res.Results {
		if i > 0 {
			b = append(b, ',')
		}
		var fine bool
		b, fine = appendCheckResult(b, &res.Results[i])
		ok = ok && fine
	}
	return append(b, `]}`...), ok
}

func appendAccessList(b []byte, l *List[steward.Access]) ([]byte, bool) {
	ok := true
	if l.Items == nil {
		b = append(b, `{"items":null`...)
	} else {
		b = append(b, `{"items":[`...)
		for i := range l.Items {
			if i > 0 {
				b = append(b, ',')
			}
			a := &l.Items[i]
			b = append(b, `{"user_id":`...)
			b = appendString(b, a.UserID)
			b = append(b, `,"account_id":`...)
			b = appendString(b, a.AccountID)
			if len(a.Permissions) > 0 {
				b = append(b, `,"permissions":[`...)
				for j, p := range a.Permissions {
					if j > 0 {
						b = append(b, ',')
					}
					b = appendString(b, p)
				}
				b = append(b, ']')
			}
			b = append(b, `,"reason":`...)
			var fine bool
			b, fine = appendReason(b, &a.Reason)
			ok = ok && fine
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"next_cursor":`...)
	b = appendString(b, l.NextCursor)
	return append(b, '}'), ok
}
