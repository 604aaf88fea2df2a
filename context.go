package steward

import "context"

// Actor is who makes a request.
type Actor struct {
	// UserID is the acting user; empty when the operator acts as itself.
	UserID string
	// Operator is true when the request carried the operator token, acting as
	// itself or, with Steward-Act-As, on behalf of UserID.
	Operator bool
}

// IsOperator reports whether the actor is the operator acting as itself.
func (a *Actor) IsOperator() bool { return a != nil && a.Operator && a.UserID == "" }

type contextKey int

const (
	actorKey contextKey = iota + 1
	requestIDKey
)

// NewContextWithActor returns ctx carrying a.
func NewContextWithActor(ctx context.Context, a *Actor) context.Context {
	return context.WithValue(ctx, actorKey, a)
}

// ActorFromContext returns the actor of ctx; nil means anonymous.
func ActorFromContext(ctx context.Context) *Actor {
	a, _ := ctx.Value(actorKey).(*Actor)
	return a
}

// NewContextWithRequestID returns ctx carrying a request id.
func NewContextWithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestIDFromContext returns the request id of ctx, if any.
func RequestIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}
