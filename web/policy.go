package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/steward-iam/steward"
)

// The account's policy over outsiders (SPEC §6 guardrails, R-GUARD-1..4).

func (s *Server) policyRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /accounts/{account}/policy", s.inAccount(s.policyPage))
	mux.HandleFunc("POST /accounts/{account}/policy", s.inAccount(s.updatePolicy))
}

// policyForm is the policy as the form shows it.
type policyForm struct {
	AllowedPartners string
	MaxPartnerDays  string
	MaxExternalDays string
	NeverDelegable  map[string]bool
}

type policyData struct {
	Form   policyForm
	Groups []permissionGroup
	// Preview is set after Preview: what saving would change.
	Preview []changeView
	// Relationships are the partner relationships whose end saving would
	// move earlier (R-GUARD-4, R-LIFE-1): their partner's members lose
	// access sooner, though no membership is written.
	Relationships []relationshipView
	Previewed     bool
}

// relationshipView is a partner relationship whose end a preview moves,
// with the partner's name.
type relationshipView struct {
	steward.RelationshipChange
	Partner string // the partner's name, or its id when it cannot be read
}

// relationshipViews names the partners of a preview's relationships.
func (s *Server) relationshipViews(ss *session, accountID string, rels []steward.RelationshipChange) []relationshipView {
	if len(rels) == 0 {
		return nil
	}
	names := map[string]string{}
	for page := (steward.Page{Limit: steward.MaxPageLimit}); ; {
		ps, next, err := s.svc.FindPartners(ss.ctx, accountID, page)
		if err != nil {
			break
		}
		for _, p := range ps {
			names[p.PartnerID] = p.PartnerName
		}
		if next == "" {
			break
		}
		page.After = next
	}
	out := make([]relationshipView, 0, len(rels))
	for _, r := range rels {
		v := relationshipView{RelationshipChange: r, Partner: names[r.PartnerID]}
		if v.Partner == "" {
			v.Partner = r.PartnerID
		}
		out = append(out, v)
	}
	return out
}

func formOfPolicy(p *steward.AccountPolicy) policyForm {
	f := policyForm{AllowedPartners: strings.Join(p.AllowedPartners, "\n"), NeverDelegable: map[string]bool{}}
	if p.MaxPartnerDays != nil {
		f.MaxPartnerDays = strconv.Itoa(*p.MaxPartnerDays)
	}
	if p.MaxExternalDays != nil {
		f.MaxExternalDays = strconv.Itoa(*p.MaxExternalDays)
	}
	for _, k := range p.NeverDelegable {
		f.NeverDelegable[k] = true
	}
	return f
}

func (s *Server) policyPage(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	p, err := s.svc.FindPolicy(ss.ctx, st.Account.ID)
	if err != nil {
		s.hidden(w, r, ss, err)
		return
	}
	s.showPolicy(w, r, ss, http.StatusOK, policyData{Form: formOfPolicy(p)})
}

func (s *Server) showPolicy(w http.ResponseWriter, r *http.Request, ss *session, status int, d policyData) {
	d.Groups = s.permissionGroups()
	ss.page.Title = "Policy"
	ss.page.Data = d
	s.show(w, r, status, "policy", ss.page)
}

// postedPolicy reads the form: the whole policy, every field given (an
// empty one clears it).
func postedPolicy(r *http.Request) (steward.PolicyUpdate, policyForm, *steward.Error) {
	r.ParseForm()
	f := policyForm{AllowedPartners: r.PostFormValue("allowed_partners"), MaxPartnerDays: strings.TrimSpace(r.PostFormValue("max_partner_days")),
		MaxExternalDays: strings.TrimSpace(r.PostFormValue("max_external_days")), NeverDelegable: map[string]bool{}}
	for _, k := range r.PostForm["never_delegable"] {
		f.NeverDelegable[k] = true
	}
	upd := steward.PolicyUpdate{
		AllowedPartners: steward.Optional[[]string]{Set: true, Value: splitList(f.AllowedPartners)},
		NeverDelegable:  steward.Optional[[]string]{Set: true, Value: append([]string{}, r.PostForm["never_delegable"]...)},
	}
	upd.AllowedPartners.Null = len(upd.AllowedPartners.Value) == 0
	var bad []steward.FieldError
	days := func(field, v string) steward.Optional[int] {
		if v == "" {
			return steward.Optional[int]{Set: true, Null: true}
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			bad = append(bad, steward.FieldError{Field: field, Message: "must be a whole number of days, or empty"})
		}
		return steward.Optional[int]{Set: true, Value: n}
	}
	upd.MaxPartnerDays = days("max_partner_days", f.MaxPartnerDays)
	upd.MaxExternalDays = days("max_external_days", f.MaxExternalDays)
	if len(bad) > 0 {
		return upd, f, steward.Invalid("invalid_policy", "The policy is not valid.", bad...)
	}
	return upd, f, nil
}

