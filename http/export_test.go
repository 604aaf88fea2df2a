package http

// Internals the external tests pin.
var (
	StatusOf    = statusOf
	ProblemOf   = problemOf
	RequestHash = requestHash
	ScopeOf     = scopeOf
)

// Headers returns the headers that go with a problem.
func (p *Problem) Headers() map[string][]string { return p.header }
