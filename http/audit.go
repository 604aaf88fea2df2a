package http

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/steward-iam/steward"
)

func (s *Server) auditRoutes() {
	huma.Register(s.api, op(http.MethodGet, "/v1/accounts/{account}/audit", "list-audit-events", "audit", "Page through the account's audit log, oldest first (R-AUDIT-3)", http.StatusOK),
		list(func(ctx context.Context, in *struct {
			AccountPath
			PageQuery
			Actor   string `query:"actor" doc:"Only events by this user id."`
			Partner string `query:"partner" doc:"Only events by employees of this partner account."`
			Action  string `query:"action" doc:"Only events of this action, e.g. member.role_changed."`
			Since   string `query:"since" doc:"Only events at or after this RFC 3339 time."`
			Until   string `query:"until" doc:"Only events before this RFC 3339 time."`
		}) ([]*steward.Event, string, error) {
			page, err := in.page()
			if err != nil {
				return nil, "", err
			}
			since, err := parseTime("since", in.Since)
			if err != nil {
				return nil, "", err
			}
			until, err := parseTime("until", in.Until)
			if err != nil {
				return nil, "", err
			}
			return s.svc.FindEvents(ctx, steward.AuditFilter{
				AccountID: in.Account, ActorUserID: in.Actor, ActorPartnerID: in.Partner, Action: in.Action,
				Since: since, Until: until, After: page.After, Limit: page.Limit,
			})
		}))
	huma.Register(s.api, op(http.MethodGet, "/v1/accounts/{account}/audit/verify", "verify-audit", "audit", "Verify the account's hash chain (R-AUDIT-2)", http.StatusOK),
		read(func(ctx context.Context, in *AccountPath) (steward.VerifyResult, error) {
			return s.svc.VerifyAudit(ctx, in.Account)
		}))
}
