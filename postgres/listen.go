package postgres

import (
	"context"
	"log/slog"
	"time"
)

// ChangesChannel is the LISTEN/NOTIFY channel on which every write
// transaction announces its revision when it commits.
const ChangesChannel = "steward_changes"

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
		backoff = min(2*backoff, 10*time.Second)
	}
}

func (db *DB) listenOnce(ctx context.Context, onNotify, onListening func()) error {
	pooled, err := db.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection may be in any state when this returns: take it out of
	// the pool for good.
	conn := pooled.Hijack()
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+ChangesChannel); err != nil {
		return err
	}
	onListening()
	onNotify() // anything committed before LISTEN took effect
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		onNotify()
	}
}