// updatePolicy previews (the Preview button) or saves the policy. A preview
// runs the change's own code in dry-run mode and shows, before saving, what
// each affected membership would lose (R-PREVIEW-1).
func (s *Server) updatePolicy(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	upd, f, ferr := postedPolicy(r)
	d := policyData{Form: f}
	fail := func(err error) {
		if steward.ErrorKind(err) == steward.ENOTFOUND {
			s.hidden(w, r, ss, err)
			return
		}
		ss.page.Error = s.toFormError(r, err)
		if steward.ErrorCode(err) == "last_super_admin" {
			// The refusal is about the maximum durations: name them.
			const why = "would give the account's last super admin an end date"
			if !upd.MaxPartnerDays.Null {
				ss.page.Error.Fields["max_partner_days"] = why
			}
			if !upd.MaxExternalDays.Null {
				ss.page.Error.Fields["max_external_days"] = why
			}
		}
		s.showPolicy(w, r, ss, statusOf(err), d)
	}
	if ferr != nil {
		fail(ferr)
		return
	}
	if r.PostFormValue("action") == "preview" {
		p, err := dryRunPreview(ss.ctx, func(ctx context.Context) error {
			_, _, err := s.svc.UpdatePolicy(ctx, st.Account.ID, upd)
			return err
		})
		if err != nil {
			fail(err)
			return
		}
		d.Preview, d.Previewed = s.changeViews(ss, p.Changes), true
		d.Relationships = s.relationshipViews(ss, st.Account.ID, p.Relationships)
		s.showPolicy(w, r, ss, http.StatusOK, d)
		return
	}
	ch, _, err := s.svc.UpdatePolicy(ss.ctx, st.Account.ID, upd)
	if err != nil {
		fail(err)
		return
	}
	s.redirect(w, r, accountPath(st, "/policy"), s.policySummary(ss, st, ch))
}

// policySummary says what a saved change did, from its answer (the same
// list its audit event records, R-GUARD-4).
func (s *Server) policySummary(ss *session, st *steward.Standing, ch *steward.PolicyChange) string {
	if ch == nil {
		return "The policy is unchanged."
	}
	if len(ch.Affected) == 0 && len(ch.Invitations) == 0 {
		return "The policy was saved. No membership or invitation was affected."
	}
	names := s.names(ss, st.Account.ID)
	var parts []string
	for _, a := range ch.Affected {
		who := names.Of(a.UserID)
		switch {
		case len(a.Lost) > 0:
			parts = append(parts, fmt.Sprintf("%s lost %s", who, strings.Join(a.Lost, ", ")))
		case a.EndsAt != nil:
			parts = append(parts, fmt.Sprintf("%s now ends %s", who, formatDate(a.EndsAt)))
		}
	}
	msg := fmt.Sprintf("The policy was saved. It affected %d memberships", len(ch.Affected))
	if len(parts) > 0 {
		msg += ": " + strings.Join(parts, "; ")
	}
	if n := len(ch.Invitations); n > 0 {
		msg += fmt.Sprintf("; %d pending invitations now end within the maximum", n)
	}
	if n := len(ch.Relationships); n > 0 {
		msg += fmt.Sprintf("; %d partner relationships now end within the maximum", n)
	}
	return msg + "."
}
