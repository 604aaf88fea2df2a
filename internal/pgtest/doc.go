// Package pgtest gives tests a fresh PostgreSQL database each. Tests that
// need PostgreSQL run when STEWARD_TEST_POSTGRES_DSN names a server (CI
// always sets it; so does `bash .ci/run`) and skip otherwise.
//
// NewDSN creates a database with a random name on that server and drops it
// (WITH (FORCE), so leftover connections do not keep it) when the test ends.
//
// StartServer runs a PostgreSQL server of the test's own, from the installed
// server programs, for tests that stop, restart or freeze the database.
package pgtest
