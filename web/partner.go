package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/steward-iam/steward"
)

// The partner side: HubSpot's Client Access Manager over one partner
// account. Clients tab, Employees tab, access links and the removal wizard.
// As everywhere in the console, the Service decides who may do what.

func (s *Server) partnerRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /accounts/{account}/clients", s.inAccount(s.clientsPage))
	mux.HandleFunc("POST /accounts/{account}/access-links", s.inAccount(s.createAccessLink))
	mux.HandleFunc("GET /accounts/{account}/clients/{client}", s.inAccount(s.clientPage))
	mux.HandleFunc("POST /accounts/{account}/clients/{client}/alias", s.inAccount(s.updateAlias))
	mux.HandleFunc("POST /accounts/{account}/clients/{client}/employees", s.inAccount(s.addEmployees))
	mux.HandleFunc("POST /accounts/{account}/clients/{client}/convert", s.inAccount(s.convertToPartnerAdmin))
	mux.HandleFunc("GET /accounts/{account}/employees", s.inAccount(s.employeesPage))
	mux.HandleFunc("GET /accounts/{account}/employees/{user}/link", s.inAccount(s.linkEmployeePage))
	mux.HandleFunc("POST /accounts/{account}/employees/{user}/link", s.inAccount(s.linkEmployee))
	mux.HandleFunc("GET /accounts/{account}/removals", s.inAccount(s.removalWizard))
	mux.HandleFunc("POST /accounts/{account}/removals/review", s.inAccount(s.reviewRemoval))
	mux.HandleFunc("POST /accounts/{account}/removals", s.inAccount(s.removeEmployees))
}

// allClients reads every client of the partner (for choices in forms).
func (s *Server) allClients(ss *session, partnerID string) ([]*steward.Client, error) {
	var out []*steward.Client
	f := steward.ClientFilter{PartnerID: partnerID, Page: steward.Page{Limit: steward.MaxPageLimit}}
	for {
		cs, next, err := s.svc.FindClients(ss.ctx, f)
		if err != nil {
			return nil, err
		}
		out = append(out, cs...)
		if next == "" {
			return out, nil
		}
		f.After = next
	}
}

// choiceLimit bounds the choices a page offers in a select: a partner with
// more clients or employees than this gets a search or another tab instead,
// so that a page's cost does not grow with the partner.
const choiceLimit = 50

// fewClients returns the partner's clients if there are at most
// choiceLimit of them; many says there are more.
func (s *Server) fewClients(ss *session, partnerID string) (cs []*steward.Client, many bool) {
	cs, next, err := s.svc.FindClients(ss.ctx, steward.ClientFilter{PartnerID: partnerID, Page: steward.Page{Limit: choiceLimit}})
	if err != nil || next != "" {
		return nil, next != ""
	}
	return cs, false
}

// fewEmployees returns the partner's employees if there are at most
// choiceLimit of them, else nil.
func (s *Server) fewEmployees(ss *session, partnerID string) []*steward.Employee {
	es, next, err := s.svc.FindEmployees(ss.ctx, partnerID, steward.Page{Limit: choiceLimit})
	if err != nil || next != "" {
		return nil
	}
	return es
}

// allEmployees reads every employee of the partner.
func (s *Server) allEmployees(ss *session, partnerID string) ([]*steward.Employee, error) {
	var out []*steward.Employee
	page := steward.Page{Limit: steward.MaxPageLimit}
	for {
		es, next, err := s.svc.FindEmployees(ss.ctx, partnerID, page)
		if err != nil {
			return nil, err
		}
		out = append(out, es...)
		if next == "" {
			return out, nil
		}
		page.After = next
	}
}

type clientsData struct {
	Clients []*steward.Client
	Access  string
	Search  string
	Pager   pager
	// Employees are whom a link may be asked for; empty when the user may
	// ask only for itself, or when there are too many to choose from here
	// (ManyEmployees: the Employees tab has a link button on each row).
	Employees     []*steward.Employee
	ManyEmployees bool
}

