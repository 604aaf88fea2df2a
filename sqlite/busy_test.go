package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/sqlite"
)

// A writer that waits for a lock beyond the timeout, held by another
// process on the same file or by another writer of this process, is
// answered the retryable EUNAVAILABLE instead of waiting on or failing as
// an internal error; the database works again once the lock is free.
func TestBusyIsUnavailable(t *testing.T) {
	const timeout = 500 * time.Millisecond
	path := filepath.Join(t.TempDir(), "steward.db")
	ctx := context.Background()
	open := func() *sqlite.DB {
		db, err := sqlite.Open(path, sqlite.WithTimeout(timeout))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	holder := open()
	if err := holder.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	other := open() // as another process would open the file

	held, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- holder.InTx(ctx, func(tx steward.Store) error {
			if _, err := tx.PutSettingIfAbsent(ctx, "held", "x"); err != nil {
				return err
			}
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	write := func(db *sqlite.DB, name string) error {
		return db.InTx(ctx, func(tx steward.Store) error {
			_, err := tx.PutSettingIfAbsent(ctx, name, "x")
			return err
		})
	}
	for _, tc := range []struct {
		name string
		db   *sqlite.DB
	}{
		{"OtherProcess", other},
		{"SameProcess", holder},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := write(tc.db, tc.name)
			if steward.ErrorKind(err) != steward.EUNAVAILABLE || steward.ErrorCode(err) != "database_unavailable" {
				t.Errorf("write while locked: kind=%s code=%s (%v), want unavailable database_unavailable",
					steward.ErrorKind(err), steward.ErrorCode(err), err)
			}
		})
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("holder: %v", err)
	}
	for i, db := range []*sqlite.DB{other, holder} {
		if err := write(db, fmt.Sprint("after ", i)); err != nil {
			t.Errorf("write after the lock is free: %v", err)
		}
	}
}
