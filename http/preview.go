package http

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/steward-iam/steward"
)

// previewable marks an operation that changes permissions as accepting
// ?dry_run=true (R-PREVIEW-1), and documents the parameter and the preview
// answer. It is the one line an operation needs: the service's writes do
// the rest (see steward.NewContextWithDryRun).
func (s *Server) previewable(o huma.Operation) huma.Operation {
	if s.previews == nil {
		s.previews = map[string]bool{}
	}
	s.previews[o.Method+" "+o.Path] = true
	o.Parameters = append(o.Parameters, &huma.Param{
		Name: "dry_run", In: "query",
		Description: "true: change nothing and answer 200 with what each affected membership would gain, lose, and keep because the actor does not hold it (R-PREVIEW-1), or the error the request would get.",
		Schema:      &huma.Schema{Type: huma.TypeBoolean},
	})
	o.Description += "With dry_run=true the answer is a Preview (200) and nothing is written: no event, no revision, no mail."
	if o.DefaultStatus != http.StatusOK {
		schema := s.api.OpenAPI().Components.Schemas.Schema(reflect.TypeOf(steward.Preview{}), true, "Preview")
		if o.Responses == nil {
			o.Responses = map[string]*huma.Response{}
		}
		o.Responses[strconv.Itoa(http.StatusOK)] = &huma.Response{
			Description: "dry_run=true: what the request would change.",
			Content:     map[string]*huma.MediaType{"application/json": {Schema: schema}},
		}
	}
	return o
}

// dryRun serves requests with ?dry_run=true (R-PREVIEW-1). Only operations
// marked previewable accept it; elsewhere it is refused (400), so that no
// client believes a real change was a preview. The request runs as usual
// with a steward.Preview in its context; if its write ran to the end, the
// answer is the preview, else it is the error the request got. An
// Idempotency-Key is ignored: a preview keeps no answer and replays none.
func (s *Server) dryRun(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.RawQuery, "dry_run") { // no parsing on the check path
			next.ServeHTTP(w, r)
			return
		}
		q := r.URL.Query()
		if !q.Has("dry_run") {
			next.ServeHTTP(w, r)
			return
		}
		_, pattern := s.mux.Handler(r)
		if !s.previews[pattern] {
			s.writeProblem(w, r, newProblem(steward.EBADREQUEST, "dry_run_not_supported", "This request does not change permissions and cannot be previewed; leave out dry_run.",
				steward.FieldError{Field: "query.dry_run", Message: "is not supported here"}))
			return
		}
		on, err := strconv.ParseBool(q.Get("dry_run"))
		if err != nil {
			s.writeProblem(w, r, newProblem(steward.EBADREQUEST, "invalid_query", "dry_run is true or false.",
				steward.FieldError{Field: "query.dry_run", Message: "is not a boolean"}))
			return
		}
		if !on {
			next.ServeHTTP(w, r)
			return
		}
		r.Header.Del("Idempotency-Key")
		p := &steward.Preview{}
		buf := &bufferedResponse{header: http.Header{}}
		next.ServeHTTP(buf, r.WithContext(steward.NewContextWithDryRun(r.Context(), p)))
		if !p.Done() {
			buf.copyTo(w) // the error the request would get
			return
		}
		var b bytes.Buffer
		if err := json.NewEncoder(&b).Encode(p); err != nil {
			s.writeProblem(w, r, problemOf(err))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b.Bytes())
	})
}
