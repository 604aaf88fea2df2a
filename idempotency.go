package steward

import "context"

// IdempotencyKey is the Idempotency-Key of a POST being answered. The HTTP
// layer puts it in the request's context; the write the request makes keeps
// the answer in the same transaction as its change (see Service.write), so
// that a retry after any crash either finds the answer or finds that nothing
// changed.
type IdempotencyKey struct {
	Key         string
	Scope       string // who sent the request
	RequestHash string // method, path and body
	// Status is the status of the operation's success.
	Status int
	// Render turns the write's result (what the write handed to answer,
	// without its secrets) and revision into the headers and body of the
	// answer, exactly as the request's own answer renders them. An operation
	// without Render cannot keep its answer, and its writes fail with a key.
	Render func(result any, rev int64) (header map[string]string, body []byte, err error)

	// Answered is set when the key had been answered by an earlier request:
	// the write changed nothing and the request answers this instead.
	Answered *IdempotentResponse
	// Kept is set when the write committed with its answer kept.
	Kept *IdempotentResponse
}

// Redactor is a result that carries a secret shown once (SPEC §4 "Secrets
// are shown once"): Redacted returns it without the secret, saying so, which
// is what a replay of its answer carries.
type Redactor interface {
	Redacted() any
}

type idempotencyKeyKey struct{}

// NewContextWithIdempotencyKey returns ctx carrying k.
func NewContextWithIdempotencyKey(ctx context.Context, k *IdempotencyKey) context.Context {
	return context.WithValue(ctx, idempotencyKeyKey{}, k)
}

// IdempotencyKeyFromContext returns the Idempotency-Key of ctx, if any.
func IdempotencyKeyFromContext(ctx context.Context) *IdempotencyKey {
	k, _ := ctx.Value(idempotencyKeyKey{}).(*IdempotencyKey)
	return k
}

// errAnswered ends a write whose key turned out to be answered already.
var errAnswered = Errorf(ECONFLICT, "idempotency_key_answered", "A request with this Idempotency-Key was answered already.")

// keepAnswer stores the answer of the write's request with its change, in
// its transaction: the answer commits or rolls back with the change it
// describes.
func (t *txn) keepAnswer(k *IdempotencyKey, rev int64) error {
	if k.Render == nil {
		return Errorf(EINTERNAL, "internal", "this operation cannot keep its answer for an Idempotency-Key")
	}
	result := t.result
	// SPEC §4 "Secrets are shown once": the secret never reaches the store.
	if r, ok := result.(Redactor); ok {
		result = r.Redacted()
	}
	header, body, err := k.Render(result, rev)
	if err != nil {
		return err
	}
	resp := &IdempotentResponse{Key: k.Key, Scope: k.Scope, RequestHash: k.RequestHash, Status: k.Status,
		Header: header, Body: body, CreatedAt: t.now}
	if err := t.SaveIdempotentResponse(t.ctx, resp); err != nil {
		return err
	}
	k.Kept = resp
	return nil
}

// answer hands the write's result to the request's Idempotency-Key: the
// answer kept for a retry is rendered from it. Writes reached by a POST call
// it with what they return.
func (t *txn) answer(result any) { t.result = result }
