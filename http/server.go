package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/steward-iam/steward"
)

// maxBodyBytes is the largest request body accepted (SPEC §4: 413 above).
const maxBodyBytes = 1 << 20

// Paths that answer without a token.
const (
	pathHealth  = "/healthz"
	pathReady   = "/readyz"
	pathMetrics = "/metrics"
	pathOpenAPI = "/v1/openapi.json"
)

// Server is the JSON API of Steward: an http.Handler over a Service.
type Server struct {
	svc     *steward.Service
	auth    *steward.Authenticator
	store   steward.IdempotencyStore
	logger  *slog.Logger
	ready   func(context.Context) error
	version string

	mux     *http.ServeMux
	api     huma.API
	handler http.Handler // the middleware chain around mux
	metrics *metrics
	// registry, when set, receives the HTTP metrics and is served at /metrics.
	registry *prometheus.Registry
	openapi  []byte
	// statuses is the success status of every POST operation, by route.
	statuses map[string]int
	// previews are the routes that accept ?dry_run=true (see previewable).
	previews    map[string]bool
	afterCommit func(*http.Request)
	accessLog   bool
	// noFastPaths sends every request through huma (tests compare).
	noFastPaths bool
}

// Option configures a Server.
type Option func(*Server)

// WithReadiness sets the probe behind GET /readyz, typically a database
// ping and a schema check; the server is ready when it returns nil.
func WithReadiness(probe func(ctx context.Context) error) Option {
	return func(s *Server) { s.ready = probe }
}

// WithVersion sets the version reported by /healthz and the OpenAPI document.
func WithVersion(version string) Option {
	return func(s *Server) { s.version = version }
}

// WithRegistry makes the server add its HTTP metrics to reg and serve reg
// at /metrics, so that the process's other metrics show there too.
func WithRegistry(reg *prometheus.Registry) Option {
	return func(s *Server) { s.registry = reg }
}

// WithAccessLog logs one line per request at info level: method, route
// pattern, status, duration, request id and actor id; never a token.
func WithAccessLog(on bool) Option {
	return func(s *Server) { s.accessLog = on }
}

// WithAfterCommit sets a function called when a POST with an
// Idempotency-Key has committed its change with the answer kept, before the
// answer is written. Tests stop the process there, to show that a retry gets
// the answer.
func WithAfterCommit(fn func(r *http.Request)) Option {
	return func(s *Server) { s.afterCommit = fn }
}

// NewServer returns the API over svc. Bearer tokens are resolved by auth;
// Idempotency-Key answers are kept in svc.Store. A nil logger discards.
func NewServer(svc *steward.Service, auth *steward.Authenticator, logger *slog.Logger, opts ...Option) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{svc: svc, auth: auth, store: svc.Store, logger: logger, version: "dev", mux: http.NewServeMux()}
	for _, o := range opts {
		o(s)
	}

	config := huma.Config{
		OpenAPI: &huma.OpenAPI{
			OpenAPI: "3.1.0",
			Info: &huma.Info{
				Title:       "Steward",
				Version:     s.version,
				Description: "Delegated administration for multi-tenant products. Errors are RFC 9457 problem documents with a stable code.",
			},
			Components: &huma.Components{
				Schemas: huma.NewMapRegistry("#/components/schemas/", huma.DefaultSchemaNamer),
				SecuritySchemes: map[string]*huma.SecurityScheme{
					"bearer": {Type: "http", Scheme: "bearer", Description: "An operator token or a user token (POST /v1/tokens)."},
				},
			},
			Security: []map[string][]string{{"bearer": {}}},
			// The document is served by the server it describes.
			Servers: []*huma.Server{{URL: "/", Description: "The server that serves this document."}},
		},
		Formats:       map[string]huma.Format{"application/json": jsonFormat, "json": jsonFormat},
		DefaultFormat: "application/json",
		// The document is served by the Server itself, marshalled once.
		OpenAPIPath:  "",
		Transformers: []huma.Transformer{s.logTransform},
	}
	s.api = humago.New(s.mux, config)

	s.routes()
	s.statuses = map[string]int{}
	for path, item := range s.api.OpenAPI().Paths {
		if item.Post != nil {
			s.statuses[http.MethodPost+" "+path] = item.Post.DefaultStatus
		}
	}

	var err error
	if s.openapi, err = json.Marshal(s.api.OpenAPI()); err != nil {
		panic(fmt.Sprintf("steward http: marshal the OpenAPI document: %v", err)) // a programming error
	}
	if s.openapi, err = polishOpenAPI(s.openapi); err != nil {
		panic(fmt.Sprintf("steward http: complete the OpenAPI document: %v", err)) // a programming error
	}
	s.mux.HandleFunc("GET "+pathOpenAPI, s.serveOpenAPI)
	s.metrics = newMetrics(s.registry)
	s.mux.Handle("GET "+pathMetrics, s.metrics.handler())

	s.handler = s.limitBody(s.refuseBadText(s.authenticate(s.dryRun(s.idempotent(s.fastRoutes(s.mux))))))
	return s
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := requestID(r)
	w.Header().Set("Request-Id", id)
	w.Header().Set("X-Request-Id", id)
	r = r.WithContext(steward.NewContextWithRequestID(r.Context(), id))
	rec := &statusRecorder{ResponseWriter: w}
	_, pattern := s.mux.Handler(r)
	// The middleware read the route from here (see pattern); the mux sets
	// it again when it serves the request.
	r.Pattern = pattern
	defer func() {
		d := time.Since(start)
		s.metrics.observe(r.Method, pattern, rec.Status(), d)
		if s.accessLog {
			s.logAccess(r, pattern, id, rec, d)
		}
	}()
	if pattern == "" {
		// No route: the mux answers 404 or 405, as a problem document.
		s.mux.ServeHTTP(&problemWriter{ResponseWriter: rec, s: s, r: r}, r)
		return
	}
	s.handler.ServeHTTP(rec, r)
}

