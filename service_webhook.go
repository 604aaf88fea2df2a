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

// FindDeliveries pages through an endpoint's deliveries, newest first (R-HOOK-2).
func (s *Service) FindDeliveries(ctx context.Context, accountID, webhookID string, page Page) ([]*WebhookDelivery, string, error) {
	if _, err := s.FindWebhook(ctx, accountID, webhookID); err != nil {
		return nil, "", err
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

// enqueueWebhooks writes, in the write's transaction, a delivery of every
// recorded event to every active endpoint of its account that wants its
// type (R-HOOK-2): none is lost if the change commits, none exists if it
// does not. It runs after the events are appended, so that each delivery
// carries its event's sequence number, which orders the endpoint's deliveries.
func (t *txn) enqueueWebhooks() error {
	hooks := map[string][]*Webhook{}
	var ds []*WebhookDelivery
	for _, e := range t.events {
		if t.resend != nil && e.Action == "webhook.delivery_resent" && e.TargetID == t.resend.WebhookID {
			t.resend.Seq = e.Seq
			ds = append(ds, t.resend)
		}
		ws, ok := hooks[e.AccountID]
		if !ok {
			var err error
			if ws, err = t.FindActiveWebhooks(t.ctx, e.AccountID); err != nil {
				return err
			}
			hooks[e.AccountID] = ws
		}
		for _, w := range ws {
			if !w.Matches(e.Action) {
				continue
			}
			// The payload is built from the audit event when it is read:
			// the delivery keeps no copy of it.
			ds = append(ds, &WebhookDelivery{ID: NewID(PrefixDelivery, t.now), WebhookID: w.ID, AccountID: e.AccountID,
				MessageID: e.ID, EventType: e.Action, Seq: e.Seq, Status: DeliveryPending,
				CreatedAt: t.now, NextAttemptAt: t.now})
		}
	}
	if len(ds) == 0 {
		return nil
	}
	return t.EnqueueDeliveries(t.ctx, ds)
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