// clientsPage is the Clients tab: alias and real name, status, access type
// filter, search, cursor pages (R-PARTNER-7).
func (s *Server) clientsPage(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	q := r.URL.Query()
	f := steward.ClientFilter{PartnerID: st.Account.ID, AccessType: q.Get("access"), Search: strings.TrimSpace(q.Get("q")), Page: pageFrom(r)}
	cs, next, err := s.svc.FindClients(ss.ctx, f)
	if err != nil && steward.ErrorKind(err) != steward.EINVALID {
		s.errorPage(w, r, ss.page, err)
		return
	}
	status := http.StatusOK
	if err != nil {
		ss.page.Error, status = s.toFormError(r, err), statusOf(err)
	}
	fq := url.Values{}
	if f.AccessType != "" {
		fq.Set("access", f.AccessType)
	}
	if f.Search != "" {
		fq.Set("q", f.Search)
	}
	base := accountPath(st, "/clients")
	if len(fq) > 0 {
		base += "?" + fq.Encode()
	}
	d := clientsData{Clients: cs, Access: f.AccessType, Search: f.Search, Pager: pager{Base: base, After: f.After, Next: next}}
	if steward.Contains(st.Permissions, steward.PermPartnerEmployeesManage) {
		d.Employees = s.fewEmployees(ss, st.Account.ID)
		d.ManyEmployees = d.Employees == nil
	}
	ss.page.Title = "Clients"
	ss.page.Data = d
	s.show(w, r, status, "clients", ss.page)
}

type linkData struct {
	Link *steward.NewAccessLink
	For  string
}

// createAccessLink gets a personal access link (R-PARTNER-2) and shows it
// once, with a Copy button.
func (s *Server) createAccessLink(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	userID := r.PostFormValue("user_id")
	link, _, err := s.svc.CreateAccessLink(ss.ctx, st.Account.ID, userID)
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	who := "you"
	if link.UserID != ss.page.User.ID {
		if es, err := s.allEmployees(ss, st.Account.ID); err == nil {
			for _, e := range es {
				if e.ID == link.UserID {
					who = e.Name + " (" + e.Email + ")"
				}
			}
		}
	}
	ss.page.Title = "Access link"
	ss.page.Data = linkData{Link: link, For: who}
	s.show(w, r, http.StatusOK, "accesslinkcreated", ss.page)
}

type clientData struct {
	Client    *steward.Client
	Employees []*steward.Employee
	Roles     []*steward.Role
	Members   []*steward.MemberView // P's employees who are members of the client
	RolesErr  string
}

func (s *Server) findClient(ss *session, partnerID, clientID string) (*steward.Client, error) {
	cs, err := s.allClients(ss, partnerID)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if c.ClientID == clientID {
			return c, nil
		}
	}
	return nil, steward.NotFound("client", clientID)
}

// clientPage is a client's details with its actions: alias, add employees,
// change to partner admin, remove partner employees.
func (s *Server) clientPage(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	s.showClient(w, r, ss, st, http.StatusOK)
}

func (s *Server) showClient(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing, status int) {
	c, err := s.findClient(ss, st.Account.ID, r.PathValue("client"))
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	d := clientData{Client: c}
	d.Employees, _ = s.allEmployees(ss, st.Account.ID)
	// The client's roles and members, as the user sees them there: a
	// partner admin of P in C can read them, others cannot.
	if roles, err := s.roleOptions(ss, c.ClientID); err == nil {
		d.Roles = roles
	} else {
		d.RolesErr = steward.ErrorMessage(err)
	}
	if ms, _, err := s.svc.FindMemberViews(ss.ctx, steward.MembershipFilter{AccountID: c.ClientID, Page: steward.Page{Limit: steward.MaxPageLimit}}); err == nil {
		for _, m := range ms {
			if slices.ContainsFunc(d.Employees, func(e *steward.Employee) bool { return e.ID == m.UserID }) {
				d.Members = append(d.Members, m)
			}
		}
	}
	ss.page.Title = clientTitle(c)
	ss.page.Data = d
	s.show(w, r, status, "client", ss.page)
}

func clientTitle(c *steward.Client) string {
	if c.Alias != "" && c.Alias != c.ClientName {
		return c.Alias + " (" + c.ClientName + ")"
	}
	return c.ClientName
}

// clientAction runs a change on one client and comes back to its page.
func (s *Server) clientAction(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing, done string, fn func(clientID string) error) {
	clientID := r.PathValue("client")
	if err := fn(clientID); err != nil {
		if steward.ErrorKind(err) == steward.ENOTFOUND {
			s.errorPage(w, r, ss.page, err)
			return
		}
		ss.page.Error = s.toFormError(r, err)
		s.showClient(w, r, ss, st, statusOf(err))
		return
	}
	s.redirect(w, r, accountPath(st, "/clients/"+url.PathEscape(clientID)), done)
}

