package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/internal/pgtest"
	"github.com/steward-iam/steward/postgres"
)

// faultTimeout is the store's bound on database waits in these tests.
const faultTimeout = time.Second

// readAndWrite runs one read and one write transaction that notifies.
func readAndWrite(db *postgres.DB) (readErr, writeErr error) {
	ctx := context.Background()
	_, readErr = db.GetSetting(ctx, "probe")
	writeErr = db.InTx(ctx, func(tx steward.Store) error {
		_, err := tx.AppendChanges(ctx, nil)
		return err
	})
	return readErr, writeErr
}

// wantUnavailable fails unless err is the store's retryable EUNAVAILABLE.
func wantUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	t.Logf("%s: %v", what, err)
	if steward.ErrorKind(err) != steward.EUNAVAILABLE || steward.ErrorCode(err) != "database_unavailable" {
		t.Errorf("%s: kind=%s code=%s (%v), want unavailable database_unavailable", what, steward.ErrorKind(err), steward.ErrorCode(err), err)
	}
}

// awaitUsable polls until the probe setting exists and a read and a write
// succeed, and fails the test if they do not within a few seconds.
func awaitUsable(t *testing.T, db *postgres.DB) {
	t.Helper()
	var r, w error
	for range 100 {
		if _, err := db.PutSettingIfAbsent(context.Background(), "probe", "x"); err != nil {
			r = err
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if r, w = readAndWrite(db); r == nil && w == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the store did not recover: read %v, write %v", r, w)
}

// A database that is stopped or hung answers the store's callers with the
// retryable EUNAVAILABLE instead of an internal error or an endless wait;
// once it is back, the same store works again, and the change follower
// reconnects, reloads and hears notifications again.
func TestServerFaults(t *testing.T) {
	srv := pgtest.StartServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := postgres.Open(ctx, srv.DSN(), postgres.WithTimeout(faultTimeout))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	awaitUsable(t, db) // a loaded machine may answer a fresh server's first statements slowly
	notified, reconnected := make(chan struct{}, 1), make(chan struct{}, 1)
	signal := func(c chan struct{}) func() {
		return func() {
			select {
			case c <- struct{}{}:
			default:
			}
		}
	}
	listening := make(chan struct{})
	go func() {
		defer close(listening)
		db.Listen(ctx, nil, signal(notified), signal(reconnected))
	}()
	defer func() { cancel(); <-listening }()
	awaitNotified := func(what string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			// Drain, write, and wait for the write's notification.
			select {
			case <-notified:
			default:
			}
			if _, err := readAndWrite(db); err != nil {
				t.Logf("%s: write: %v", what, err) // retried below
			}
			select {
			case <-notified:
				return
			case <-time.After(200 * time.Millisecond):
			case <-deadline:
				t.Fatalf("%s: no notification of a write", what)
			}
		}
	}
	awaitNotified("before the faults")

	t.Run("Stop", func(t *testing.T) {
		srv.Stop()
		r, w := readAndWrite(db)
		wantUnavailable(t, "read while stopped", r)
		wantUnavailable(t, "write while stopped", w)
		srv.Start()
		awaitUsable(t, db)
		select {
		case <-reconnected:
		case <-time.After(10 * time.Second):
			t.Fatal("the follower did not reconnect")
		}
		awaitNotified("after the restart")
	})

	t.Run("Freeze", func(t *testing.T) {
		srv.Freeze()
		r, w := readAndWrite(db)
		srv.Thaw()
		wantUnavailable(t, "read while frozen", r)
		wantUnavailable(t, "write while frozen", w)
		awaitUsable(t, db)
		awaitNotified("after the freeze")
	})
}
