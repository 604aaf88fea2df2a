package web

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/steward-iam/steward"
)

func (s *Server) clientSideRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /accounts/{account}/partners", s.inAccount(s.partnersPage))
	mux.HandleFunc("GET /accounts/{account}/partners/{partner}/end", s.inAccount(s.confirmEndRelationship))
	mux.HandleFunc("POST /accounts/{account}/partners/{partner}/end", s.inAccount(s.endRelationship))
	mux.HandleFunc("POST /accounts/{account}/partners/{partner}/duration", s.inAccount(s.updateRelationship))
	mux.HandleFunc("GET /accounts/{account}/activity", s.inAccount(s.activityPage))
	mux.HandleFunc("GET /accounts/{account}/activity/export", s.inAccount(s.exportActivity))
	mux.HandleFunc("GET /accounts/{account}/activity/verify", s.inAccount(s.verifyActivity))
}

type partnersData struct {
	Partners []*steward.Partner
	Pager    pager
}

// partnersPage lists the account's partner relationships (R-PARTNER-11).
// The partner's alias for this account is the partner's alone and is not
// shown here (R-PARTNER-7).
func (s *Server) partnersPage(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	page := pageFrom(r)
	ps, next, err := s.svc.FindPartners(ss.ctx, st.Account.ID, page)
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	ss.page.Title = "Partners"
	ss.page.Data = partnersData{Partners: ps, Pager: pager{Base: accountPath(st, "/partners"), After: page.After, Next: next}}
	s.show(w, r, http.StatusOK, "partners", ss.page)
}

func (s *Server) findPartner(ss *session, st *steward.Standing, partnerID string) (*steward.Partner, error) {
	page := steward.Page{Limit: steward.MaxPageLimit}
	for {
		ps, next, err := s.svc.FindPartners(ss.ctx, st.Account.ID, page)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			if p.PartnerID == partnerID {
				return p, nil
			}
		}
		if next == "" {
			return nil, steward.NotFound("partner", partnerID)
		}
		page.After = next
	}
}

func (s *Server) confirmEndRelationship(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	p, err := s.findPartner(ss, st, r.PathValue("partner"))
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	ss.page.Title = "End the relationship with " + p.PartnerName + "?"
	ss.page.Data = confirmData{
		Message: "Every partner admin and employee of " + p.PartnerName + " loses access to " + st.Account.Name + " at once, and the relationship ends. To work together again, the partner needs a new access link approved.",
		Action:  accountPath(st, "/partners/"+url.PathEscape(p.PartnerID)+"/end"), Button: "End relationship", Back: accountPath(st, "/partners"),
	}
	s.show(w, r, http.StatusOK, "confirm", ss.page)
}

func (s *Server) endRelationship(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	if _, _, err := s.svc.EndRelationship(ss.ctx, st.Account.ID, r.PathValue("partner")); err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	s.redirect(w, r, accountPath(st, "/partners"), "The relationship has ended.")
}

// updateRelationship sets or clears a relationship's end date and
// auto_extend (R-LIFE-1): an empty date clears the end.
func (s *Server) updateRelationship(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	ends, ferr := parseEndDate("ends_at", r.PostFormValue("ends_at"))
	if ferr != nil {
		s.errorPage(w, r, ss.page, ferr)
		return
	}
	auto := r.PostFormValue("auto_extend") == "on"
	upd := steward.RelationshipUpdate{AutoExtend: &auto, EndsAt: steward.Optional[time.Time]{Set: true, Null: ends == nil}}
	if ends != nil {
		upd.EndsAt.Value = *ends
	}
	if _, _, err := s.svc.UpdatePartner(ss.ctx, st.Account.ID, r.PathValue("partner"), upd); err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	s.redirect(w, r, accountPath(st, "/partners"), "The relationship's end date was saved.")
}

// activityFilter reads the activity log's filters from the query.
type activityFilter struct {
	Actor, Partner, Action, Since, Until string
}

func (f activityFilter) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"actor": f.Actor, "partner": f.Partner, "action": f.Action, "since": f.Since, "until": f.Until} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

