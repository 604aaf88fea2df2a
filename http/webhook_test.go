package http_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/steward-iam/steward"
	stewardhttp "github.com/steward-iam/steward/http"
)

// TestWebhookRoutes covers the webhook routes over HTTP: the secret in the
// first answer only (R-HOOK-1; SPEC §4 "Secrets are shown once"), refused
// URLs as 422 (R-HOOK-3), deliveries listed and resent (R-HOOK-2).
func TestWebhookRoutes(t *testing.T) {
	eachStore(t, func(t *testing.T, e *Env) {
		box, err := steward.NewSecretBox(make([]byte, 32))
		if err != nil {
			t.Fatal(err)
		}
		e.Svc.Secrets = box
		e.Svc.WebhookGuard = &steward.WebhookGuard{AllowHosts: []string{"hooks.test"}}
		acc, owner := e.Account(t, steward.AccountStandard)
		token := e.Token(t, owner)
		base := "/v1/accounts/" + acc + "/webhooks"
		body := map[string]any{"url": "https://hooks.test/in", "event_types": []string{"role.created"}}

		t.Run("R-HOOK-1_SecretShownOnce", func(t *testing.T) {
			var first, replay map[string]any
			e.MustOK(t, http.StatusCreated, "POST", base, token, body, &first, "Idempotency-Key", "hook-1")
			if s, _ := first["secret"].(string); !strings.HasPrefix(s, "whsec_") {
				t.Fatalf("first answer = %v, want a whsec_ secret", first)
			}
			res := e.MustOK(t, http.StatusCreated, "POST", base, token, body, &replay, "Idempotency-Key", "hook-1")
			if _, ok := replay["secret"]; ok || replay["secret_withheld"] != true || replay["id"] != first["id"] {
				t.Fatalf("replay = %s, want the same endpoint without its secret", res.Body)
			}
			var get map[string]any
			e.MustOK(t, http.StatusOK, "GET", base+"/"+first["id"].(string), token, nil, &get)
			if _, ok := get["secret"]; ok {
				t.Fatalf("GET shows the secret: %v", get)
			}
			var all stewardhttp.List[steward.Webhook]
			e.MustOK(t, http.StatusOK, "GET", "/v1/webhooks", operatorToken, nil, &all)
			if len(all.Items) != 1 {
				t.Fatalf("operator list = %d items", len(all.Items))
			}
			MustProblem(t, e.Do(t, "GET", "/v1/webhooks", token, nil), http.StatusForbidden, "operator_only", "")
			var byOp steward.NewWebhook
			e.MustOK(t, http.StatusCreated, "POST", "/v1/webhooks", operatorToken,
				map[string]any{"account_id": acc, "url": "https://hooks.test/op", "event_types": []string{"*"}}, &byOp)
			if byOp.AccountID != acc || byOp.Secret == "" {
				t.Fatalf("operator's webhook = %+v", byOp)
			}
		})
		t.Run("R-HOOK-3_RefusedURL", func(t *testing.T) {
			for _, u := range []string{"http://hooks.test/in", "https://127.0.0.1/in", "https://169.254.169.254/"} {
				MustProblem(t, e.Do(t, "POST", base, token, map[string]any{"url": u, "event_types": []string{"*"}}), http.StatusUnprocessableEntity, "invalid_webhook_url", "url")
			}
		})
		t.Run("R-HOOK-2_DeliveriesListedAndResent", func(t *testing.T) {
			var hooks stewardhttp.List[steward.Webhook]
			e.MustOK(t, http.StatusOK, "GET", base, token, nil, &hooks)
			var hookID string
			for _, h := range hooks.Items {
				if h.URL == "https://hooks.test/in" {
					hookID = h.ID
				}
			}
			e.MustOK(t, http.StatusCreated, "POST", "/v1/accounts/"+acc+"/roles", token, map[string]any{"name": "Hooked", "permissions": []string{}}, nil)
			var ds stewardhttp.List[json.RawMessage]
			e.MustOK(t, http.StatusOK, "GET", base+"/"+hookID+"/deliveries", token, nil, &ds)
			if len(ds.Items) != 1 {
				t.Fatalf("deliveries = %s", ds.Items)
			}
			var d steward.WebhookDelivery
			if err := json.Unmarshal(ds.Items[0], &d); err != nil || d.EventType != "role.created" {
				t.Fatalf("delivery = %s (%v)", ds.Items[0], err)
			}
			var resent steward.WebhookDelivery
			e.MustOK(t, http.StatusAccepted, "POST", base+"/"+hookID+"/deliveries/"+d.ID+"/resend", token, nil, &resent)
			if resent.MessageID != d.MessageID || resent.ID == d.ID {
				t.Fatalf("resent = %+v, want a new delivery of message %s", resent, d.MessageID)
			}
			e.MustOK(t, http.StatusNoContent, "DELETE", base+"/"+hookID, token, nil, nil)
			MustProblem(t, e.Do(t, "GET", base+"/"+hookID, token, nil), http.StatusNotFound, "webhook_not_found", "")
		})
	})
}
