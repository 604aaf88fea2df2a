package steward

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// WebhookInput registers an endpoint (R-HOOK-1).
type WebhookInput struct {
	// AccountID names the account; the operator's POST /v1/webhooks gives
	// it in the body, the account's own path gives it in the path.
	AccountID  string   `json:"account_id,omitempty" doc:"The account (operator's POST /v1/webhooks only; the account path names it otherwise)."`
	URL        string   `json:"url" doc:"An https URL whose host resolves to public addresses only (R-HOOK-3)."`
	EventTypes []string `json:"event_types" doc:"Audit actions to deliver (e.g. member.role_changed), or \"*\" for every action."`
}

// WebhookUpdate edits an endpoint; nil fields stay. Setting status to
// active enables an endpoint disabled after failing deliveries.
type WebhookUpdate struct {
	URL        *string   `json:"url,omitempty"`
	EventTypes *[]string `json:"event_types,omitempty"`
	Status     *string   `json:"status,omitempty" enum:"active,disabled"`
}

// NewWebhook is the answer to CreateWebhook: the endpoint and its secret,
// shown only here (R-HOOK-1; SPEC §4 "Secrets are shown once").
type NewWebhook struct {
	Webhook
	Secret         string `json:"secret,omitempty" doc:"The signing secret (whsec_…), shown once."`
	SecretWithheld bool   `json:"secret_withheld,omitempty" doc:"True in a replay (Idempotency-Key): the secret was shown once, in the first answer."`
}

// Redacted is the answer without the secret, as a replay carries it.
func (n *NewWebhook) Redacted() any {
	c := *n
	c.Secret, c.SecretWithheld = "", true
	return &c
}

// eventTypePattern is what an event type looks like: an audit action, or "*".
var eventTypePattern = regexp.MustCompile(`^(\*|[a-z][a-z0-9_]*(\.[a-z0-9_]+)*)$`)

func checkEventTypes(types []string) error {
	if len(types) == 0 {
		return Invalid("invalid_webhook", "The webhook is not valid.", FieldError{"event_types", "name at least one event type"})
	}
	if err := checkTexts("event_types", types); err != nil {
		return err
	}
	for i, t := range types {
		if len(t) > 100 || !eventTypePattern.MatchString(t) {
			return Invalid("invalid_webhook", "The webhook is not valid.",
				FieldError{fmt.Sprintf("event_types[%d]", i), "must be an audit action such as member.role_changed, or *"})
		}
	}
	return nil
}

func (s *Service) checkWebhookURL(ctx context.Context, raw string) error {
	if err := checkText("url", raw); err != nil {
		return err
	}
	if len(raw) > 2048 {
		return errWebhookURL("must be at most 2048 bytes")
	}
	return s.WebhookGuard.CheckURL(ctx, raw) // R-HOOK-3
}

// CreateWebhook registers an endpoint of the account and returns its
// secret, once (R-HOOK-1). It needs account.webhooks.manage there (the
// operator holds it everywhere); the URL must pass R-HOOK-3.
func (s *Service) CreateWebhook(ctx context.Context, accountID string, in WebhookInput) (*NewWebhook, int64, error) {
	if _, err := s.accessTo(ctx, s.Store, accountID); err != nil {
		return nil, 0, err
	}
	if s.Secrets == nil {
		return nil, 0, Errorf(EUNAVAILABLE, "webhook_secret_key_missing", "Webhooks need the server's secret key (--secret-key).")
	}
	var out *NewWebhook
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.actorIn(accountID, PermWebhooksManage) // R-HOOK-1
		if err != nil {
			return err
		}
		if err := checkEventTypes(in.EventTypes); err != nil {
			return err
		}
		if err := s.checkWebhookURL(ctx, in.URL); err != nil {
			return err
		}
		w := &Webhook{ID: NewID(PrefixWebhook, t.now), AccountID: accountID, URL: in.URL, EventTypes: in.EventTypes,
			Status: WebhookActive, CreatedAt: t.now, UpdatedAt: t.now}
		secret := NewWebhookSecret()
		w.SecretCipher = s.Secrets.Seal(w.ID, secret)
		if err := t.CreateWebhook(t.ctx, w); err != nil {
			return err
		}
		t.queued.Webhooks = true
		t.record(accountID, by, "webhook.created", "webhook", w.ID, map[string]any{"url": w.URL, "event_types": w.EventTypes})
		out = &NewWebhook{Webhook: *w, Secret: secret}
		t.answer(out)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}

