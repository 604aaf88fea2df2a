// Package postgres is Steward's production store: PostgreSQL through pgx,
// shared by several stateless steward nodes.
package postgres
