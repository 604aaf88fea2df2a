package steward

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Adding employees of a partner to many clients in one request
// (R-PARTNER-4, R-GRANT-1, R-GRANT-5).

// Bounds of one AddEmployeesToClients request.
const (
	MaxAssignmentClients     = 500
	MaxAssignmentUsers       = 1000
	MaxAssignmentMemberships = 10000
)

// Assignment is the answer of AddEmployeesToClients: per client, in the
// order of the request, what was added. It names memberships by id only,
// so that the answer for 10,000 of them stays about 350 KB.
type Assignment struct {
	Role    string             `json:"role" doc:"The role every added membership has."`
	Added   int                `json:"added" doc:"How many memberships were added, in all clients."`
	Clients []ClientAssignment `json:"clients" doc:"One entry per client, in the order of client_ids."`
}

// ClientAssignment is what AddEmployeesToClients did in one client.
type ClientAssignment struct {
	ClientID      string     `json:"client_id" doc:"The client account (acc_…)."`
	Added         int        `json:"added" doc:"How many employees were added to this client."`
	MembershipIDs []string   `json:"membership_ids" doc:"The new memberships (mem_…), in the order of user_ids, the users listed in already_members left out."`
	Permissions   []string   `json:"permissions" doc:"What each added employee holds here: the role's permissions that the caller holds in this client (R-GRANT-1)."`
	NotGranted    []string   `json:"not_granted" doc:"The role's permissions the caller does not hold here, so nobody was given them (R-GRANT-1)."`
	EndsAt        *time.Time `json:"ends_at,omitempty" doc:"When the added memberships end at the latest: the end of the caller's own access here (R-GRANT-5); absent for none."`
	AlreadyMember []string   `json:"already_members" doc:"The user ids of user_ids that were members of this client already (of any kind): they are left as they are."`
}

// multiMembershipReader is a store that reads the memberships of many
// users in many accounts in one statement.
type multiMembershipReader interface {
	FindMembershipsOfUsersIn(ctx context.Context, accountIDs, userIDs []string) ([]*Membership, error)
}

// membersIn tells, per account, which of the users are members of it:
// one statement where the store can read them at once, one an account
// otherwise.
func (t *txn) membersIn(accountIDs, userIDs []string) (map[[2]string]bool, error) {
	members := map[[2]string]bool{}
	if mr, ok := t.Store.(multiMembershipReader); ok {
		ms, err := mr.FindMembershipsOfUsersIn(t.ctx, accountIDs, userIDs)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			members[[2]string{m.AccountID, m.UserID}] = true
		}
		return members, nil
	}
	for _, accountID := range accountIDs {
		_, in, err := t.usersAndMembers(accountID, userIDs)
		if err != nil {
			return nil, err
		}
		for id := range in {
			members[[2]string{accountID, id}] = true
		}
	}
	return members, nil
}

// assignmentIDs validates one list of an assignment: 1 to max ids, no
// empty or repeated one.
func assignmentIDs(field string, list []string, max int) error {
	if len(list) == 0 || len(list) > max {
		return Invalid("invalid_request", "The request is not valid.", FieldError{field, fmt.Sprintf("must list 1 to %d ids", max)})
	}
	seen := make(map[string]bool, len(list))
	for i, id := range list {
		if id == "" || seen[id] {
			return Invalid("invalid_request", "The request is not valid.", FieldError{fmt.Sprintf("%s[%d]", field, i), "is empty or repeated"})
		}
		if err := checkText(fmt.Sprintf("%s[%d]", field, i), id); err != nil { // SPEC §4 "Text"
			return err
		}
		seen[id] = true
	}
	return nil
}

// inClient names the client of a many-client request in an error that was
// about that client alone: the same error as for that client in a
// one-client request, with the field client_ids[i] added. Errors that are
// no steward.Error (a store failure) are left as they are.
func inClient(err error, i int, clientID string) error {
	e, ok := err.(*Error)
	if !ok {
		return err
	}
	field := fmt.Sprintf("client_ids[%d]", i)
	out := &Error{Kind: e.Kind, Code: e.Code, Message: e.Message}
	if len(e.Fields) == 0 {
		out.Fields = []FieldError{{field, strings.TrimSuffix(e.Message, ".") + " (" + quote(clientID) + ")"}}
	}
	for _, f := range e.Fields {
		out.Fields = append(out.Fields, FieldError{field, f.Field + ": " + f.Message})
	}
	return out
}