// FindWebhooks pages through the account's endpoints; the operator may
// pass "" for every account's. Needs account.webhooks.manage.
func (s *Service) FindWebhooks(ctx context.Context, accountID string, page Page) ([]*Webhook, string, error) {
	if accountID == "" {
		if err := s.requireOperator(ctx); err != nil {
			return nil, "", err
		}
	} else if err := s.requireWebhooks(ctx, accountID); err != nil {
		return nil, "", err
	}
	return s.Store.FindWebhooks(ctx, accountID, page.Normalize())
}

func (s *Service) requireWebhooks(ctx context.Context, accountID string) error {
	by, err := s.accessTo(ctx, s.Store, accountID)
	if err != nil {
		return err
	}
	return by.require(PermWebhooksManage) // R-HOOK-1
}

// FindWebhook returns an endpoint of the account.
func (s *Service) FindWebhook(ctx context.Context, accountID, id string) (*Webhook, error) {
	if err := s.requireWebhooks(ctx, accountID); err != nil {
		return nil, err
	}
	return s.Store.FindWebhookByID(ctx, accountID, id)
}

// UpdateWebhook edits an endpoint, or enables or disables it.
func (s *Service) UpdateWebhook(ctx context.Context, accountID, id string, in WebhookUpdate) (*Webhook, int64, error) {
	var out *Webhook
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(accountID, PermWebhooksManage) // R-HOOK-1
		if err != nil {
			return err
		}
		w, err := t.FindWebhookByID(t.ctx, accountID, id)
		if err != nil {
			return err
		}
		// R-HOOK-2: the events recorded so far go by the settings so far.
		if w.Status == WebhookActive && (in.EventTypes != nil || in.Status != nil) {
			if _, err := queueWebhookEvents(t.ctx, t, w, t.now, true); err != nil {
				return err
			}
		}
		changed := map[string]any{}
		if in.URL != nil && *in.URL != w.URL {
			if err := s.checkWebhookURL(ctx, *in.URL); err != nil {
				return err
			}
			w.URL, changed["url"] = *in.URL, *in.URL
		}
		if in.EventTypes != nil {
			if err := checkEventTypes(*in.EventTypes); err != nil {
				return err
			}
			if strings.Join(*in.EventTypes, "\x00") != strings.Join(w.EventTypes, "\x00") {
				w.EventTypes, changed["event_types"] = *in.EventTypes, *in.EventTypes
			}
		}
		if in.Status != nil && *in.Status != w.Status {
			if *in.Status != WebhookActive && *in.Status != WebhookDisabled {
				return Invalid("invalid_webhook", "The webhook is not valid.", FieldError{"status", "must be active or disabled"})
			}
			w.Status, changed["status"] = *in.Status, *in.Status
			w.DisabledReason = ""
			if w.Status == WebhookDisabled {
				w.DisabledReason = "disabled by an administrator"
			}
		}
		out = w
		if len(changed) == 0 {
			return errUnchanged
		}
		w.UpdatedAt = t.now
		if err := t.UpdateWebhook(t.ctx, w); err != nil {
			return err
		}
		t.queued.Webhooks = true
		if _, ok := changed["status"]; ok && w.Status == WebhookActive {
			// Enabled again: the endpoint gets what it was queued before it
			// was disabled, and then the events from now on, not those of
			// the time it was disabled (R-HOOK-2).
			if err := t.SkipWebhookEvents(t.ctx, accountID, w.ID); err != nil {
				return err
			}
		}
		t.record(accountID, by, "webhook.updated", "webhook", w.ID, changed)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}

