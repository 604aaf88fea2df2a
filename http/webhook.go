package http

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/steward-iam/steward"
)

// WebhookPath names one webhook endpoint of an account.
type WebhookPath struct {
	Account string `path:"account" doc:"Account id (acc_…)."`
	Webhook string `path:"webhook" doc:"Webhook id (whk_…)."`
}

// webhookBody is the body of POST …/webhooks under an account.
type webhookBody struct {
	URL        string   `json:"url" doc:"An https URL whose host resolves to public addresses only (R-HOOK-3)."`
	EventTypes []string `json:"event_types" doc:"Audit actions to deliver (e.g. member.role_changed), or \"*\" for every action."`
}

func (s *Server) webhookRoutes() {
	const base = "/v1/accounts/{account}/webhooks"
	huma.Register(s.api, op(http.MethodPost, base, "create-webhook", "webhooks",
		"Register a webhook endpoint of the account (account.webhooks.manage, R-HOOK-1); the answer carries its secret, once", http.StatusCreated),
		write(func(ctx context.Context, in *struct {
			AccountPath
			Body webhookBody
		}) (*steward.NewWebhook, int64, error) {
			return s.svc.CreateWebhook(ctx, in.Account, steward.WebhookInput{URL: in.Body.URL, EventTypes: in.Body.EventTypes})
		}))
	huma.Register(s.api, op(http.MethodGet, base, "list-webhooks", "webhooks", "List the account's webhook endpoints, without secrets", http.StatusOK),
		list(func(ctx context.Context, in *struct {
			AccountPath
			PageQuery
		}) ([]*steward.Webhook, string, error) {
			page, err := in.page()
			if err != nil {
				return nil, "", err
			}
			return s.svc.FindWebhooks(ctx, in.Account, page)
		}))
	huma.Register(s.api, op(http.MethodGet, base+"/{webhook}", "get-webhook", "webhooks", "Get a webhook endpoint", http.StatusOK),
		read(func(ctx context.Context, in *WebhookPath) (*steward.Webhook, error) {
			return s.svc.FindWebhook(ctx, in.Account, in.Webhook)
		}))
	huma.Register(s.api, op(http.MethodPatch, base+"/{webhook}", "update-webhook", "webhooks",
		"Change a webhook endpoint's URL or event types, or enable or disable it", http.StatusOK),
		write(func(ctx context.Context, in *struct {
			WebhookPath
			Body steward.WebhookUpdate
		}) (*steward.Webhook, int64, error) {
			return s.svc.UpdateWebhook(ctx, in.Account, in.Webhook, in.Body)
		}))
	huma.Register(s.api, op(http.MethodDelete, base+"/{webhook}", "delete-webhook", "webhooks", "Delete a webhook endpoint and its deliveries", http.StatusNoContent),
		remove(func(ctx context.Context, in *WebhookPath) (int64, error) {
			return s.svc.DeleteWebhook(ctx, in.Account, in.Webhook)
		}))
	huma.Register(s.api, op(http.MethodGet, base+"/{webhook}/deliveries", "list-webhook-deliveries", "webhooks",
		"List an endpoint's deliveries, newest first (R-HOOK-2)", http.StatusOK),
		list(func(ctx context.Context, in *struct {
			WebhookPath
			PageQuery
		}) ([]*steward.WebhookDelivery, string, error) {
			page, err := in.page()
			if err != nil {
				return nil, "", err
			}
			return s.svc.FindDeliveries(ctx, in.Account, in.Webhook, page)
		}))
	huma.Register(s.api, op(http.MethodPost, base+"/{webhook}/deliveries/{delivery}/resend", "resend-webhook-delivery", "webhooks",
		"Queue a delivery again, behind the endpoint's queued deliveries, under the same webhook-id", http.StatusAccepted),
		write(func(ctx context.Context, in *struct {
			WebhookPath
			Delivery string `path:"delivery" doc:"Delivery id (dlv_…)."`
		}) (*steward.WebhookDelivery, int64, error) {
			return s.svc.ResendDelivery(ctx, in.Account, in.Webhook, in.Delivery)
		}))

	huma.Register(s.api, op(http.MethodPost, "/v1/webhooks", "create-any-webhook", "webhooks",
		"Register a webhook endpoint of any account (operator); the answer carries its secret, once", http.StatusCreated),
		write(func(ctx context.Context, in *struct {
			Body steward.WebhookInput
		}) (*steward.NewWebhook, int64, error) {
			return s.svc.CreateAnyWebhook(ctx, in.Body)
		}))
	huma.Register(s.api, op(http.MethodGet, "/v1/webhooks", "list-all-webhooks", "webhooks", "List the webhook endpoints of every account (operator); GET /v1/accounts/{account}/webhooks lists one account's", http.StatusOK),
		list(func(ctx context.Context, in *struct{ PageQuery }) ([]*steward.Webhook, string, error) {
			page, err := in.page()
			if err != nil {
				return nil, "", err
			}
			return s.svc.FindAllWebhooks(ctx, "", page)
		}))
}