// AddEmployeesToClients adds employees of P to many clients of P with one
// role, in one transaction: AddEmployees for every client at once
// (R-PARTNER-4). The actor must be a partner admin of P in every client,
// and the role grantable in every client; every user must have P as home
// account and be active there; in each client each gets what the role
// holds and the actor holds there (R-GRANT-1), ending no later than the
// actor's access there (R-GRANT-5). A user who is a member of a client
// already (of whatever kind) is left as it is there and listed in that
// client's already_members; a request where every user is a member of
// every client already changes nothing. Anything else wrong refuses the
// whole request, and nothing is added. Each membership has its audit event
// partner_member.added in its client, as AddEmployees records it; each
// employee gets one mail that lists every client it was added to.
func (s *Service) AddEmployeesToClients(ctx context.Context, partnerID string, clientIDs, userIDs []string, roleID string) (*Assignment, int64, error) {
	var out *Assignment
	rev, err := s.write(ctx, func(t *txn) error {
		if _, _, err := t.s.partnerAccess(t.ctx, t, partnerID); err != nil {
			return err
		}
		if err := assignmentIDs("client_ids", clientIDs, MaxAssignmentClients); err != nil {
			return err
		}
		if err := assignmentIDs("user_ids", userIDs, MaxAssignmentUsers); err != nil {
			return err
		}
		if n := len(clientIDs) * len(userIDs); n > MaxAssignmentMemberships {
			return Invalid("too_many_memberships", fmt.Sprintf("One request adds at most %d memberships (clients × users); this one would add %d.", MaxAssignmentMemberships, n),
				FieldError{"user_ids", fmt.Sprintf("%d users × %d clients is over %d memberships; split the request", len(userIDs), len(clientIDs), MaxAssignmentMemberships)})
		}
		if roleID == "" {
			return Invalid("invalid_request", "The request is not valid.", FieldError{"role", "is required"})
		}
		index := make(map[string]int, len(clientIDs))
		for i, c := range clientIDs {
			index[c] = i
		}
		// R-PARTNER-4: a partner admin of P in every client, each locked in
		// one order so that two requests cannot deadlock. An unknown or
		// foreign client answers as in AddEmployees: client_not_found.
		admins := make(map[string]*access, len(clientIDs))
		roles := make(map[string]*Role, len(clientIDs))
		for _, clientID := range lockOrder(clientIDs) {
			by, _, err := t.partnerAdminAt(partnerID, clientID)
			if err != nil {
				return inClient(err, index[clientID], clientID)
			}
			r, err := t.s.grantableRole(t.ctx, t, by, clientID, roleID, KindPartner)
			if err != nil {
				return inClient(err, index[clientID], clientID)
			}
			admins[clientID], roles[clientID] = by, r
		}
		users, err := t.employees(partnerID, userIDs)
		if err != nil {
			return err
		}
		members, err := t.membersIn(clientIDs, userIDs)
		if err != nil {
			return err
		}
		out = &Assignment{Role: roleID, Clients: make([]ClientAssignment, len(clientIDs))}
		var ms []*Membership
		for i, clientID := range clientIDs {
			by, r := admins[clientID], roles[clientID]
			ca := ClientAssignment{ClientID: clientID, MembershipIDs: []string{}, AlreadyMember: []string{},
				Permissions: sortedSet(ApplySet(nil, r.Permissions, by.held)), NotGranted: sortedSet(Minus(r.Permissions, by.held))}
			for _, u := range users {
				if members[[2]string{clientID, u.ID}] {
					ca.AlreadyMember = append(ca.AlreadyMember, u.ID)
					continue
				}
				// R-GRANT-1: what the role holds and the actor holds in this client.
				m := &Membership{ID: NewID(PrefixMembership, t.now), AccountID: clientID, UserID: u.ID, Kind: KindPartner, Status: StatusActive,
					Role: r.ID, Permissions: ApplySet(nil, r.Permissions, by.held), GrantedBy: by.granter(), PartnerID: partnerID, ManagedBy: partnerID,
					CreatedAt: t.now, UpdatedAt: t.now}
				ms = append(ms, m)
				ca.MembershipIDs = append(ca.MembershipIDs, m.ID)
			}
			ca.Added = len(ca.MembershipIDs)
			out.Added += ca.Added
			out.Clients[i] = ca
		}
		if len(ms) == 0 {
			return errUnchanged // SPEC §4 "No-op writes": every user is a member of every client already
		}
		// R-GRANT-5: each ends no later than the actor's access in its
		// client, read once per client, as in AddEmployees.
		if err := t.createMemberships(ms); err != nil {
			return err
		}
		for i, j := 0, 0; i < len(out.Clients); i++ {
			if n := out.Clients[i].Added; n > 0 {
				out.Clients[i].EndsAt = ms[j].EndsAt // one end per client: the actor's there
				j += n
			}
		}
		if err := t.recordAssignment(partnerID, out, users, ms, admins, roles); err != nil {
			return err
		}
		t.answer(out)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}

// employees returns the users of ids, each an active user of P, in the
// order of ids; a field error names each that is not (user_ids[j]).
func (t *txn) employees(partnerID string, ids []string) ([]*User, error) {
	found := make(map[string]*User, len(ids))
	if mr, ok := t.Store.(manyReader); ok {
		us, err := mr.FindUsersByIDs(t.ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, u := range us {
			found[u.ID] = u
		}
	} else {
		for _, id := range ids {
			u, err := t.FindUserByID(t.ctx, id)
			if ErrorKind(err) == ENOTFOUND {
				continue
			} else if err != nil {
				return nil, err
			}
			found[id] = u
		}
	}
	var bad []FieldError
	users := make([]*User, 0, len(ids))
	for j, id := range ids {
		u, fe := employeeOf(partnerID, found[id], id, fmt.Sprintf("user_ids[%d]", j))
		if fe != nil {
			bad = append(bad, *fe)
			continue
		}
		users = append(users, u)
	}
	if len(bad) > 0 {
		return nil, Invalid("invalid_employees", "Some users cannot be added; nothing was added.", bad...)
	}
	return users, nil
}

// recordAssignment records one partner_member.added event per membership
// in its client, with the details AddEmployees records, and queues one
// mail per employee listing every client it was added to.
func (t *txn) recordAssignment(partnerID string, a *Assignment, users []*User, ms []*Membership, admins map[string]*access, roles map[string]*Role) error {
	partner, err := t.FindAccountByID(t.ctx, partnerID)
	if err != nil {
		return err
	}
	byUser := make(map[string][]*Membership, len(users))
	for _, m := range ms {
		by, r := admins[m.AccountID], roles[m.AccountID]
		t.record(m.AccountID, by, "partner_member.added", "membership", m.ID, map[string]any{"user_id": m.UserID, "partner_id": partnerID,
			"role": r.ID, "permissions": m.Permissions, "not_granted": Minus(r.Permissions, by.held), "granted_by": m.GrantedBy})
		byUser[m.UserID] = append(byUser[m.UserID], m)
	}
	names := map[string]string{}
	for _, ca := range a.Clients {
		if ca.Added == 0 {
			continue
		}
		acc, err := t.FindAccountByID(t.ctx, ca.ClientID) // locked: read from the transaction's copy
		if err != nil {
			return err
		}
		names[ca.ClientID] = acc.Name
	}
	actor := admins[a.Clients[0].ClientID].displayName()
	for _, u := range users {
		added := byUser[u.ID]
		if len(added) == 0 {
			continue
		}
		m := &Message{To: u.Email, Kind: "partner_member.added", AccountID: partnerID}
		if len(added) == 1 {
			c := added[0]
			r := roles[c.AccountID]
			m.AccountID, m.Subject = c.AccountID, "You now have access to "+names[c.AccountID]
			m.Text = fmt.Sprintf("%s added you to the account %s as %s, as an employee of %s.\nYou hold: %s.\n",
				actor, names[c.AccountID], r.Name, partner.Name, permissionList(c.Permissions))
		} else {
			m.Subject = fmt.Sprintf("You now have access to %d accounts", len(added))
			m.Text = assignmentText(actor, partner.Name, added, roles, names)
		}
		if err := t.mail(m); err != nil {
			return err
		}
	}
	return nil
}

// assignmentText is the mail to an employee added to many clients: the
// clients grouped by what the employee holds there, so that a mail about
// 500 clients lists each set of permissions once.
func assignmentText(actor, partner string, added []*Membership, roles map[string]*Role, names map[string]string) string {
	type group struct {
		role, perms string
		clients     []string
	}
	var groups []*group
	for _, m := range added {
		role, perms := roles[m.AccountID].Name, permissionList(m.Permissions)
		i := slices.IndexFunc(groups, func(g *group) bool { return g.role == role && g.perms == perms })
		if i < 0 {
			groups = append(groups, &group{role: role, perms: perms})
			i = len(groups) - 1
		}
		groups[i].clients = append(groups[i].clients, names[m.AccountID])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s added you to %d accounts, as an employee of %s.\n", actor, len(added), partner)
	for _, g := range groups {
		fmt.Fprintf(&b, "\nAs %s (you hold: %s), in:\n", g.role, g.perms)
		for _, c := range g.clients {
			fmt.Fprintf(&b, "- %s\n", c)
		}
	}
	return b.String()
}
