package steward

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"time"
)

// Service enforces the rules of the specification over a Store. Every
// mutating method runs in one transaction that also writes its audit events
// (R-AUDIT-1) and its change-feed entry, and returns the revision it committed.
type Service struct {
	Store     Store
	Catalogue *Catalogue
	Logger    *slog.Logger
	// Passwords hashes console passwords; nil refuses users with passwords.
	Passwords PasswordHasher
	// Checker, when set, answers checks from memory (package authz).
	Checker Checker
	// Lister, when set, answers access listings from memory (package authz).
	Lister AccessLister
	// MinRevisionWait bounds how long a check waits for its min_revision.
	MinRevisionWait time.Duration
	// OnCommit, when set, is called after every committed write with its
	// revision; the check index uses it to follow writes of this node at once.
	OnCommit func(rev int64)
	// OnQueued, when set, is called after every committed write with what
	// it gave the mail and webhook senders to do: the server wakes them
	// with it only when they may have work.
	OnQueued func(Queued)
	// Now is the clock; tests replace it.
	Now func() time.Time

	// Partner access (R-PARTNER-…); zero values take the defaults of SPEC §5.
	// AccessLinkTTL is how long an access link stays usable (default 720h).
	AccessLinkTTL time.Duration
	// RelationshipGrace is how long an ending relationship lasts after the
	// last partner activity (default 1440h).
	RelationshipGrace time.Duration

	// API tokens (SPEC §3): the lifetime of a token issued without
	// expires_in (default DefaultTokenTTL) and the longest one may ask for
	// (default DefaultTokenMaxTTL).
	TokenTTL, TokenMaxTTL time.Duration

	// External users (R-EXT-…); zero values take the defaults of SPEC §5.
	// BaseURL is the public URL that links in mail start with.
	BaseURL string
	// InvitationTTL is how long an invitation stays pending (default 720h).
	InvitationTTL time.Duration
	// ConsentVersion and ConsentText are the operator's delegated account
	// management agreement (default DefaultConsentVersion/Text).
	ConsentVersion, ConsentText string
	// RedelegationDepth is how many delegate links may hang below an external
	// user (default 1: delegates cannot delegate further).
	RedelegationDepth int

	// Webhooks (R-HOOK-…). Secrets seals endpoint secrets; nil refuses new
	// endpoints. WebhookGuard decides which URLs are allowed (R-HOOK-3).
	Secrets      *SecretBox
	WebhookGuard *WebhookGuard
}

// NewService returns a Service over store with the given catalogue.
func NewService(store Store, cat *Catalogue, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{Store: store, Catalogue: cat, Logger: logger, Now: time.Now}
}

// now returns the current time at the precision the stores keep.
func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

// txn is one write in progress: the transaction-bound store plus the events
// and changes that will commit with it.
type txn struct {
	Store
	s       *Service
	ctx     context.Context
	now     time.Time
	actor   *Actor
	events  []*Event
	changes []Change
	result  any              // what the write's request answers (see answer)
	dry     *dryRun          // set in dry-run mode (R-PREVIEW-1)
	resend  *WebhookDelivery // a delivery queued again (R-HOOK-2), see enqueueWebhooks
	queued  Queued           // what the write gives the senders (see Service.OnQueued)
}

// Queued is what a committed write gave the senders to do.
type Queued struct {
	// Mail says the write queued mail.
	Mail bool
	// Webhooks says the write changed an endpoint or queued a delivery.
	Webhooks bool
	// Accounts are the accounts the write recorded events in: their
	// endpoints follow their audit log (R-HOOK-2).
	Accounts []string
}

// errUnchanged is what a write's fn returns when the write would change
// nothing: write rolls the transaction back, records nothing and answers the
// current revision (SPEC §4 "No-op writes"). fn returns it only after the
// actor's permissions were checked as for a real change.
var errUnchanged = errors.New("write changes nothing")