func (s *Server) updateAlias(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	s.clientAction(w, r, ss, st, "The alias was saved.", func(clientID string) error {
		_, _, err := s.svc.UpdateClientAlias(ss.ctx, st.Account.ID, clientID, r.PostFormValue("alias"))
		return err
	})
}

func (s *Server) addEmployees(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	r.ParseForm()
	s.clientAction(w, r, ss, st, "The employees were added.", func(clientID string) error {
		_, _, err := s.svc.AddEmployees(ss.ctx, st.Account.ID, clientID, r.PostForm["user_ids"], r.PostFormValue("role"))
		return err
	})
}

func (s *Server) convertToPartnerAdmin(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	s.clientAction(w, r, ss, st, "Changed to partner admin.", func(clientID string) error {
		_, _, err := s.svc.ConvertToPartnerAdmin(ss.ctx, st.Account.ID, clientID, r.PostFormValue("user_id"), r.PostFormValue("retain_billing") == "on")
		return err
	})
}

type employeesData struct {
	Employees []*steward.Employee
	// Clients are the choices of each row's Link to client; nil when there
	// are too many, and each row links to a page that searches them.
	Clients     []*steward.Client
	ManyClients bool
	Pager       pager
}

// employeesPage is the Employees tab: verified-domain mark and client count
// (R-PARTNER-6), with the actions on each employee.
func (s *Server) employeesPage(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	s.showEmployees(w, r, ss, st, http.StatusOK)
}

func (s *Server) showEmployees(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing, status int) {
	page := pageFrom(r)
	es, next, err := s.svc.FindEmployees(ss.ctx, st.Account.ID, page)
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	d := employeesData{Employees: es, Pager: pager{Base: accountPath(st, "/employees"), After: page.After, Next: next}}
	d.Clients, d.ManyClients = s.fewClients(ss, st.Account.ID)
	ss.page.Title = "Employees"
	ss.page.Data = d
	s.show(w, r, status, "employees", ss.page)
}

type linkClientData struct {
	Employee *steward.User
	Clients  []*steward.Client
	Search   string
	Pager    pager
}

// linkEmployeePage chooses the client to link an employee to, by search,
// a page of clients at a time, for partners with many clients (R-PARTNER-6).
func (s *Server) linkEmployeePage(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	s.showLinkEmployee(w, r, ss, st, http.StatusOK)
}

func (s *Server) showLinkEmployee(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing, status int) {
	userID := r.PathValue("user")
	e, err := s.findEmployee(ss, st.Account.ID, userID)
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	search := strings.TrimSpace(r.URL.Query().Get("q"))
	f := steward.ClientFilter{PartnerID: st.Account.ID, Search: search, Page: pageFrom(r)}
	cs, next, err := s.svc.FindClients(ss.ctx, f)
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	base := accountPath(st, "/employees/"+url.PathEscape(userID)+"/link")
	if search != "" {
		base += "?" + url.Values{"q": {search}}.Encode()
	}
	ss.page.Title = "Link " + e.Name + " to a client"
	ss.page.Data = linkClientData{Employee: e, Clients: cs, Search: search, Pager: pager{Base: base, After: f.After, Next: next}}
	s.show(w, r, status, "linkclient", ss.page)
}

// findEmployee returns a user of the partner account, as the acting user
// may read it; another account's user is answered like an unknown one.
func (s *Server) findEmployee(ss *session, partnerID, userID string) (*steward.User, error) {
	u, err := s.svc.FindUser(ss.ctx, userID)
	if err != nil {
		return nil, err
	}
	if u.HomeAccountID != partnerID {
		return nil, steward.NotFound("user", userID)
	}
	return u, nil
}

// linkEmployee credits P with an employee's existing membership in a client (R-PARTNER-6).
func (s *Server) linkEmployee(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	if _, _, err := s.svc.LinkEmployee(ss.ctx, st.Account.ID, r.PathValue("user"), r.PostFormValue("account_id")); err != nil {
		ss.page.Error = s.toFormError(r, err)
		if r.PostFormValue("from") == "search" {
			s.showLinkEmployee(w, r, ss, st, statusOf(err))
			return
		}
		s.showEmployees(w, r, ss, st, statusOf(err))
		return
	}
	s.redirect(w, r, accountPath(st, "/employees"), "The employee is linked to the client.")
}

