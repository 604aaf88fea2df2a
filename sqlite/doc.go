// Package sqlite is Steward's embedded store: a SQLite file through the pure
// Go driver modernc.org/sqlite, in WAL mode, with writers queued in process.
package sqlite
