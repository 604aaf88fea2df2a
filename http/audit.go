package http

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/steward-iam/steward"
)

// AuditQuery holds the filters of the audit log and its exports (R-AUDIT-3).
type AuditQuery struct {
	Actor  string `query:"actor" doc:"Only events by this user id."`
	Action string `query:"action" doc:"Only events of this action, e.g. member.role_changed."`
	Since  string `query:"since" doc:"Only events at or after this RFC 3339 time."`
	Until  string `query:"until" doc:"Only events before this RFC 3339 time."`
}

func (q AuditQuery) filter() (steward.AuditFilter, error) {
	since, err := parseTime("since", q.Since)
	if err != nil {
		return steward.AuditFilter{}, err
	}
	until, err := parseTime("until", q.Until)
	return steward.AuditFilter{ActorUserID: q.Actor, Action: q.Action, Since: since, Until: until}, err
}

// ExportQuery chooses an export's format.
type ExportQuery struct {
	Format string `query:"format" enum:"ndjson,csv" default:"ndjson" doc:"ndjson: one JSON event a line; csv: a header, then one event a row."`
}

func (s *Server) auditRoutes() {
	const account = "/v1/accounts/{account}/audit"
	huma.Register(s.api, op(http.MethodGet, account, "list-audit-events", "audit",
		"Page through the account's audit log, newest first: every event in it, partners' included (R-AUDIT-3)", http.StatusOK),
		list(func(ctx context.Context, in *struct {
			AccountPath
			PageQuery
			AuditQuery
			Partner string `query:"partner" doc:"Only events by employees of this partner account."`
		}) ([]*steward.Event, string, error) {
			f, err := in.filter()
			if err != nil {
				return nil, "", err
			}
			page, err := in.page()
			if err != nil {
				return nil, "", err
			}
			f.AccountID, f.ActorPartnerID, f.After, f.Limit = in.Account, in.Partner, page.After, page.Limit
			return s.svc.FindEvents(ctx, f)
		}))
	huma.Register(s.api, op(http.MethodGet, account+"/export", "export-audit-events", "audit",
		"Export the account's audit log, newest first, as NDJSON or CSV, with the list's filters (R-AUDIT-3)", http.StatusOK),
		func(ctx context.Context, in *struct {
			AccountPath
			AuditQuery
			ExportQuery
			Partner string `query:"partner" doc:"Only events by employees of this partner account."`
		}) (*huma.StreamResponse, error) {
			f, err := in.filter()
			f.AccountID, f.ActorPartnerID = in.Account, in.Partner
			return export(ctx, err, s.svc.FindEvents, f, in.Format)
		})
	huma.Register(s.api, op(http.MethodGet, account+"/verify", "verify-audit", "audit", "Verify the account's hash chain (R-AUDIT-2)", http.StatusOK),
		read(func(ctx context.Context, in *AccountPath) (steward.VerifyResult, error) {
			return s.svc.VerifyAudit(ctx, in.Account)
		}))

	const partner = "/v1/partners/{partner}/audit"
	huma.Register(s.api, op(http.MethodGet, partner, "list-partner-audit-events", "audit",
		"Page through what the partner's employees did in its clients, newest first (R-AUDIT-3)", http.StatusOK),
		list(func(ctx context.Context, in *struct {
			PartnerPath
			PageQuery
			AuditQuery
			Account string `query:"account" doc:"Only events in this client account."`
		}) ([]*steward.Event, string, error) {
			f, err := in.filter()
			if err != nil {
				return nil, "", err
			}
			page, err := in.page()
			if err != nil {
				return nil, "", err
			}
			f.AccountID, f.After, f.Limit = in.Account, page.After, page.Limit
			return s.svc.FindPartnerEvents(ctx, in.Partner, f)
		}))
	huma.Register(s.api, op(http.MethodGet, partner+"/export", "export-partner-audit-events", "audit",
		"Export what the partner's employees did in its clients, newest first, as NDJSON or CSV (R-AUDIT-3)", http.StatusOK),
		func(ctx context.Context, in *struct {
			PartnerPath
			AuditQuery
			ExportQuery
			Account string `query:"account" doc:"Only events in this client account."`
		}) (*huma.StreamResponse, error) {
			f, err := in.filter()
			f.AccountID = in.Account
			find := func(ctx context.Context, f steward.AuditFilter) ([]*steward.Event, string, error) {
				return s.svc.FindPartnerEvents(ctx, in.Partner, f)
			}
			return export(ctx, err, find, f, in.Format)
		})
}

// export streams every event find selects. The first page is read before
// the answer starts, so that a refusal is still a problem document; an
// error after that ends the stream early, and is logged.
func export(ctx context.Context, err error, find func(context.Context, steward.AuditFilter) ([]*steward.Event, string, error),
	f steward.AuditFilter, format string) (*huma.StreamResponse, error) {
	if err != nil {
		return nil, problemOf(err)
	}
	probe := f
	probe.Limit = 1
	if _, _, err := find(ctx, probe); err != nil {
		return nil, problemOf(err)
	}
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		w := hctx.BodyWriter()
		var write func(*steward.Event) error
		if format == "csv" {
			hctx.SetHeader("Content-Type", "text/csv; charset=utf-8")
			hctx.SetHeader("Content-Disposition", `attachment; filename="audit.csv"`)
			cw := csv.NewWriter(w)
			defer cw.Flush()
			cw.Write(steward.EventCSVHeader)
			write = func(e *steward.Event) error { return cw.Write(steward.EventCSVRecord(e)) }
		} else {
			hctx.SetHeader("Content-Type", "application/x-ndjson")
			enc := json.NewEncoder(w)
			write = func(e *steward.Event) error { return enc.Encode(e) }
		}
		steward.ExportEvents(hctx.Context(), find, f, write)
	}}, nil
}
