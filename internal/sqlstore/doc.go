// Package sqlstore implements steward.Store over database/sql for both
// SQLite and PostgreSQL. The SQL is written once in the dialect both accept
// ($N placeholders, BIGINT microsecond times, JSON text columns); what
// differs — row locks, driver errors, retryable failures, write
// serialisation — is described by a Dialect that package sqlite or package
// postgres supplies.
package sqlstore