// removalData is the removal wizard: choose clients, see every asset and
// choose new owners, review, remove (R-PARTNER-8).
type removalData struct {
	Step      int
	Employees []*steward.Employee // the selected ones
	Clients   []*steward.Client   // step 1: the choices
	Preview   *steward.RemovalPreview
	Selection steward.EmployeeSelection
	// Owners names the new owner per client, for the review.
	Owners map[string]string
}

func selectedEmployees(all []*steward.Employee, ids []string) []*steward.Employee {
	var out []*steward.Employee
	for _, e := range all {
		if slices.Contains(ids, e.ID) {
			out = append(out, e)
		}
	}
	return out
}

func (s *Server) removalWizard(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	q := r.URL.Query()
	sel := steward.EmployeeSelection{UserIDs: q["user_ids"], AccountIDs: q["account_ids"]}
	all, err := s.allEmployees(ss, st.Account.ID)
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	d := removalData{Step: 1, Employees: selectedEmployees(all, sel.UserIDs), Selection: sel}
	ss.page.Title = "Remove from clients"
	status := http.StatusOK
	switch {
	case len(sel.UserIDs) == 0:
		ss.page.Error = &formError{Message: "Choose at least one employee on the Employees tab first.", Fields: map[string]string{"user_ids": "is required"}}
		status = http.StatusUnprocessableEntity
	case len(sel.AccountIDs) == 0:
		if d.Clients, err = s.allClients(ss, st.Account.ID); err != nil {
			s.errorPage(w, r, ss.page, err)
			return
		}
		if q.Has("step") {
			ss.page.Error = &formError{Message: "Choose at least one client.", Fields: map[string]string{"account_ids": "is required"}}
			status = http.StatusUnprocessableEntity
		}
	default:
		d.Step = 2
		if d.Preview, err = s.svc.PreviewRemoval(ss.ctx, st.Account.ID, sel); err != nil {
			if steward.ErrorKind(err) == steward.ENOTFOUND || steward.ErrorKind(err) == steward.EFORBIDDEN {
				s.errorPage(w, r, ss.page, err)
				return
			}
			ss.page.Error, status, d.Step = s.toFormError(r, err), statusOf(err), 1
			d.Clients, _ = s.allClients(ss, st.Account.ID)
		}
	}
	ss.page.Data = d
	s.show(w, r, status, "removal", ss.page)
}

func postedSelection(r *http.Request) steward.EmployeeSelection {
	r.ParseForm()
	sel := steward.EmployeeSelection{UserIDs: r.PostForm["user_ids"], AccountIDs: r.PostForm["account_ids"], ReassignTo: map[string]string{}}
	for _, c := range sel.AccountIDs {
		if to := r.PostFormValue("reassign_" + c); to != "" {
			sel.ReassignTo[c] = to
		}
	}
	return sel
}

// reviewRemoval is the wizard's last look before anything is removed.
func (s *Server) reviewRemoval(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	sel := postedSelection(r)
	preview, err := s.svc.PreviewRemoval(ss.ctx, st.Account.ID, sel)
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	all, _ := s.allEmployees(ss, st.Account.ID)
	d := removalData{Step: 3, Employees: selectedEmployees(all, sel.UserIDs), Preview: preview, Selection: sel, Owners: map[string]string{}}
	for _, c := range preview.Clients {
		d.Owners[c.AccountID] = "nobody: the assets keep their owner"
		for _, cand := range c.Candidates {
			if cand.UserID == sel.ReassignTo[c.AccountID] {
				d.Owners[c.AccountID] = cand.Name + " (" + cand.Email + ")"
			}
		}
	}
	ss.page.Title = "Review the removal"
	ss.page.Data = d
	s.show(w, r, http.StatusOK, "removal", ss.page)
}

func (s *Server) removeEmployees(w http.ResponseWriter, r *http.Request, ss *session, st *steward.Standing) {
	sel := postedSelection(r)
	res, _, err := s.svc.RemoveEmployees(ss.ctx, st.Account.ID, sel)
	if err != nil {
		s.errorPage(w, r, ss.page, err)
		return
	}
	s.redirect(w, r, accountPath(st, "/employees"), removalSummary(res))
}

func removalSummary(res *steward.RemovalResult) string {
	msg := "Removed " + itoa(res.Removed) + " memberships"
	if res.Reassigned > 0 {
		msg += " and reassigned " + itoa(res.Reassigned) + " assets"
	}
	return msg + "."
}

func itoa(n int) string { return strconv.Itoa(n) }
