// Package steward is delegated administration for multi-tenant products.
//
// The root package holds the domain: accounts, users, permissions, roles,
// memberships, audit events, the errors they return, the Store they are kept
// in, and the Service that enforces the rules of the specification (each rule
// is cited by its R-… number where it is enforced). It imports only the
// standard library and golang.org/x/text, whose Unicode normalisation folds
// emails (see NormalizeEmail); storage, HTTP and the command line live in
// sub-packages.
package steward