// pattern returns the route pattern of r, which ServeHTTP matched once.
func (s *Server) pattern(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	_, pattern := s.mux.Handler(r)
	return pattern
}

// routes registers every operation.
func (s *Server) routes() {
	s.healthRoutes()
	s.accountRoutes()
	s.memberRoutes()
	s.roleRoutes()
	s.auditRoutes()
	s.checkRoutes()
	s.externalRoutes()
	s.partnerRoutes()
	s.scimRoutes()
	s.reviewRoutes()
	s.guardRoutes()
	s.webhookRoutes()
	s.consoleRoutes()
	s.elevationRoutes()
}

// op describes an operation for huma: the status of its success, its
// documented errors, and the headers the middleware handles.
func op(method, path, id, tag, summary string, status int) huma.Operation {
	o := huma.Operation{
		OperationID:   id,
		Method:        method,
		Path:          path,
		Summary:       summary,
		Description:   describe(method, path, summary),
		Tags:          []string{tag},
		DefaultStatus: status,
		// The middleware already refused bodies over the limit; huma's own
		// check answers 413 at exactly its limit, so it sits one byte above.
		MaxBodyBytes: maxBodyBytes + 1,
		Errors:       []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusUnprocessableEntity},
		Parameters: []*huma.Param{{
			Name: "Steward-Act-As", In: "header",
			Description: "With the operator token: act on behalf of this user id (recorded in the audit log as such).",
			Schema:      &huma.Schema{Type: huma.TypeString},
		}},
	}
	if method == http.MethodPost {
		o.Parameters = append(o.Parameters, &huma.Param{
			Name: "Idempotency-Key", In: "header",
			Description: "A retry with the same key and request returns the first answer, without any secret it carried (Idempotent-Replayed: true), and changes nothing again.",
			Schema:      &huma.Schema{Type: huma.TypeString, MaxLength: ptr(maxIdempotencyKey)},
		})
	}
	if method != http.MethodGet {
		o.Errors = append(o.Errors, http.StatusConflict, http.StatusRequestEntityTooLarge)
	}
	return o
}

func ptr[T any](v T) *T { return &v }

// now is the Service's clock.
func (s *Server) now() time.Time {
	if s.svc.Now == nil {
		return time.Now().UTC()
	}
	return s.svc.Now().UTC()
}

// Outputs. Successful writes carry the revision they committed.
type (
	bodyOutput[T any] struct {
		Body T
	}
	writeOutput[T any] struct {
		Revision int64 `header:"Steward-Revision" doc:"The revision this write committed; pass it as min_revision to a check to read your writes."`
		Body     T
	}
	revisionOutput struct {
		Revision int64 `header:"Steward-Revision" doc:"The revision this write committed."`
	}
)

// read adapts a lookup to a huma handler.
func read[I, T any](fn func(context.Context, *I) (T, error)) func(context.Context, *I) (*bodyOutput[T], error) {
	return func(ctx context.Context, in *I) (*bodyOutput[T], error) {
		v, err := fn(ctx, in)
		if err != nil {
			return nil, problemOf(err)
		}
		return &bodyOutput[T]{Body: v}, nil
	}
}