func readActivityFilter(r *http.Request) (activityFilter, steward.AuditFilter, *steward.Error) {
	q := r.URL.Query()
	f := activityFilter{Actor: strings.TrimSpace(q.Get("actor")), Partner: strings.TrimSpace(q.Get("partner")),
		Action: strings.TrimSpace(q.Get("action")), Since: q.Get("since"), Until: q.Get("until")}
	af := steward.AuditFilter{ActorUserID: f.Actor, ActorPartnerID: f.Partner, Action: f.Action, After: q.Get("after"), Limit: pageSize}
	if f.Since != "" {
		d, err := time.Parse("2006-01-02", f.Since)
		if err != nil {
			return f, af, steward.Invalid("invalid_filter", "A filter is not valid.", steward.FieldError{Field: "since", Message: "must be a date such as 2026-01-31"})
		}
		af.Since = &d
	}
	if f.Until != "" {
		d, err := time.Parse("2006-01-02", f.Until)
		if err != nil {
			return f, af, steward.Invalid("invalid_filter", "A filter is not valid.", steward.FieldError{Field: "until", Message: "must be a date such as 2026-01-31"})
		}
		end := d.AddDate(0, 0, 1)
		af.Until = &end
	}
	return f, af, nil
}

type activityData struct {
	Filter   activityFilter
	Events   []*steward.Event
	Members  []*steward.MemberView
	Partners []*steward.Partner
	Pager    pager
	Export   string // the query of the export links
	Verify   *steward.VerifyResult
}

// Details renders an event's details as compact text.
func (activityData) Details(e *steward.Event) string {
	var m map[string]any
	if json.Unmarshal(e.Details, &m) != nil || len(m) == 0 {
		return ""
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// activityPage is the account's audit log with filters by actor, partner,
// action and time (R-AUDIT-3).
func (s *Server) activityPage(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	s.showActivity(w, r, ss, st, nil)
}

func (s *Server) showActivity(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing, verify *steward.VerifyResult) {
	f, af, ferr := readActivityFilter(r)
	d := activityData{Filter: f, Verify: verify}
	status := http.StatusOK
	if ferr != nil {
		ss.page.Error, status = s.toFormError(r, ferr), statusOf(ferr)
	} else {
		af.AccountID = st.Account.ID
		evs, next, err := s.svc.FindEvents(ss.ctx, af)
		if err != nil {
			s.errorPage(w, r, ss.page, err)
			return
		}
		base := accountPath(st, "/activity")
		if q := f.query().Encode(); q != "" {
			base += "?" + q
		}
		d.Events, d.Pager, d.Export = evs, pager{Base: base, After: af.After, Next: next}, f.query().Encode()
	}
	// The filter choices: the account's members, and its partners for whoever may see them.
	if ms, _, err := s.svc.FindMemberViews(ss.ctx, steward.MembershipFilter{AccountID: st.Account.ID, Page: steward.Page{Limit: steward.MaxPageLimit}}); err == nil {
		d.Members = ms
	}
	if ps, _, err := s.svc.FindPartners(ss.ctx, st.Account.ID, steward.Page{Limit: steward.MaxPageLimit}); err == nil {
		d.Partners = ps
	}
	ss.page.Title = "Activity log"
	ss.page.Data = d
	s.show(w, r, status, "activity", ss.page)
}

// exportActivity streams the filtered log as NDJSON or CSV.
func (s *Server) exportActivity(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	_, af, ferr := readActivityFilter(r)
	if ferr != nil {
		s.errorPage(w, r, ss.page, ferr)
		return
	}
	af.AccountID, af.After, af.Limit = st.Account.ID, "", steward.MaxPageLimit
	probe := af
	probe.Limit = 1
	if _, _, err := s.svc.FindEvents(ss.ctx, probe); err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	var write func(*steward.Event) error
	if r.URL.Query().Get("format") == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="activity.csv"`)
		cw := csv.NewWriter(w)
		defer cw.Flush()
		cw.Write(steward.EventCSVHeader)
		write = func(e *steward.Event) error { return cw.Write(steward.EventCSVRecord(e)) }
	} else {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Content-Disposition", `attachment; filename="activity.ndjson"`)
		enc := json.NewEncoder(w)
		write = func(e *steward.Event) error { return enc.Encode(e) }
	}
	steward.ExportEvents(ss.ctx, s.svc.FindEvents, af, write)
}

// verifyActivity checks the log's hash chain (R-AUDIT-2) and shows the result.
func (s *Server) verifyActivity(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	res, err := s.svc.VerifyAudit(ss.ctx, st.Account.ID)
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	s.showActivity(w, r, ss, st, &res)
}
