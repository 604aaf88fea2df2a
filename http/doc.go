// Package http is Steward's JSON API (SPEC §3) over the standard library's
// ServeMux, with operations declared as typed Go structs through huma so
// that the OpenAPI 3.1 document at /v1/openapi.json is generated from the
// code.
//
// Handlers only parse, call the steward.Service, map errors and render.
// Around them, net/http middleware gives every request an id (Request-Id),
// reads the body up to 1 MiB (413 above), resolves the bearer token to the
// actor, and makes POSTs with an Idempotency-Key happen once.
//
// Every error is an RFC 9457 problem document with a stable code; the one
// table from error kinds to statuses is in error.go. huma's own errors go
// through the same mapping: the package replaces huma.NewError when it is
// imported, which is the hook huma provides for this.
package http
