package steward

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Event is one audit record: one action in one account (R-AUDIT-1). Events of
// an account form a hash chain: each carries the hash of the one before it
// (R-AUDIT-2).
type Event struct {
	ID         string          `json:"id"`
	AccountID  string          `json:"account_id"`
	Seq        int64           `json:"seq"`
	Time       time.Time       `json:"time"`
	Actor      EventActor      `json:"actor"`
	Action     string          `json:"action"`
	TargetType string          `json:"target_type"`
	TargetID   string          `json:"target_id"`
	Details    json.RawMessage `json:"details"`
	PrevHash   string          `json:"prev_hash"`
	Hash       string          `json:"hash"`
}

// EventActor says who acted, from which home account, and through what.
type EventActor struct {
	// UserID is empty when the operator acted as itself.
	UserID        string `json:"user_id,omitempty"`
	Email         string `json:"email,omitempty"`
	HomeAccountID string `json:"home_account_id,omitempty"`
	// Operator is true when the request came with the operator token, either
	// as the operator itself or on behalf of UserID (Steward-Act-As).
	Operator bool `json:"operator"`
	// MembershipID and Kind name the membership the actor used in the account.
	MembershipID string         `json:"membership_id,omitempty"`
	Kind         MembershipKind `json:"kind,omitempty"`
	// PartnerID is the partner account behind a partner membership.
	PartnerID string `json:"partner_id,omitempty"`
	// Chain lists the memberships the access hangs on, actor's first
	// (a delegate's parent follows it) (R-EXT-10).
	Chain []string `json:"chain,omitempty"`
}

// Seal sets e.PrevHash and e.Hash, chaining e after the event whose hash is prev.
func (e *Event) Seal(prev string) {
	e.PrevHash = prev
	e.Hash = e.ComputeHash()
}

// ComputeHash returns the hash of every field of e except Hash itself.
func (e *Event) ComputeHash() string {
	body, _ := json.Marshal(struct {
		ID, AccountID string
		Seq           int64
		Time          string
		Actor         EventActor
		Action        string
		TargetType    string
		TargetID      string
		Details       json.RawMessage
		PrevHash      string
	}{e.ID, e.AccountID, e.Seq, e.Time.UTC().Format(time.RFC3339Nano), e.Actor, e.Action, e.TargetType, e.TargetID, e.Details, e.PrevHash})
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// AuditFilter selects events of one account, or of a partner's employees.
type AuditFilter struct {
	AccountID string // the account's own log (R-AUDIT-3)
	// ActorHomeAccountID restricts to actors whose home account it is; with an
	// empty AccountID it spans accounts (a partner's view).
	ActorHomeAccountID string
	ActorUserID        string
	ActorPartnerID     string
	Action             string
	Since, Until       *time.Time
	After              string // cursor: the last event id of the previous page
	Limit              int
}

// VerifyResult is the outcome of verifying an account's chain (R-AUDIT-2).
type VerifyResult struct {
	OK              bool   `json:"ok"`
	Events          int64  `json:"events"`
	FirstBadEventID string `json:"first_bad_event_id,omitempty"`
}

// ChainVerifier checks events, fed in sequence order, as one account's chain.
type ChainVerifier struct {
	res  VerifyResult
	prev string
}

// Add checks the next event; it returns false at the first that does not verify.
func (v *ChainVerifier) Add(e *Event) bool {
	if v.res.FirstBadEventID != "" {
		return false
	}
	v.res.Events++
	if e.Seq != v.res.Events || e.PrevHash != v.prev || e.ComputeHash() != e.Hash {
		v.res.FirstBadEventID = e.ID
		return false
	}
	v.prev = e.Hash
	return true
}

// Result returns the outcome so far.
func (v *ChainVerifier) Result() VerifyResult {
	r := v.res
	r.OK = r.FirstBadEventID == ""
	return r
}

// ExportEvents calls fn with every event that f selects, newest first,
// paging through find (Service.FindEvents, or FindPartnerEvents bound to a
// partner), which checks the actor's right to read on every page.
func ExportEvents(ctx context.Context, find func(context.Context, AuditFilter) ([]*Event, string, error), f AuditFilter, fn func(*Event) error) error {
	f.Limit = MaxPageLimit
	for {
		events, next, err := find(ctx, f)
		if err != nil {
			return err
		}
		for _, e := range events {
			if err := fn(e); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		f.After = next
	}
}

// EventCSVHeader names the columns of EventCSVRecord.
var EventCSVHeader = []string{"id", "account_id", "seq", "time", "action", "target_type", "target_id",
	"actor_user_id", "actor_email", "actor_home_account_id", "actor_operator", "actor_membership_id", "actor_kind",
	"actor_partner_id", "actor_chain", "details", "prev_hash", "hash"}

// EventCSVRecord is e as a CSV row: the actor flattened, its chain space
// separated, the details as JSON.
func EventCSVRecord(e *Event) []string {
	return []string{e.ID, e.AccountID, strconv.FormatInt(e.Seq, 10), e.Time.UTC().Format(time.RFC3339Nano), e.Action, e.TargetType, e.TargetID,
		e.Actor.UserID, e.Actor.Email, e.Actor.HomeAccountID, strconv.FormatBool(e.Actor.Operator), e.Actor.MembershipID, string(e.Actor.Kind),
		e.Actor.PartnerID, strings.Join(e.Actor.Chain, " "), string(e.Details), e.PrevHash, e.Hash}
}
