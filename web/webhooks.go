package web

import (
	"net/http"
	"strings"

	"github.com/steward-iam/steward"
)

// Webhooks (SPEC §6, R-HOOK-1..3): an account's endpoints, the secret shown
// once, deliveries listed and resent.

func (s *Server) webhookRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /accounts/{account}/webhooks", s.inAccount(s.webhooksPage))
	mux.HandleFunc("POST /accounts/{account}/webhooks", s.inAccount(s.createWebhook))
	mux.HandleFunc("GET /accounts/{account}/webhooks/{webhook}", s.inAccount(s.webhookPage))
	mux.HandleFunc("POST /accounts/{account}/webhooks/{webhook}", s.inAccount(s.updateWebhook))
	mux.HandleFunc("GET /accounts/{account}/webhooks/{webhook}/status", s.inAccount(s.confirmWebhookStatus))
	mux.HandleFunc("POST /accounts/{account}/webhooks/{webhook}/status", s.inAccount(s.setWebhookStatus))
	mux.HandleFunc("GET /accounts/{account}/webhooks/{webhook}/delete", s.inAccount(s.confirmDeleteWebhook))
	mux.HandleFunc("POST /accounts/{account}/webhooks/{webhook}/delete", s.inAccount(s.deleteWebhook))
	mux.HandleFunc("POST /accounts/{account}/webhooks/{webhook}/deliveries/{delivery}/resend", s.inAccount(s.resendDelivery))
}

type webhooksData struct {
	Webhooks []*steward.Webhook
	Pager    pager
	Form     struct{ URL, EventTypes string }
}

func (s *Server) webhooksPage(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	s.showWebhooks(w, r, ss, st, http.StatusOK, "", "")
}

func (s *Server) showWebhooks(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing, status int, u, types string) {
	page := pageFrom(r)
	hs, next, err := s.svc.FindWebhooks(ss.ctx, st.Account.ID, page)
	if err != nil {
		s.hidden(w, r, ss, err)
		return
	}
	d := webhooksData{Webhooks: hs, Pager: pager{Base: accountPath(st, "/webhooks"), After: page.After, Next: next}}
	d.Form.URL, d.Form.EventTypes = u, types
	ss.page.Title = "Webhooks"
	ss.page.Data = d
	s.show(w, r, status, "webhooks", ss.page)
}

// eventTypes reads the event types typed in a field, as a list.
func eventTypes(v string) []string { return splitList(v) }

// createWebhook registers an endpoint and shows its secret on the result
// page, once: it is never shown again (R-HOOK-1).
func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	u, types := strings.TrimSpace(r.PostFormValue("url")), r.PostFormValue("event_types")
	hook, _, err := s.svc.CreateWebhook(ss.ctx, st.Account.ID, steward.WebhookInput{URL: u, EventTypes: eventTypes(types)})
	if err != nil {
		if k := steward.ErrorKind(err); k == steward.ENOTFOUND || k == steward.EFORBIDDEN {
			s.hidden(w, r, ss, err)
			return
		}
		ss.page.Error = s.toFormError(r, err)
		s.showWebhooks(w, r, ss, st, statusOf(err), u, types)
		return
	}
	ss.page.Title = "Webhook added"
	ss.page.Data = hook
	s.show(w, r, http.StatusCreated, "webhookcreated", ss.page)
}

type webhookData struct {
	Webhook    *steward.Webhook
	Deliveries []*steward.WebhookDelivery
	Pager      pager
	Form       struct{ URL, EventTypes string }
}

func (s *Server) webhookPage(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	s.showWebhook(w, r, ss, st, http.StatusOK, nil)
}

func (s *Server) showWebhook(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing, status int, form *struct{ URL, EventTypes string }) {
	id := r.PathValue("webhook")
	hook, err := s.svc.FindWebhook(ss.ctx, st.Account.ID, id)
	if err != nil {
		s.hidden(w, r, ss, err)
		return
	}
	page := pageFrom(r)
	ds, next, err := s.svc.FindDeliveries(ss.ctx, st.Account.ID, id, page)
	if err != nil {
		s.hidden(w, r, ss, err)
		return
	}
	d := webhookData{Webhook: hook, Deliveries: ds, Pager: pager{Base: pathTo(st, "webhooks", id), After: page.After, Next: next}}
	d.Form.URL, d.Form.EventTypes = hook.URL, strings.Join(hook.EventTypes, ", ")
	if form != nil {
		d.Form = *form
	}
	ss.page.Title = "Webhook " + hook.URL
	ss.page.Data = d
	s.show(w, r, status, "webhook", ss.page)
}

