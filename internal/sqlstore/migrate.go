package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

// The schema is written once in the SQL both databases accept, numbered,
// and applied in order, each migration in its own transaction; goose keeps
// the applied versions in its table. A dialect that ever needs its own SQL
// for a step gets a folder of its own then.
//
//go:embed migrations/*.sql
var migrations embed.FS

// Migrator applies the embedded migrations.
type Migrator struct {
	name     string
	provider *goose.Provider
}

// NewMigrator returns a Migrator for db in goose's dialect; opts carry, for
// PostgreSQL, the session lock that lets nodes starting together migrate once.
func NewMigrator(db *sql.DB, dialect goose.Dialect, opts ...goose.ProviderOption) (*Migrator, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(dialect, db, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return &Migrator{name: string(dialect), provider: p}, nil
}

// Migrate applies pending migrations.
func (m *Migrator) Migrate(ctx context.Context) error {
	if _, err := m.provider.Up(ctx); err != nil {
		return fmt.Errorf("migrate %s: %w", m.name, err)
	}
	return nil
}

// CheckSchema returns an error naming the fix when migrations are pending.
func (m *Migrator) CheckSchema(ctx context.Context) error {
	current, target, err := m.provider.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current < target {
		return fmt.Errorf("the database schema is at version %d, this steward needs %d: run `steward migrate`", current, target)
	}
	return nil
}
