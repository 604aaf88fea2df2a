package postgres

import (
	"context"
	"log/slog"
	"time"
)

// ChangesChannel is the LISTEN/NOTIFY channel on which every write
// transaction announces its revision when it commits.
const ChangesChannel = "steward_changes"

// maxListenBackoff bounds the wait between reconnections, so that the node
// follows other nodes' writes again soon after the database is back.
const maxListenBackoff = time.Second

// Listen calls onNotify whenever another node (or this one) commits a write,
// until ctx ends. A connection inside a transaction receives nothing, so it
// holds a connection of its own. After a lost connection it reconnects with
// backoff and calls onReconnect, since notifications sent meanwhile are lost.
func (db *DB) Listen(ctx context.Context, logger *slog.Logger, onNotify, onReconnect func()) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	backoff := 100 * time.Millisecond
	for first := true; ctx.Err() == nil; first = false {
		if !first {
			onReconnect()
		}
		err := db.listenOnce(ctx, onNotify, func() { backoff = 100 * time.Millisecond })
		if ctx.Err() != nil {
			return
		}
		logger.Warn("change notifications lost; reconnecting", slog.Any("err", err), slog.Duration("in", backoff))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxListenBackoff)
	}
}

func (db *DB) listenOnce(ctx context.Context, onNotify, onListening func()) error {
	// Connecting and LISTEN wait no longer than any statement; waiting for
	// a notification has no bound, and a dead server ends it through the
	// connection's TCP keepalives.
	setup, cancel := ctx, context.CancelFunc(func() {})
	if db.timeout > 0 {
		setup, cancel = context.WithTimeout(ctx, db.timeout)
	}
	defer cancel()
	pooled, err := db.Pool.Acquire(setup)
	if err != nil {
		return err
	}
	// The connection may be in any state when this returns: take it out of
	// the pool for good.
	conn := pooled.Hijack()
	defer conn.Close(context.Background())
	if _, err := conn.Exec(setup, "LISTEN "+ChangesChannel); err != nil {
		return err
	}
	cancel()
	onListening()
	onNotify() // anything committed before LISTEN took effect
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		onNotify()
	}
}
