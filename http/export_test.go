package http

// Internals the external tests pin.
var (
	StatusOf    = statusOf
	ProblemOf   = problemOf
	RequestHash = requestHash
	ScopeOf     = scopeOf
)

// SCIMMaxResults is the largest SCIM page.
const SCIMMaxResults = scimMaxResults

// Headers returns the headers that go with a problem.
func (p *Problem) Headers() map[string][]string { return p.header }

// WithoutFastPaths makes the server answer every request through huma, for
// tests that compare the hot routes' own answers with huma's.
func WithoutFastPaths() Option { return func(s *Server) { s.noFastPaths = true } }