// write adapts a Service write to a huma handler: the answer carries the
// revision in Steward-Revision and the write's result as its body.
func write[I, T any](fn func(context.Context, *I) (T, int64, error)) func(context.Context, *I) (*writeOutput[T], error) {
	return writeAs(fn, func(v T) T { return v })
}

// writeAs is write for an answer whose body shape makes of the write's result.
func writeAs[I, R, T any](fn func(context.Context, *I) (R, int64, error), shape func(R) T) func(context.Context, *I) (*writeOutput[T], error) {
	return func(ctx context.Context, in *I) (*writeOutput[T], error) {
		keepAs(ctx, func(result any, rev int64) (map[string]string, []byte, error) {
			v, ok := result.(R)
			if !ok {
				return nil, nil, fmt.Errorf("idempotency key: the write answered %T, the operation renders %T", result, v)
			}
			var b bytes.Buffer
			if err := huma.DefaultJSONFormat.Marshal(&b, shape(v)); err != nil { // as huma renders the answer
				return nil, nil, err
			}
			return map[string]string{"Content-Type": "application/json", "Steward-Revision": strconv.FormatInt(rev, 10)}, b.Bytes(), nil
		})
		v, rev, err := fn(ctx, in)
		if err != nil {
			return nil, problemOf(err)
		}
		return &writeOutput[T]{Revision: rev, Body: shape(v)}, nil
	}
}

// listOf is the shape of a write that answers a list.
func listOf[T any](items []T) List[T] { return List[T]{Items: items} }

// keepAs tells the write of a request with an Idempotency-Key how the
// operation renders its answer, so that the answer kept for a retry is the
// one sent.
func keepAs(ctx context.Context, render func(result any, rev int64) (map[string]string, []byte, error)) {
	if k := steward.IdempotencyKeyFromContext(ctx); k != nil {
		k.Render = render
	}
}

// remove adapts a Service write that answers no body (204).
func remove[I any](fn func(context.Context, *I) (int64, error)) func(context.Context, *I) (*revisionOutput, error) {
	return func(ctx context.Context, in *I) (*revisionOutput, error) {
		keepAs(ctx, func(_ any, rev int64) (map[string]string, []byte, error) {
			return map[string]string{"Steward-Revision": strconv.FormatInt(rev, 10)}, nil, nil
		})
		rev, err := fn(ctx, in)
		if err != nil {
			return nil, problemOf(err)
		}
		return &revisionOutput{Revision: rev}, nil
	}
}

// list adapts a paged lookup: the store's next id becomes an opaque cursor.
func list[I, T any](fn func(context.Context, *I) ([]T, string, error)) func(context.Context, *I) (*bodyOutput[List[T]], error) {
	return func(ctx context.Context, in *I) (*bodyOutput[List[T]], error) {
		items, next, err := fn(ctx, in)
		if err != nil {
			return nil, problemOf(err)
		}
		if items == nil {
			items = []T{}
		}
		return &bodyOutput[List[T]]{Body: List[T]{Items: items, NextCursor: encodeCursor(next)}}, nil
	}
}

func (s *Server) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(s.openapi)
}

// Health is the answer of /healthz and /readyz.
type Health struct {
	Status  string `json:"status" example:"ok"`
	Version string `json:"version"`
}

func (s *Server) healthRoutes() {
	public := []map[string][]string{{}}
	h := op(http.MethodGet, pathHealth, "health", "operations", "Liveness: the process answers", http.StatusOK)
	h.Security, h.Errors, h.Parameters = public, nil, nil
	huma.Register(s.api, h, func(ctx context.Context, _ *struct{}) (*bodyOutput[Health], error) {
		return &bodyOutput[Health]{Body: Health{Status: "ok", Version: s.version}}, nil
	})
	r := op(http.MethodGet, pathReady, "ready", "operations", "Readiness: the check index is loaded, the database answers and its schema is current", http.StatusOK)
	r.Security, r.Errors, r.Parameters = public, []int{http.StatusServiceUnavailable}, nil
	huma.Register(s.api, r, func(ctx context.Context, _ *struct{}) (*bodyOutput[Health], error) {
		if s.ready != nil {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if err := s.ready(ctx); err != nil {
				// A probe that says why (index_loading, database_unavailable)
				// is answered as it says; anything else stays generic.
				if steward.ErrorKind(err) == steward.EUNAVAILABLE {
					return nil, problemOf(err)
				}
				p := newProblem(steward.EUNAVAILABLE, "not_ready", "The server is not ready.")
				p.err = err
				return nil, p
			}
		}
		return &bodyOutput[Health]{Body: Health{Status: "ok", Version: s.version}}, nil
	})
}
