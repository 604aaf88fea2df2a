package steward

import (
	"context"
	"fmt"
	"sort"
)

// EmployeeSelection names partner employees and client accounts; a removal
// may also reassign, per client, the removed employees' assets to another
// member of that client (R-PARTNER-8).
type EmployeeSelection struct {
	UserIDs    []string          `json:"user_ids"`
	AccountIDs []string          `json:"account_ids"`
	ReassignTo map[string]string `json:"reassign_to,omitempty"`
}

// RemovalPreview shows, per client, what a removal would take away.
type RemovalPreview struct {
	Clients []*ClientRemoval `json:"clients"`
}

// ClientRemoval is one client of a removal preview.
type ClientRemoval struct {
	AccountID  string             `json:"account_id"`
	ClientName string             `json:"client_name"`
	Alias      string             `json:"alias"`
	Employees  []*EmployeeRemoval `json:"employees"`
	// Candidates are the partner's own employees who stay active members
	// of the client, that the assets may be reassigned to (at most 100).
	// The client's directory is not the partner's to list: another member
	// of the client may still be named in reassign_to.
	Candidates []Candidate `json:"candidates"`
}

// EmployeeRemoval is one employee's membership in a client and every asset
// it owns there.
type EmployeeRemoval struct {
	UserID       string           `json:"user_id"`
	Email        string           `json:"email"`
	Name         string           `json:"name"`
	MembershipID string           `json:"membership_id"`
	Role         string           `json:"role"`
	Status       MembershipStatus `json:"status"`
	Assets       []*Asset         `json:"assets"`
	membership   *Membership
}

// Candidate is a member a removed employee's assets may go to.
type Candidate struct {
	UserID string `json:"user_id"`
	Name   string `json:"name"`
	Email  string `json:"email"`
}

// RemovalResult tells what a removal did.
type RemovalResult struct {
	Removed    int `json:"removed"`
	Reassigned int `json:"assets_reassigned"`
}

// StatusResult tells what a deactivation or reactivation changed.
type StatusResult struct {
	Changed   int `json:"changed"`
	Unchanged int `json:"unchanged"`
}

// employeesManager resolves the actor in P for removing or deactivating
// employees: a super admin of P or a holder of partner.employees.manage (R-PARTNER-8).
func (s *Service) employeesManager(ctx context.Context, st Store, partnerID string) (*access, error) {
	by, _, err := s.partnerAccess(ctx, st, partnerID)
	if err != nil {
		return nil, err
	}
	return by, by.require(PermPartnerEmployeesManage)
}