// DeleteWebhook deletes an endpoint and its deliveries.
func (s *Service) DeleteWebhook(ctx context.Context, accountID, id string) (int64, error) {
	return s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(accountID, PermWebhooksManage) // R-HOOK-1
		if err != nil {
			return err
		}
		w, err := t.FindWebhookByID(t.ctx, accountID, id)
		if err != nil {
			return err
		}
		if err := t.DeleteWebhook(t.ctx, accountID, w.ID); err != nil {
			return err
		}
		t.record(accountID, by, "webhook.deleted", "webhook", w.ID, map[string]any{"url": w.URL})
		return nil
	})
}

// FindDeliveries pages through an endpoint's deliveries, newest first
// (R-HOOK-2). The events recorded since the worker's last pass are queued
// first, so that the list shows every change made so far.
func (s *Service) FindDeliveries(ctx context.Context, accountID, webhookID string, page Page) ([]*WebhookDelivery, string, error) {
	w, err := s.FindWebhook(ctx, accountID, webhookID)
	if err != nil {
		return nil, "", err
	}
	if w.Status == WebhookActive {
		// One indexed read says whether anything waits; only then a write.
		if next, err := s.Store.EventsAfter(ctx, accountID, w.AfterSeq, 1); err != nil {
			return nil, "", err
		} else if len(next) > 0 {
			if _, _, err := s.queueEndpoint(ctx, w, true); err != nil {
				return nil, "", err
			}
		}
	}
	return s.Store.FindDeliveries(ctx, webhookID, page.Normalize())
}

// ResendDelivery queues a delivery again, after every delivery of its
// endpoint queued so far, under the same webhook-id (R-HOOK-2).
func (s *Service) ResendDelivery(ctx context.Context, accountID, webhookID, deliveryID string) (*WebhookDelivery, int64, error) {
	var resent *WebhookDelivery
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(accountID, PermWebhooksManage) // R-HOOK-1
		if err != nil {
			return err
		}
		if _, err := t.FindWebhookByID(t.ctx, accountID, webhookID); err != nil {
			return err
		}
		d, err := t.FindDeliveryByID(t.ctx, webhookID, deliveryID)
		if err != nil {
			return err
		}
		resent = &WebhookDelivery{ID: NewID(PrefixDelivery, t.now), WebhookID: d.WebhookID, AccountID: d.AccountID,
			MessageID: d.MessageID, EventType: d.EventType, Status: DeliveryPending,
			CreatedAt: t.now, NextAttemptAt: t.now}
		// The delivery is queued by enqueueWebhooks, behind this event.
		t.record(accountID, by, "webhook.delivery_resent", "webhook", webhookID, map[string]string{"delivery_id": d.ID, "resent_as": resent.ID})
		t.resend = resent
		t.queued.Webhooks = true
		t.answer(resent)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return resent, rev, nil
}

