package storetest

import (
	"testing"
	"time"

	"github.com/steward-iam/steward"
)

var outboxCases = []suiteCase{{"Outbox", testOutbox}}

func testOutbox(t *testing.T, open Opener) {
	st := open(t)
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	m := &steward.Message{ID: "msg_1", To: "ada@example.com", Subject: "Hello", Text: "Body", AccountID: "acc_1", Kind: "test", CreatedAt: now, NextAttemptAt: now}
	if err := st.InTx(ctx, func(tx steward.Store) error { return tx.EnqueueMessage(ctx, m) }); err != nil {
		t.Fatal(err)
	}
	due, err := st.DueMessages(ctx, now, 10)
	if err != nil || len(due) != 1 || due[0].Subject != "Hello" {
		t.Fatalf("DueMessages = %v, %v; want the message", due, err)
	}
	m.Attempts, m.NextAttemptAt, m.LastError = 1, now.Add(time.Minute), "connection refused"
	if err := st.UpdateMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	if due, _ := st.DueMessages(ctx, now, 10); len(due) != 0 {
		t.Errorf("a message backed off until later is due now")
	}
	sent := now.Add(time.Minute)
	m.SentAt = &sent
	if err := st.UpdateMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	if due, _ := st.DueMessages(ctx, now.Add(time.Hour), 10); len(due) != 0 {
		t.Errorf("a sent message is due again")
	}
	if all, _ := st.FindMessages(ctx, 10); len(all) != 1 || all[0].SentAt == nil {
		t.Errorf("FindMessages = %v, want the sent message", all)
	}
}

func init() {
	outboxCases = append(outboxCases, suiteCase{"Pruning", testPruning})
}

// testPruning drops old change-feed entries, never the last revision's, and
// old idempotency answers.
func testPruning(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	w.Account(steward.AccountStandard)
	w.Account(steward.AccountStandard)
	last, _ := w.Store.CurrentRevision(ctx)
	n, err := w.Store.PruneChanges(ctx, time.Now().Add(time.Hour)) // everything is old
	if err != nil || n == 0 {
		t.Fatalf("PruneChanges = %d, %v; want some pruned", n, err)
	}
	changes, err := w.Store.ChangesSince(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) == 0 || changes[0].Revision != last {
		t.Errorf("after pruning the feed holds %+v, want only revision %d", changes, last)
	}
	r := &steward.IdempotentResponse{Scope: "operator", Key: "old", RequestHash: "h", CreatedAt: time.Now().Add(-48 * time.Hour).UTC().Truncate(time.Microsecond)}
	if err := w.Store.InTx(ctx, func(tx steward.Store) error { return tx.SaveIdempotentResponse(ctx, r) }); err != nil {
		t.Fatal(err)
	}
	if n, err := w.Store.PruneIdempotencyKeys(ctx, time.Now().Add(-24*time.Hour)); err != nil || n != 1 {
		t.Errorf("PruneIdempotencyKeys = %d, %v; want 1", n, err)
	}
}