// planRemoval validates a selection and gathers, per client, the employees'
// memberships of P and their assets. Every client must have a relationship
// with P, and every employee a membership of P in every client.
func (s *Service) planRemoval(ctx context.Context, st Store, partnerID string, sel EmployeeSelection, candidates bool) ([]*ClientRemoval, error) {
	// No user_ids: every employee of P in the clients ("remove all partner
	// employees", also when all of them are deactivated).
	all := len(sel.UserIDs) == 0
	if !all {
		if _, err := selectionIDs("user_ids", sel.UserIDs); err != nil {
			return nil, err
		}
	}
	if _, err := selectionIDs("account_ids", sel.AccountIDs); err != nil {
		return nil, err
	}
	var users []*User
	for i, id := range sel.UserIDs {
		u, err := st.FindUserByID(ctx, id)
		if (err == nil && u.HomeAccountID != partnerID) || ErrorKind(err) == ENOTFOUND {
			return nil, Invalid("invalid_employees", "Some users are not employees of this partner; nothing was changed.",
				FieldError{fmt.Sprintf("user_ids[%d]", i), quote(id) + " is not an employee of this partner"})
		} else if err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	var out []*ClientRemoval
	var bad []FieldError
	for _, clientID := range sel.AccountIDs {
		r, err := liveRelationship(ctx, st, partnerID, clientID, s.now()) // R-PARTNER-11: none once ended
		if err != nil {
			return nil, err
		}
		client, err := st.FindAccountByID(ctx, clientID)
		if err != nil {
			return nil, err
		}
		cr := &ClientRemoval{AccountID: clientID, ClientName: client.Name, Alias: r.Alias, Employees: []*EmployeeRemoval{}, Candidates: []Candidate{}}
		targets := users
		if all {
			if targets, err = partnerEmployeesIn(ctx, st, partnerID, clientID); err != nil {
				return nil, err
			}
		}
		removed := map[string]bool{}
		for _, u := range targets {
			removed[u.ID] = true
		}
		for i, u := range targets {
			m, err := st.FindMembership(ctx, clientID, u.ID)
			if ErrorKind(err) == ENOTFOUND || (err == nil && !isPartnerMembership(m, partnerID)) {
				bad = append(bad, FieldError{fmt.Sprintf("user_ids[%d]", i), fmt.Sprintf("%s is not a member of client %s for this partner", quote(u.ID), quote(clientID))})
				continue
			} else if err != nil {
				return nil, err
			}
			er := &EmployeeRemoval{UserID: u.ID, Email: u.Email, Name: u.Name, MembershipID: m.ID, Role: m.Role, Status: m.Status, Assets: []*Asset{}, membership: m}
			for page := (Page{Limit: MaxPageLimit}); ; {
				as, next, err := st.FindAssets(ctx, AssetFilter{AccountID: clientID, OwnerUserID: u.ID, Page: page})
				if err != nil {
					return nil, err
				}
				er.Assets = append(er.Assets, as...)
				if next == "" {
					break
				}
				page.After = next
			}
			cr.Employees = append(cr.Employees, er)
		}
		if candidates {
			// R-PARTNER-8 shows the partner its own employees in C, never
			// C's whole directory.
			stay, err := partnerEmployeesIn(ctx, st, partnerID, clientID)
			if err != nil {
				return nil, err
			}
			for _, cu := range stay {
				if removed[cu.ID] || cu.Status != UserActive || len(cr.Candidates) == 100 {
					continue
				}
				m, err := st.FindMembership(ctx, clientID, cu.ID)
				if err != nil {
					return nil, err
				}
				if m.Status == StatusActive && !m.EndedAt(s.now()) {
					cr.Candidates = append(cr.Candidates, Candidate{UserID: cu.ID, Name: cu.Name, Email: cu.Email})
				}
			}
		}
		out = append(out, cr)
	}
	if len(bad) > 0 {
		return nil, Invalid("not_a_member", "Some employees are not members of some clients; nothing was changed.", bad...)
	}
	return out, nil
}

// partnerEmployeesIn returns the users of P holding a membership of P in the client.
func partnerEmployeesIn(ctx context.Context, st Store, partnerID, clientID string) ([]*User, error) {
	var out []*User
	for page := (Page{Limit: MaxPageLimit}); ; {
		ms, next, err := st.FindMemberships(ctx, MembershipFilter{AccountID: clientID, Page: page})
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if !isPartnerMembership(m, partnerID) {
				continue
			}
			u, err := st.FindUserByID(ctx, m.UserID)
			if err != nil {
				return nil, err
			}
			if u.HomeAccountID == partnerID {
				out = append(out, u)
			}
		}
		if next == "" {
			return out, nil
		}
		page.After = next
	}
}

// PreviewRemoval shows, per client, every asset the employees own there
// before anything is removed (R-PARTNER-8), and who may receive them.
func (s *Service) PreviewRemoval(ctx context.Context, partnerID string, sel EmployeeSelection) (*RemovalPreview, error) {
	if _, err := s.employeesManager(ctx, s.Store, partnerID); err != nil {
		return nil, err
	}
	plan, err := s.planRemoval(ctx, s.Store, partnerID, sel, true)
	if err != nil {
		return nil, err
	}
	return &RemovalPreview{Clients: plan}, nil
}

