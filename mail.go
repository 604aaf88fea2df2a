package steward

import (
	"context"
	"time"
)

// Message is an email waiting in the outbox. It is written in the same
// transaction as the change it announces, so a mail goes out exactly when its
// change committed; a sender delivers it afterwards (package mail).
type Message struct {
	ID        string    `json:"id"`
	To        string    `json:"to"`
	Subject   string    `json:"subject"`
	Text      string    `json:"text"`
	AccountID string    `json:"account_id"` // the account the mail is about
	Kind      string    `json:"kind"`       // e.g. "access_link.approved", "invitation"
	CreatedAt time.Time `json:"created_at"`
	// Attempts, NextAttemptAt, SentAt and LastError are the sender's bookkeeping.
	Attempts      int        `json:"attempts"`
	NextAttemptAt time.Time  `json:"next_attempt_at"`
	SentAt        *time.Time `json:"sent_at,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
}

// OutboxStore keeps outgoing mail.
type OutboxStore interface {
	// EnqueueMessage stores m for sending; it must run inside InTx.
	EnqueueMessage(ctx context.Context, m *Message) error
	// DueMessages returns up to limit unsent messages due at now, oldest first.
	DueMessages(ctx context.Context, now time.Time, limit int) ([]*Message, error)
	// UpdateMessage records a send attempt.
	UpdateMessage(ctx context.Context, m *Message) error
	// FindMessages returns the newest messages, for the console's mail page and tests.
	FindMessages(ctx context.Context, limit int) ([]*Message, error)
}

// mail queues a message in the write's transaction.
func (t *txn) mail(m *Message) error {
	m.ID = NewID("msg_", t.now)
	m.CreatedAt, m.NextAttemptAt = t.now, t.now
	t.queued.Mail = true
	return t.EnqueueMessage(t.ctx, m)
}