// webhookAction runs a change of one endpoint and comes back to its page,
// or shows the refusal there.
func (s *Server) webhookAction(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing, done string, form *struct{ URL, EventTypes string }, fn func(id string) error) {
	id := r.PathValue("webhook")
	if err := fn(id); err != nil {
		if k := steward.ErrorKind(err); k == steward.ENOTFOUND || k == steward.EFORBIDDEN {
			s.hidden(w, r, ss, err)
			return
		}
		ss.page.Error = s.toFormError(r, err)
		s.showWebhook(w, r, ss, st, statusOf(err), form)
		return
	}
	s.redirect(w, r, pathTo(st, "webhooks", id), done)
}

func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	form := &struct{ URL, EventTypes string }{strings.TrimSpace(r.PostFormValue("url")), r.PostFormValue("event_types")}
	s.webhookAction(w, r, ss, st, "The webhook was saved.", form, func(id string) error {
		types := eventTypes(form.EventTypes)
		_, _, err := s.svc.UpdateWebhook(ss.ctx, st.Account.ID, id, steward.WebhookUpdate{URL: &form.URL, EventTypes: &types})
		return err
	})
}

// confirmWebhookStatus asks before disabling (or enabling) an endpoint.
func (s *Server) confirmWebhookStatus(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	hook, err := s.svc.FindWebhook(ss.ctx, st.Account.ID, r.PathValue("webhook"))
	if err != nil {
		s.hidden(w, r, ss, err)
		return
	}
	base := pathTo(st, "webhooks", hook.ID)
	d := confirmData{Action: base + "/status", Back: base}
	if hook.Status == steward.WebhookActive {
		ss.page.Title = "Disable the webhook?"
		d.Message = hook.URL + " receives nothing while disabled; events are kept and delivered in order once it is enabled again."
		d.Button = "Disable webhook"
	} else {
		ss.page.Title = "Enable the webhook?"
		d.Message = hook.URL + " receives the kept events in order, then every new one."
		d.Button = "Enable webhook"
	}
	ss.page.Data = d
	s.show(w, r, http.StatusOK, "confirm", ss.page)
}

func (s *Server) setWebhookStatus(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	hook, err := s.svc.FindWebhook(ss.ctx, st.Account.ID, r.PathValue("webhook"))
	if err != nil {
		s.hidden(w, r, ss, err)
		return
	}
	status, verb := steward.WebhookDisabled, "disabled"
	if hook.Status == steward.WebhookDisabled {
		status, verb = steward.WebhookActive, "enabled"
	}
	s.webhookAction(w, r, ss, st, "The webhook was "+verb+".", nil, func(id string) error {
		_, _, err := s.svc.UpdateWebhook(ss.ctx, st.Account.ID, id, steward.WebhookUpdate{Status: &status})
		return err
	})
}

func (s *Server) confirmDeleteWebhook(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	hook, err := s.svc.FindWebhook(ss.ctx, st.Account.ID, r.PathValue("webhook"))
	if err != nil {
		s.hidden(w, r, ss, err)
		return
	}
	base := pathTo(st, "webhooks", hook.ID)
	ss.page.Title = "Delete the webhook?"
	ss.page.Data = confirmData{Message: hook.URL + " and its deliveries are deleted; undelivered events are not sent. The audit log keeps the record.",
		Action: base + "/delete", Button: "Delete webhook", Back: base}
	s.show(w, r, http.StatusOK, "confirm", ss.page)
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	if _, err := s.svc.DeleteWebhook(ss.ctx, st.Account.ID, r.PathValue("webhook")); err != nil {
		s.hidden(w, r, ss, err)
		return
	}
	s.redirect(w, r, accountPath(st, "/webhooks"), "The webhook was deleted.")
}

func (s *Server) resendDelivery(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	s.webhookAction(w, r, ss, st, "The delivery was queued again, after the endpoint's earlier deliveries.", nil, func(id string) error {
		_, _, err := s.svc.ResendDelivery(ss.ctx, st.Account.ID, id, r.PathValue("delivery"))
		return err
	})
}