// RemoveEmployees removes employees of P from clients in one transaction,
// reassigning their assets per client to the member sel.ReassignTo names
// (R-PARTNER-8). A super admin of P or a holder of partner.employees.manage
// may remove, also when every partner membership in a client is
// deactivated. The last partner membership leaving makes the relationship
// ending (R-PARTNER-10); R-SUPER-1 holds.
func (s *Service) RemoveEmployees(ctx context.Context, partnerID string, sel EmployeeSelection) (*RemovalResult, int64, error) {
	var res RemovalResult
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.s.employeesManager(t.ctx, t, partnerID)
		if err != nil {
			return err
		}
		if err := t.lockClients(sel.AccountIDs); err != nil {
			return err
		}
		plan, err := t.s.planRemoval(t.ctx, t, partnerID, sel, false)
		if err != nil {
			return err
		}
		removing := map[string]map[string]bool{} // per client, the users leaving it
		for _, cr := range plan {
			removing[cr.AccountID] = map[string]bool{}
			for _, er := range cr.Employees {
				removing[cr.AccountID][er.UserID] = true
			}
		}
		var bad []FieldError
		for _, clientID := range reassignOrder(sel.ReassignTo) {
			to, field := sel.ReassignTo[clientID], "reassign_to."+clientID
			if removing[clientID] == nil {
				bad = append(bad, FieldError{field, "is not one of account_ids"})
				continue
			}
			ok, err := t.activeMember(clientID, to)
			if err != nil {
				return err
			}
			if !ok || removing[clientID][to] {
				bad = append(bad, FieldError{field, quote(to) + " is not an active member of this client who stays"})
			}
		}
		if len(bad) > 0 {
			return Invalid("invalid_reassignment", "Assets can go only to an active member of the same client; nothing was changed.", bad...)
		}
		rec := by.asUser()
		defer t.creditPartner(len(t.events), partnerID)
		for _, cr := range plan {
			to := sel.ReassignTo[cr.AccountID]
			for _, er := range cr.Employees {
				if to != "" && len(er.Assets) > 0 {
					n, err := t.ReassignAssets(t.ctx, cr.AccountID, er.UserID, to, t.now)
					if err != nil {
						return err
					}
					keys := make([]string, len(er.Assets))
					for i, a := range er.Assets {
						keys[i] = a.Type + "/" + a.ID
					}
					t.record(cr.AccountID, rec, "asset.reassigned", "user", er.UserID, map[string]any{"from": er.UserID, "to": to, "count": n, "assets": keys})
					res.Reassigned += n
				}
				m := er.membership
				if m.Role == RoleSuperAdmin {
					if err := t.keepASuperAdmin(m); err != nil { // R-SUPER-1
						return err
					}
				}
				if err := t.removeMembership(rec, m, "partner_member.removed"); err != nil {
					return err
				}
				res.Removed++
			}
		}
		if res.Removed == 0 {
			return Errorf(ECONFLICT, "nothing_to_remove", "No employee of this partner is a member of these clients.")
		}
		t.answer(&res)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return &res, rev, nil
}