// DisableWebhook disables an endpoint whose deliveries failed for
// WebhookRetryFor and mails the account's super admins, in one
// transaction (R-HOOK-2). The delivery worker calls it as the system.
func (s *Service) DisableWebhook(ctx context.Context, accountID, id, reason string) error {
	_, err := s.write(ctx, func(t *txn) error {
		if err := t.LockAccount(t.ctx, accountID); err != nil {
			return err
		}
		w, err := t.FindWebhookByID(t.ctx, accountID, id)
		if err != nil {
			return err
		}
		if w.Status == WebhookDisabled {
			return errUnchanged
		}
		// The events recorded while it was active stay queued (R-HOOK-2).
		if _, err := queueWebhookEvents(t.ctx, t, w, t.now, true); err != nil {
			return err
		}
		w.Status, w.DisabledReason, w.UpdatedAt = WebhookDisabled, reason, t.now
		if err := t.UpdateWebhook(t.ctx, w); err != nil {
			return err
		}
		t.record(accountID, nil, "webhook.disabled", "webhook", w.ID, map[string]string{"url": w.URL, "reason": reason})
		acc, err := t.FindAccountByID(t.ctx, accountID)
		if err != nil {
			return err
		}
		admins, _, err := t.FindMemberships(t.ctx, MembershipFilter{AccountID: accountID, Role: RoleSuperAdmin, Page: Page{Limit: MaxPageLimit}})
		if err != nil {
			return err
		}
		text := fmt.Sprintf("Deliveries to the webhook endpoint %s of %s failed for %s, so the endpoint is disabled.\n\n"+
			"Last failure: %s\n\nUndelivered events are kept. Enable the endpoint again (PATCH its status to active) once it answers;\n"+
			"its deliveries then resume in order.\n", w.URL, acc.Name, WebhookRetryFor, reason)
		for _, m := range admins {
			if m.Status != StatusActive {
				continue
			}
			u, err := t.FindUserByID(t.ctx, m.UserID)
			if err != nil || u.Status != UserActive {
				continue
			}
			if err := t.mail(&Message{To: u.Email, Subject: "Webhook endpoint disabled in " + acc.Name, Text: text, AccountID: accountID, Kind: "webhook.disabled"}); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// WebhookSecret opens an endpoint's signing secret, for the delivery worker.
func (s *Service) WebhookSecret(w *Webhook) (string, error) {
	if s.Secrets == nil {
		return "", Errorf(EUNAVAILABLE, "webhook_secret_key_missing", "Webhooks need the server's secret key (--secret-key).")
	}
	return s.Secrets.Open(w.ID, w.SecretCipher)
}

// WebhookPayload returns the body of the Standard Webhooks message that
// delivers e: {"type": action, "timestamp": time, "data": event}.
func WebhookPayload(e *Event) ([]byte, error) {
	return json.Marshal(webhookPayload{Type: e.Action, Timestamp: e.Time, Data: e})
}

// webhookPayload is the body of a Standard Webhooks message.
type webhookPayload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      *Event    `json:"data"`
}

// enqueueWebhooks queues, in the write's transaction, a delivery resent
// by ResendDelivery, numbered with its event's sequence number so that it
// goes after every delivery of its endpoint queued so far. The deliveries of
// the write's own events need nothing here: the events are the messages
// (webhook-id is the event's id, the body is built from it), recorded in
// the write's transaction, and the sender turns them into deliveries by
// following the audit log (QueueWebhookEvents). So none is lost if the
// change commits and none exists if it does not, and a write pays nothing
// for the endpoints of its account (R-HOOK-2).
func (t *txn) enqueueWebhooks() error {
	if t.resend == nil {
		return nil
	}
	for _, e := range t.events {
		if e.Action == "webhook.delivery_resent" && e.TargetID == t.resend.WebhookID {
			t.resend.Seq = e.Seq
			return t.EnqueueDeliveries(t.ctx, []*WebhookDelivery{t.resend})
		}
	}
	return nil
}

// webhookEventsPerTx bounds the events one transaction of
// QueueWebhookEvents turns into deliveries.
const webhookEventsPerTx = 500

// QueueWebhookEvents turns the events recorded since each active endpoint's
// cursor into deliveries of the events it wants, in sequence order, and
// moves its cursor past them, each endpoint in a transaction that holds its
// account (R-HOOK-2). The delivery worker calls it before each pass; it
// returns how many deliveries it queued.
func (s *Service) QueueWebhookEvents(ctx context.Context) (int, error) {
	total := 0
	for {
		behind, err := s.Store.WebhooksBehind(ctx, 100)
		if err != nil || len(behind) == 0 {
			return total, err
		}
		progressed := false
		for _, w := range behind {
			n, moved, err := s.queueEndpoint(ctx, w, false)
			if err != nil {
				return total, err
			}
			total += n
			progressed = progressed || moved
		}
		if !progressed {
			return total, nil
		}
	}
}

// queueEndpoint queues the events after w's cursor for w, if it is still
// active, in a transaction that holds its account (so that the worker, a
// listing and a change of the endpoint queue each event once). It reports
// how many deliveries it queued and whether the cursor moved.
func (s *Service) queueEndpoint(ctx context.Context, w *Webhook, all bool) (n int, moved bool, err error) {
	err = s.Store.InTx(ctx, func(tx Store) error {
		if err := tx.LockAccount(ctx, w.AccountID); err != nil {
			return err
		}
		cur, err := tx.FindWebhookByID(ctx, w.AccountID, w.ID)
		if err != nil || cur.Status != WebhookActive {
			return ignoreNotFound(err)
		}
		before := cur.AfterSeq
		n, err = queueWebhookEvents(ctx, tx, cur, s.now(), all)
		moved = cur.AfterSeq != before
		return err
	})
	return n, moved, err
}

func ignoreNotFound(err error) error {
	if ErrorKind(err) == ENOTFOUND {
		return nil
	}
	return err
}

// queueWebhookEvents queues deliveries to w of the events of its account
// after w.AfterSeq, up to webhookEventsPerTx of them or, with all, every one,
// and advances w.AfterSeq past them. It runs in a transaction that holds
// the account.
func queueWebhookEvents(ctx context.Context, tx Store, w *Webhook, now time.Time, all bool) (int, error) {
	queued := 0
	for {
		events, err := tx.EventsAfter(ctx, w.AccountID, w.AfterSeq, webhookEventsPerTx)
		if err != nil || len(events) == 0 {
			return queued, err
		}
		var ds []*WebhookDelivery
		for _, e := range events {
			if !w.Matches(e.Action) {
				continue
			}
			// The payload is built from the audit event when it is read:
			// the delivery keeps no copy of it.
			ds = append(ds, &WebhookDelivery{ID: NewID(PrefixDelivery, now), WebhookID: w.ID, AccountID: e.AccountID,
				MessageID: e.ID, EventType: e.Action, Seq: e.Seq, Status: DeliveryPending,
				CreatedAt: now, NextAttemptAt: now})
		}
		if len(ds) > 0 {
			if err := tx.EnqueueDeliveries(ctx, ds); err != nil {
				return queued, err
			}
		}
		w.AfterSeq = events[len(events)-1].Seq
		if err := tx.AdvanceWebhook(ctx, w.AccountID, w.ID, w.AfterSeq); err != nil {
			return queued, err
		}
		queued += len(ds)
		if !all || len(events) < webhookEventsPerTx {
			return queued, nil
		}
	}
}

// CreateAnyWebhook registers an endpoint of in.AccountID for the operator,
// who registers endpoints for every account (R-HOOK-1).
func (s *Service) CreateAnyWebhook(ctx context.Context, in WebhookInput) (*NewWebhook, int64, error) {
	if err := s.requireOperator(ctx); err != nil {
		return nil, 0, err
	}
	if in.AccountID == "" {
		return nil, 0, Invalid("invalid_webhook", "The webhook is not valid.", FieldError{"account_id", "name the account"})
	}
	return s.CreateWebhook(ctx, in.AccountID, in)
}

// FindAllWebhooks pages through the endpoints of every account, or of
// accountID when it is given; operator only.
func (s *Service) FindAllWebhooks(ctx context.Context, accountID string, page Page) ([]*Webhook, string, error) {
	if err := s.requireOperator(ctx); err != nil {
		return nil, "", err
	}
	return s.FindWebhooks(ctx, accountID, page)
}