// write runs fn in a transaction, appends the events and changes fn recorded,
// and returns the committed revision. A write that records no event is a
// programming error: nothing changes without its record (R-AUDIT-1); a write
// that changes nothing returns errUnchanged from fn and commits nothing.
//
// With an Idempotency-Key in ctx the transaction first holds the key: if an
// earlier request answered it, nothing changes and the key says so; if
// another request is running with it, the write fails with 409
// idempotency_in_progress. After the change it keeps the answer in the same
// transaction, so that a crash on either side of the commit leaves either
// both or neither.
//
// In dry-run mode (NewContextWithDryRun) write runs fn, describes in the
// context's Preview what fn did to every membership it touched, and rolls
// the transaction back: no event, no revision, no mail, no change-feed
// entry and no Idempotency-Key answer are kept (R-PREVIEW-1). It then
// returns errDryRun, so that callers stop as on any error and the request
// answers the preview.
func (s *Service) write(ctx context.Context, fn func(t *txn) error) (int64, error) {
	var rev int64
	if p := DryRunFromContext(ctx); p != nil {
		return 0, s.dryRun(ctx, p, fn)
	}
	key := IdempotencyKeyFromContext(ctx)
	if key != nil && key.Kept != nil {
		return 0, Errorf(EINTERNAL, "internal", "a second write for one Idempotency-Key")
	}
	var done *txn
	err := s.Store.InTx(ctx, func(tx Store) error {
		t := &txn{Store: tx, s: s, ctx: ctx, now: s.now(), actor: ActorFromContext(ctx)}
		done = t
		if key != nil {
			key.Answered, key.Kept = nil, nil // a retried transaction starts again
			first, err := tx.LockIdempotencyKey(ctx, key.Scope, key.Key)
			if err != nil {
				return err
			}
			if first != nil {
				key.Answered = first
				return errAnswered
			}
		}
		if err := fn(t); err != nil {
			return err
		}
		if len(t.events) == 0 {
			return Errorf(EINTERNAL, "internal", "write without audit event")
		}
		if err := t.notePartnerActivity(); err != nil { // R-PARTNER-10
			return err
		}
		for _, e := range t.events {
			if err := tx.AppendEvent(ctx, e); err != nil {
				return err
			}
			t.changes = append(t.changes, Change{AccountID: e.AccountID, Entity: e.TargetType, EntityID: e.TargetID, Time: t.now})
		}
		if err := t.enqueueWebhooks(); err != nil { // R-HOOK-2
			return err
		}
		var err error
		if c, ok := tx.(lastAppender); ok && key == nil {
			// Nothing follows: the store may commit with the changes.
			rev, err = c.AppendChangesAndCommit(ctx, t.changes)
			return err
		}
		if rev, err = tx.AppendChanges(ctx, t.changes); err != nil {
			return err
		}
		if key != nil {
			return t.keepAnswer(key, rev)
		}
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return s.Store.CurrentRevision(ctx)
	}
	if err == nil && s.OnCommit != nil {
		s.OnCommit(rev)
	}
	if err == nil && s.OnQueued != nil {
		q := done.queued
		q.Accounts = done.accounts()
		s.OnQueued(q)
	}
	return rev, err
}

// accounts returns the accounts the write recorded events in.
func (t *txn) accounts() []string {
	var ids []string
	for _, e := range t.events {
		if !slices.Contains(ids, e.AccountID) {
			ids = append(ids, e.AccountID)
		}
	}
	return ids
}

// lastAppender is a transaction's store that can append the changes as
// the transaction's last statement and commit with them (one round trip
// less, and the revision taken for less time); no statement may follow.
type lastAppender interface {
	AppendChangesAndCommit(ctx context.Context, changes []Change) (int64, error)
}

// record adds an audit event to the write. by describes the actor's standing in
// accountID (nil when the operator acts as itself there).
func (t *txn) record(accountID string, by *access, action, targetType, targetID string, details any) {
	raw, err := json.Marshal(details)
	if err != nil || details == nil {
		raw = []byte("{}")
	}
	e := &Event{
		ID:         NewID(PrefixEvent, t.now),
		AccountID:  accountID,
		Time:       t.now,
		Action:     action,
		TargetType: targetType,
		TargetID:   targetID,
		Details:    raw,
	}
	if by != nil {
		e.Actor = by.eventActor()
	} else if t.actor != nil {
		e.Actor = EventActor{UserID: t.actor.UserID, Operator: t.actor.Operator}
	}
	t.events = append(t.events, e)
}

// lockedActor locks the account for the rest of the write (see
// LockAccount), resolves the actor there and requires perms of it.
func (t *txn) lockedActor(accountID string, perms ...string) (*access, error) {
	if err := t.LockAccount(t.ctx, accountID); err != nil {
		return nil, err
	}
	return t.actorIn(accountID, perms...)
}

// actorIn resolves the actor in the account and requires perms of it.
func (t *txn) actorIn(accountID string, perms ...string) (*access, error) {
	by, err := t.s.accessTo(t.ctx, t, accountID)
	if err != nil {
		return nil, err
	}
	return by, by.require(perms...)
}

// touch adds a change-feed entry without an event of its own, for entities a
// recorded event changed indirectly (members of an edited role, say).
func (t *txn) touch(accountID, entity, id string) {
	t.changes = append(t.changes, Change{AccountID: accountID, Entity: entity, EntityID: id, Time: t.now})
}

// dryRun runs fn in a transaction it always rolls back, and fills p with
// the differences fn made (R-PREVIEW-1). It runs the same fn as the real
// write, so the preview and the error come from the request's own code. A
// write that would change nothing previews no change.
func (s *Service) dryRun(ctx context.Context, p *Preview, fn func(t *txn) error) error {
	if p.done {
		return Errorf(EINTERNAL, "internal", "a second write in one dry run")
	}
	err := s.Store.InTx(ctx, func(tx Store) error {
		t := &txn{Store: tx, s: s, ctx: ctx, now: s.now(), actor: ActorFromContext(ctx), dry: newDryRun()}
		err := fn(t)
		if errors.Is(err, errUnchanged) {
			p.DryRun, p.Changes, p.done = true, []PermissionChange{}, true
			return errDryRun
		}
		if err != nil {
			return err
		}
		if len(t.events) == 0 {
			return Errorf(EINTERNAL, "internal", "write without audit event")
		}
		// What the store held back runs now, so that what it would refuse
		// (a taken email) fails the preview as it would fail the write.
		if f, ok := tx.(interface{ FlushHeldBack(context.Context) error }); ok {
			if err := f.FlushHeldBack(ctx); err != nil {
				return err
			}
		}
		changes, err := t.preview()
		if err != nil {
			return err
		}
		rels, err := t.relationshipChanges()
		if err != nil {
			return err
		}
		p.DryRun, p.Changes, p.Relationships, p.done = true, changes, rels, true
		return errDryRun
	})
	if err == nil {
		return Errorf(EINTERNAL, "internal", "a dry run committed")
	}
	return err
}