// activeMember reports whether userID holds an active membership of the
// account and is active in its home account.
func (t *txn) activeMember(accountID, userID string) (bool, error) {
	m, err := t.FindMembership(t.ctx, accountID, userID)
	if ErrorKind(err) == ENOTFOUND {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if m.Status != StatusActive || m.EndedAt(t.now) {
		return false, nil
	}
	u, err := t.FindUserByID(t.ctx, userID)
	if err != nil {
		return false, err
	}
	return u.Status == UserActive, nil
}

// lockClients locks the accounts in id order, so that concurrent removals cannot deadlock.
func (t *txn) lockClients(accountIDs []string) error {
	for _, id := range lockOrder(accountIDs) {
		if err := t.LockAccount(t.ctx, id); err != nil {
			if ErrorKind(err) == ENOTFOUND {
				return noRelationship(id)
			}
			return err
		}
	}
	return nil
}

func reassignOrder(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// DeactivateEmployees deactivates employees' memberships of P in clients
// (R-PARTNER-8: a super admin of P or a holder of partner.employees.manage).
// It does not end the relationship (R-PARTNER-10). All or nothing.
func (s *Service) DeactivateEmployees(ctx context.Context, partnerID string, sel EmployeeSelection) (*StatusResult, int64, error) {
	var res StatusResult
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.s.employeesManager(t.ctx, t, partnerID)
		if err != nil {
			return err
		}
		if len(sel.ReassignTo) > 0 {
			return Invalid("invalid_request", "The request is not valid.", FieldError{"reassign_to", "is only for removals"})
		}
		if err := t.lockClients(sel.AccountIDs); err != nil {
			return err
		}
		plan, err := t.s.planRemoval(t.ctx, t, partnerID, sel, false)
		if err != nil {
			return err
		}
		rec := by.asUser()
		defer t.creditPartner(len(t.events), partnerID)
		for _, cr := range plan {
			for _, er := range cr.Employees {
				m := er.membership
				if m.Status == StatusDeactivated || m.Status == StatusExpired {
					res.Unchanged++
					continue
				}
				if err := t.keepASuperAdmin(m); err != nil { // R-SUPER-1
					return err
				}
				// A membership suspended by offboarding stays deactivated
				// when the user comes back: the partner said so since.
				if err := t.DeleteSuspension(t.ctx, m.ID); err != nil {
					return err
				}
				m.Status, m.UpdatedAt = StatusDeactivated, t.now
				if err := t.UpdateMembership(t.ctx, m); err != nil {
					return err
				}
				t.record(cr.AccountID, rec, "partner_member.deactivated", "membership", m.ID, map[string]any{"user_id": m.UserID, "partner_id": partnerID})
				res.Changed++
			}
		}
		if res.Changed == 0 {
			return Errorf(ECONFLICT, "already_deactivated", "Every selected membership is deactivated already.")
		}
		t.answer(&res)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return &res, rev, nil
}

// ReactivateEmployees reactivates deactivated memberships of P's employees
// in clients. Re-activating needs a partner admin of P in each client
// (R-PARTNER-8); the employees must be active in P. All or nothing.
func (s *Service) ReactivateEmployees(ctx context.Context, partnerID string, sel EmployeeSelection) (*StatusResult, int64, error) {
	var res StatusResult
	rev, err := s.write(ctx, func(t *txn) error {
		if _, _, err := t.s.partnerAccess(t.ctx, t, partnerID); err != nil {
			return err
		}
		if len(sel.ReassignTo) > 0 {
			return Invalid("invalid_request", "The request is not valid.", FieldError{"reassign_to", "is only for removals"})
		}
		if _, err := selectionIDs("account_ids", sel.AccountIDs); err != nil {
			return err
		}
		admins := map[string]*access{}
		for _, clientID := range lockOrder(sel.AccountIDs) {
			by, _, err := t.partnerAdminIn(partnerID, clientID)
			if err != nil {
				return err
			}
			admins[clientID] = by
		}
		plan, err := t.s.planRemoval(t.ctx, t, partnerID, sel, false)
		if err != nil {
			return err
		}
		for _, cr := range plan {
			for _, er := range cr.Employees {
				m := er.membership
				if m.Status != StatusDeactivated {
					res.Unchanged++
					continue
				}
				u, bad, err := t.employee(partnerID, m.UserID, "user_ids")
				if err != nil {
					return err
				}
				if bad != nil {
					return Errorf(ECONFLICT, "user_deactivated", "%s; reactivate the user in the partner account first.", bad.Message)
				}
				if err := t.mayWiden(admins[cr.AccountID], m); err != nil { // R-GRANT-5
					return err
				}
				m.Status, m.UpdatedAt = StatusActive, t.now
				if err := t.UpdateMembership(t.ctx, m); err != nil {
					return err
				}
				t.record(cr.AccountID, admins[cr.AccountID], "partner_member.reactivated", "membership", m.ID, map[string]any{"user_id": u.ID, "partner_id": partnerID})
				res.Changed++
			}
		}
		if res.Changed == 0 {
			return Errorf(ECONFLICT, "already_active", "No selected membership is deactivated.")
		}
		t.answer(&res)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return &res, rev, nil
}
