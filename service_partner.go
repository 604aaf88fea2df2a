package steward

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Partner access: the Client Access Manager (SPEC §2 R-PARTNER-1 … R-PARTNER-12).
//
// The invariant that keeps the check index (package authz) in step with the
// store evaluation: a partner membership of P in C exists only while P→C is
// active. A relationship becomes ending only when the last such membership
// leaves, and ends either after its grace (when none is left) or at the
// client's word, which ends every one of them in the same transaction.

// Defaults of SPEC §5.
const (
	DefaultAccessLinkTTL     = 720 * time.Hour
	DefaultRelationshipGrace = 1440 * time.Hour
)

func (s *Service) accessLinkTTL() time.Duration {
	if s.AccessLinkTTL > 0 {
		return s.AccessLinkTTL
	}
	return DefaultAccessLinkTTL
}

func (s *Service) relationshipGrace() time.Duration {
	if s.RelationshipGrace > 0 {
		return s.RelationshipGrace
	}
	return DefaultRelationshipGrace
}

// accessLinkURL is the page that opens an access link; it ends with the token.
func (s *Service) accessLinkURL(token string) string {
	return strings.TrimRight(s.BaseURL, "/") + "/access-links/" + token
}

// maxSelection bounds the user and account lists of one partner console request.
const maxSelection = 100

// asUser is the actor's identity without its standing in the account it
// resolved: for recording, in another account, what it did from there.
func (a *access) asUser() *access {
	return &access{actor: a.actor, user: a.user, held: nil}
}

// partnerAccess resolves the actor in the partner account P, for every call
// of P's partner console. An account that is not a partner is ENOTFOUND
// here, as an unknown one is.
//
// R-PARTNER-1: access is never transitive. Only a user of P acting through
// its internal membership of P (or the operator) acts in P's console: a
// partner admin or employee of another partner Q in P, an external user or
// a delegate in P holds no partner.* permission there, so Q never reaches
// P's clients.
func (s *Service) partnerAccess(ctx context.Context, st Store, partnerID string) (*access, *Account, error) {
	by, err := s.accessTo(ctx, st, partnerID)
	if err != nil {
		return nil, nil, err
	}
	acc, err := st.FindAccountByID(ctx, partnerID)
	if err != nil {
		return nil, nil, err
	}
	if acc.Kind != AccountPartner {
		return nil, nil, NotFound("partner", partnerID)
	}
	if m := by.membership(); m != nil && (m.Kind != KindInternal || by.user.HomeAccountID != partnerID) {
		return nil, nil, Errorf(EFORBIDDEN, "not_a_partner_user", "Only users of the partner account act in its partner console; access through a %s membership does not reach it.", m.Kind)
	}
	return by, acc, nil
}

// isPartnerMembership reports whether m is P's: a partner membership of P,
// or one P was credited with managing (R-PARTNER-6).
func isPartnerMembership(m *Membership, partnerID string) bool {
	return (m.Kind == KindPartner && m.PartnerID == partnerID) || m.ManagedBy == partnerID
}

// noRelationship is what acting on a client without a relationship gets: the
// client is not confirmed to exist.
func noRelationship(clientID string) error {
	return &Error{Kind: ENOTFOUND, Code: "client_not_found", Message: fmt.Sprintf("This partner has no client %q.", clientID)}
}

// relationship returns P→C as it stands now, ENOTFOUND without one, and
// ECONFLICT relationship_not_active unless it is active when active is required.
// R-PARTNER-11: everything of P in C ends with the relationship, so an
// ended one is ENOTFOUND, exactly as an unknown client is.
func (t *txn) relationship(partnerID, clientID string, active bool) (*Relationship, error) {
	r, err := liveRelationship(t.ctx, t, partnerID, clientID, t.now)
	if err != nil {
		return nil, err
	}
	if active && r.Status != RelationshipActive {
		return nil, Errorf(ECONFLICT, "relationship_not_active", "The relationship with this client is %s; a client super admin must approve a new access link.", r.Status)
	}
	return r, nil
}

// liveRelationship returns P→C as it stands at now; none, or one that has
// ended, is ENOTFOUND client_not_found (R-PARTNER-11).
func liveRelationship(ctx context.Context, st Store, partnerID, clientID string, now time.Time) (*Relationship, error) {
	r, err := st.FindRelationship(ctx, partnerID, clientID)
	if ErrorKind(err) == ENOTFOUND {
		return nil, noRelationship(clientID)
	} else if err != nil {
		return nil, err
	}
	r = r.At(now)
	if r.Status == RelationshipEnded {
		return nil, noRelationship(clientID)
	}
	return r, nil
}

// errPartnerAdminRequired is what a user of P who is not a partner admin of
// P in C gets for a call that needs one (R-PARTNER-8).
func errPartnerAdminRequired() error {
	return Errorf(EFORBIDDEN, "partner_admin_required", "This needs a partner admin of this partner in the client account.")
}

// partnerAdminIn resolves the actor in P (a user of P, R-PARTNER-1), locks
// the client and resolves the actor there: a partner admin of P in C
// (R-PARTNER-4, R-PARTNER-5, R-PARTNER-8), that is a partner membership of P
// that holds account.users.manage — the built-in partner_admin role, one the
// client narrowed to a custom role, or a super admin. The operator acting as
// itself passes. P→C must be active; without it, or once it ended, the
// client is unknown (404), and a user of P without a membership there is
// 403, as one with a membership that is not a partner admin's.
func (t *txn) partnerAdminIn(partnerID, clientID string) (*access, *Relationship, error) {
	if _, _, err := t.s.partnerAccess(t.ctx, t, partnerID); err != nil {
		return nil, nil, err
	}
	return t.partnerAdminAt(partnerID, clientID)
}

// partnerAdminAt is partnerAdminIn for an actor already resolved in P
// (partnerAccess): a request acting on many clients resolves it once.
func (t *txn) partnerAdminAt(partnerID, clientID string) (*access, *Relationship, error) {
	if err := t.LockAccount(t.ctx, clientID); err != nil {
		if ErrorKind(err) == ENOTFOUND {
			return nil, nil, noRelationship(clientID)
		}
		return nil, nil, err
	}
	rel, err := t.relationship(partnerID, clientID, true)
	if err != nil {
		return nil, nil, err
	}
	by, err := t.s.accessTo(t.ctx, t, clientID)
	if ErrorKind(err) == ENOTFOUND {
		return nil, nil, errPartnerAdminRequired()
	} else if err != nil {
		return nil, nil, err
	}
	if m := by.membership(); m != nil {
		if m.Kind != KindPartner || m.PartnerID != partnerID {
			return nil, nil, errPartnerAdminRequired()
		}
		if err := by.require(PermUsersManage); err != nil {
			return nil, nil, err
		}
	}
	return by, rel, nil
}

// notAnEmployee is the one answer for a user id that is not P's, whether it
// names a user of another tenant or nobody: foreign ids look exactly like
// unknown ones.
func notAnEmployee(field, userID string) *FieldError {
	return &FieldError{field, "no employee " + quote(userID) + " in this partner"}
}

// employee returns a user of P who is active there, or the reason it is not one.
func (t *txn) employee(partnerID, userID, field string) (*User, *FieldError, error) {
	u, err := t.FindUserByID(t.ctx, userID)
	if ErrorKind(err) == ENOTFOUND || (err == nil && u.HomeAccountID != partnerID) {
		return nil, notAnEmployee(field, userID), nil
	} else if err != nil {
		return nil, nil, err
	}
	if u.Status != UserActive {
		return nil, &FieldError{field, quote(userID) + " is deactivated in the partner account"}, nil
	}
	return u, nil, nil
}

// employeeOf is employee for a user already read (nil: none with that id).
func employeeOf(partnerID string, u *User, userID, field string) (*User, *FieldError) {
	if u == nil || u.HomeAccountID != partnerID {
		return nil, notAnEmployee(field, userID)
	}
	if u.Status != UserActive {
		return nil, &FieldError{field, quote(userID) + " is deactivated in the partner account"}
	}
	return u, nil
}

// manyReader is a store that reads many users, or many users' memberships
// of an account, in one statement.
type manyReader interface {
	FindUsersByIDs(ctx context.Context, ids []string) ([]*User, error)
	FindMembershipsOfUsers(ctx context.Context, accountID string, userIDs []string) ([]*Membership, error)
}

// usersAndMembers reads the users of ids (those that exist) and tells which
// of them are members of the account: two statements where the store can
// read many at once, two a user otherwise.
func (t *txn) usersAndMembers(accountID string, ids []string) (map[string]*User, map[string]bool, error) {
	users, members := map[string]*User{}, map[string]bool{}
	if mr, ok := t.Store.(manyReader); ok {
		us, err := mr.FindUsersByIDs(t.ctx, ids)
		if err != nil {
			return nil, nil, err
		}
		for _, u := range us {
			users[u.ID] = u
		}
		ms, err := mr.FindMembershipsOfUsers(t.ctx, accountID, ids)
		if err != nil {
			return nil, nil, err
		}
		for _, m := range ms {
			members[m.UserID] = true
		}
		return users, members, nil
	}
	for _, id := range ids {
		u, err := t.FindUserByID(t.ctx, id)
		if ErrorKind(err) == ENOTFOUND {
			continue
		} else if err != nil {
			return nil, nil, err
		}
		users[id] = u
		if _, err := t.FindMembership(t.ctx, accountID, id); err == nil {
			members[id] = true
		} else if ErrorKind(err) != ENOTFOUND {
			return nil, nil, err
		}
	}
	return users, members, nil
}

// selectionIDs validates a list of ids: 1 to maxSelection, no duplicates.
func selectionIDs(field string, list []string) ([]string, error) {
	if len(list) == 0 || len(list) > maxSelection {
		return nil, Invalid("invalid_request", "The request is not valid.", FieldError{field, fmt.Sprintf("must list 1 to %d ids", maxSelection)})
	}
	seen := map[string]bool{}
	for i, id := range list {
		if id == "" || seen[id] {
			return nil, Invalid("invalid_request", "The request is not valid.", FieldError{fmt.Sprintf("%s[%d]", field, i), "is empty or repeated"})
		}
		seen[id] = true
	}
	return list, nil
}

// notePartnerActivity keeps the last partner activity of every relationship
// whose partner's user made a change in its client in this write, which also
// pushes back the end of an ending relationship (R-PARTNER-10). Product
// activity reported for such a user is recorded as an event of that user and
// counts the same way.
func (t *txn) notePartnerActivity() error {
	seen := map[[2]string]bool{}
	for _, e := range t.events {
		home := e.Actor.HomeAccountID
		if home == "" || home == e.AccountID || seen[[2]string{home, e.AccountID}] {
			continue
		}
		seen[[2]string{home, e.AccountID}] = true
		if err := t.TouchRelationship(t.ctx, home, e.AccountID, t.now, t.now.Add(t.s.relationshipGrace())); err != nil {
			return err
		}
	}
	return nil
}

// partnerMembershipLeft is called when a partner membership is removed: when
// none of P's is left in C, the relationship becomes ending, and ends after
// the grace from the last partner activity (R-PARTNER-10). The client must be
// locked by the transaction.
func (t *txn) partnerMembershipLeft(m *Membership) error {
	if err := t.DeleteSuspension(t.ctx, m.ID); err != nil {
		return err
	}
	n, err := t.CountPartnerMemberships(t.ctx, m.PartnerID, m.AccountID)
	if err != nil || n > 0 {
		return err
	}
	r, err := t.FindRelationship(t.ctx, m.PartnerID, m.AccountID)
	if ErrorKind(err) == ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	if r.Status != RelationshipActive {
		return nil
	}
	if t.actor != nil && t.actor.UserID != "" { // a partner user's removal is itself activity
		if u, err := t.FindUserByID(t.ctx, t.actor.UserID); err != nil {
			return err
		} else if u.HomeAccountID == r.PartnerID {
			r.LastActivityAt = t.now
		}
	}
	ends := r.LastActivityAt.Add(t.s.relationshipGrace())
	if r.EndsAt != nil && r.EndsAt.Before(ends) { // R-LIFE-1: the client's end date comes first
		ends = *r.EndsAt
	}
	r.Status, r.EndingSince, r.EndsAt, r.AutoExtend, r.UpdatedAt = RelationshipEnding, &t.now, &ends, false, t.now
	if err := t.UpdateRelationship(t.ctx, r); err != nil {
		return err
	}
	details := map[string]any{"partner_id": r.PartnerID, "client_id": r.ClientID, "ends_at": ends}
	t.record(r.ClientID, nil, "relationship.ending", "relationship", r.ID, details)
	t.record(r.PartnerID, nil, "relationship.ending", "relationship", r.ID, details)
	return nil
}

// ---- access links (R-PARTNER-2, R-PARTNER-3) ----

// NewAccessLink is the answer to CreateAccessLink: the URL, ending with the
// token, that the partner copies and sends. The token is shown only here.
type NewAccessLink struct {
	ID             string    `json:"id"`
	URL            string    `json:"url,omitempty" doc:"The link, ending with its token; shown once: only the token's hash is kept."`
	UserID         string    `json:"user_id"`
	ExpiresAt      time.Time `json:"expires_at"`
	SecretWithheld bool      `json:"secret_withheld,omitempty" doc:"True in a replay (Idempotency-Key): the URL was shown once, in the first answer, and is not shown again."`
}

// Redacted is the answer without the URL, which holds the token, as a
// replay carries it (SPEC §4 "Secrets are shown once").
func (n *NewAccessLink) Redacted() any {
	c := *n
	c.URL, c.SecretWithheld = "", true
	return &c
}

// CreateAccessLink issues a personal, single-use access link for a user of
// the partner (R-PARTNER-2): a partner user asks for itself, a holder of
// partner.employees.manage for another active employee. userID "" means the
// actor. Only the token's hash is stored.
func (s *Service) CreateAccessLink(ctx context.Context, partnerID, userID string) (*NewAccessLink, int64, error) {
	var out *NewAccessLink
	rev, err := s.write(ctx, func(t *txn) error {
		by, _, err := t.s.partnerAccess(t.ctx, t, partnerID)
		if err != nil {
			return err
		}
		if userID == "" {
			if by.user == nil {
				return Invalid("invalid_access_link", "The access link request is not valid.", FieldError{"user_id", "is required"})
			}
			userID = by.user.ID
		}
		if by.user == nil || by.user.ID != userID {
			if err := by.require(PermPartnerEmployeesManage); err != nil {
				return err
			}
		}
		u, bad, err := t.employee(partnerID, userID, "user_id")
		if err != nil {
			return err
		}
		if bad != nil {
			return Invalid("invalid_access_link", "The access link request is not valid.", *bad)
		}
		token := NewSecret(AccessLinkTokenPrefix)
		l := &AccessLink{ID: NewID(PrefixAccessLink, t.now), TokenHash: HashSecret(token), PartnerID: partnerID, UserID: u.ID,
			RequestedBy: by.granter(), Status: AccessLinkPending, ExpiresAt: t.now.Add(t.s.accessLinkTTL()), CreatedAt: t.now}
		if err := t.CreateAccessLink(t.ctx, l); err != nil {
			return err
		}
		t.record(partnerID, by, "access_link.created", "access_link", l.ID, map[string]any{"user_id": u.ID, "expires_at": l.ExpiresAt})
		out = &NewAccessLink{ID: l.ID, URL: t.s.accessLinkURL(token), UserID: u.ID, ExpiresAt: l.ExpiresAt}
		t.answer(out)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}

// AccessLinkView is what a client super admin sees on opening a link: who
// asks for access, for which partner, and exactly what approval grants (R-PARTNER-3).
type AccessLinkView struct {
	ID        string           `json:"id"`
	Status    AccessLinkStatus `json:"status"`
	ExpiresAt time.Time        `json:"expires_at"`
	Partner   struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"partner"`
	User struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"user"`
	Grants struct {
		Role        string   `json:"role"`
		Permissions []string `json:"permissions"`
		Withheld    []string `json:"withheld"`
	} `json:"grants"`
}

// usableLink finds the pending link of a token: malformed is EINVALID,
// unknown ENOTFOUND, used ECONFLICT, expired EGONE.
func usableLink(ctx context.Context, st Store, token string, now time.Time) (*AccessLink, error) {
	if !WellFormedAccessLinkToken(token) {
		return nil, Invalid("malformed_access_link", "This is not an access link token.", FieldError{"token", "is malformed"})
	}
	l, err := st.FindAccessLinkByHash(ctx, HashSecret(token))
	if err != nil {
		return nil, err
	}
	switch {
	case l.Status != AccessLinkPending || l.UsedAt != nil:
		return nil, Errorf(ECONFLICT, "access_link_used", "This access link has been used already (%s).", l.Status)
	case !now.Before(l.ExpiresAt):
		return nil, Errorf(EGONE, "access_link_expired", "This access link expired on %s; ask the partner for a new one.", l.ExpiresAt.Format(time.RFC3339))
	}
	return l, nil
}

// FindAccessLink shows a pending link to any signed-in user who holds its token.
func (s *Service) FindAccessLink(ctx context.Context, token string) (*AccessLinkView, error) {
	if ActorFromContext(ctx) == nil {
		return nil, Errorf(EUNAUTHENTICATED, "unauthenticated", "A bearer token is required.")
	}
	l, err := usableLink(ctx, s.Store, token, s.now())
	if err != nil {
		return nil, err
	}
	p, err := s.Store.FindAccountByID(ctx, l.PartnerID)
	if err != nil {
		return nil, err
	}
	u, err := s.Store.FindUserByID(ctx, l.UserID)
	if err != nil {
		return nil, err
	}
	v := &AccessLinkView{ID: l.ID, Status: l.Status, ExpiresAt: l.ExpiresAt}
	v.Partner.ID, v.Partner.Name = p.ID, p.Name
	v.User.ID, v.User.Name, v.User.Email = u.ID, u.Name, u.Email
	v.Grants.Role, v.Grants.Permissions = RolePartnerAdmin, s.Catalogue.PartnerAdmin()
	v.Grants.Withheld = s.Catalogue.PartnerAdminWithheld()
	return v, nil
}

// Approval is the outcome of approving an access link.
type Approval struct {
	// Relationship carries no alias: the approver is the client (R-PARTNER-7).
	Relationship *SharedRelationship `json:"relationship"`
	Membership   *Membership         `json:"membership"`
}

// ApproveAccessLink approves a link for the client account: it needs a super
// admin of the client acting (the operator acting as itself may not). It
// creates or re-activates the relationship P→C and makes the link's user a
// partner admin in C holding cat.PartnerAdmin() (R-PARTNER-1, R-PARTNER-3),
// and mails the user. A link is used once, also under concurrent approvals.
func (s *Service) ApproveAccessLink(ctx context.Context, token, clientID string) (*Approval, int64, error) {
	return s.ApproveAccessLinkUntil(ctx, token, clientID, nil)
}

// ApproveAccessLinkUntil is ApproveAccessLink with an end date for the
// relationship: the client's policy may require one (R-GUARD-2), and
// admits only the partners it allows (R-GUARD-1).
func (s *Service) ApproveAccessLinkUntil(ctx context.Context, token, clientID string, endsAt *time.Time) (*Approval, int64, error) {
	return s.ApproveAccessLinkWith(ctx, token, clientID, ApprovalOptions{EndsAt: endsAt})
}

// ApprovalOptions are the client's choices when it approves an access link:
// the relationship's end date and whether it renews itself (R-LIFE-1).
type ApprovalOptions struct {
	EndsAt     *time.Time
	AutoExtend *bool
}

// ApproveAccessLinkWith is ApproveAccessLink with the client's options. A
// given end date (and auto_extend) applies to the relationship, new,
// re-activated or active already; an active relationship approved again
// without one keeps its own.
func (s *Service) ApproveAccessLinkWith(ctx context.Context, token, clientID string, opts ApprovalOptions) (*Approval, int64, error) {
	endsAt := opts.EndsAt
	var out Approval
	endsAt = utcPtr(endsAt)
	rev, err := s.write(ctx, func(t *txn) error {
		l, err := usableLink(t.ctx, t, token, t.now)
		if err != nil {
			return err
		}
		if clientID == "" {
			return Invalid("invalid_approval", "The approval is not valid.", FieldError{"account_id", "is required: the client account"})
		}
		by, err := t.lockedActor(clientID)
		if err != nil {
			return err
		}
		if by.user == nil || by.membership().Role != RoleSuperAdmin {
			return Errorf(EFORBIDDEN, "super_admin_required", "Only a super admin of the client account can approve an access link.")
		}
		if clientID == l.PartnerID {
			return Invalid("invalid_approval", "The approval is not valid.", FieldError{"account_id", "a partner cannot be its own client"})
		}
		client, err := t.FindAccountByID(t.ctx, clientID)
		if err != nil {
			return err
		}
		partner, err := t.FindAccountByID(t.ctx, l.PartnerID)
		if err != nil {
			return err
		}
		if err := t.policyAdmits(clientID, partner); err != nil { // R-GUARD-1
			return err
		}
		if endsAt != nil && !endsAt.After(t.now) {
			return Invalid("invalid_end_dates", "The end dates are not valid.", FieldError{"ends_at", "must be in the future"})
		}
		if err := t.checkMaxDays(clientID, KindPartner, t.now, endsAt, "ends_at"); err != nil { // R-GUARD-2
			return err
		}
		u, bad, err := t.employee(l.PartnerID, l.UserID, "user_id")
		if err != nil {
			return err
		}
		if bad != nil {
			return Errorf(ECONFLICT, "employee_inactive", "The partner user of this link can no longer be given access: %s.", bad.Message)
		}
		l.Status, l.ClientID, l.DecidedBy, l.UsedAt = AccessLinkApproved, clientID, by.user.ID, &t.now
		if err := t.UseAccessLink(t.ctx, l); err != nil {
			return err
		}
		rel, err := t.openRelationship(by, partner, client)
		if err != nil {
			return err
		}
		m, err := t.makePartnerAdmin(by, l.PartnerID, clientID, u)
		if err != nil {
			return err
		}
		// R-LIFE-1: the end date is the relationship's; every partner
		// membership of P in C holds only while it has not ended, decided
		// at check time, and what they give outside it ends with it
		// (R-GRANT-5).
		if err := t.setRelationshipEnd(by, rel, endsAt != nil, endsAt, opts.AutoExtend); err != nil {
			return err
		}
		t.record(clientID, by, "access_link.approved", "relationship", rel.ID, map[string]any{"access_link_id": l.ID, "partner_id": l.PartnerID, "user_id": u.ID,
			"ends_at": rel.EndsAt, "auto_extend": rel.AutoExtend})
		t.record(l.PartnerID, by.asUser(), "access_link.approved", "access_link", l.ID, map[string]any{"client_id": clientID, "user_id": u.ID})
		var b strings.Builder
		fmt.Fprintf(&b, "%s (%s), a super admin of %s, approved your access request.\n\n", by.user.Name, by.user.Email, client.Name)
		fmt.Fprintf(&b, "You are now a partner admin of %s for %s. You hold every permission except %s.\n",
			client.Name, partner.Name, strings.Join(t.s.Catalogue.PartnerAdminWithheld(), ", "))
		if err := t.mail(&Message{To: u.Email, Subject: client.Name + " approved your partner access", Text: b.String(), AccountID: clientID, Kind: "access_link.approved"}); err != nil {
			return err
		}
		out = Approval{Relationship: rel.Shared(t.now), Membership: t.s.present(t.ctx, t, m)}
		t.answer(&out)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return &out, rev, nil
}

// openRelationship creates P→C, or re-activates it when it is ending or ended.
func (t *txn) openRelationship(by *access, partner, client *Account) (*Relationship, error) {
	r, err := t.FindRelationship(t.ctx, partner.ID, client.ID)
	if ErrorKind(err) == ENOTFOUND {
		r = &Relationship{ID: NewID(PrefixRelationship, t.now), PartnerID: partner.ID, ClientID: client.ID, Status: RelationshipActive,
			Alias: client.Name, LastActivityAt: t.now, ApprovedAt: &t.now, CreatedAt: t.now, UpdatedAt: t.now}
		if err := t.CreateRelationship(t.ctx, r); err != nil {
			return nil, err
		}
		t.record(client.ID, by, "relationship.created", "relationship", r.ID, map[string]any{"partner_id": partner.ID})
		t.record(partner.ID, by.asUser(), "relationship.created", "relationship", r.ID, map[string]any{"client_id": client.ID})
		return r, nil
	} else if err != nil {
		return nil, err
	}
	if r.At(t.now).Status == RelationshipActive {
		r.ApprovedAt = &t.now // R-GUARD-2 counts from the last approval
		return r, nil
	}
	if r.Status == RelationshipActive { // its end date passed before the scheduler saw it
		if err := t.endRelationshipNow(by, r, "ends_at"); err != nil {
			return nil, err
		}
	}
	from := r.At(t.now).Status
	r.Status, r.EndingSince, r.EndsAt, r.EndedAt, r.LastActivityAt, r.UpdatedAt = RelationshipActive, nil, nil, nil, t.now, t.now
	r.AutoExtend, r.TermStartedAt, r.ApprovedAt = false, nil, &t.now
	if err := t.UpdateRelationship(t.ctx, r); err != nil {
		return nil, err
	}
	t.record(client.ID, by, "relationship.reactivated", "relationship", r.ID, map[string]any{"partner_id": partner.ID, "from": from})
	t.record(partner.ID, by.asUser(), "relationship.reactivated", "relationship", r.ID, map[string]any{"client_id": client.ID, "from": from})
	return r, nil
}

// makePartnerAdmin makes u a partner admin of P in C: a new partner
// membership, or the user's existing one of P, re-activated.
func (t *txn) makePartnerAdmin(by *access, partnerID, clientID string, u *User) (*Membership, error) {
	perms := ApplySet(nil, t.s.Catalogue.PartnerAdmin(), by.held) // R-PARTNER-1, R-GRANT-1
	m, err := t.FindMembership(t.ctx, clientID, u.ID)
	if ErrorKind(err) == ENOTFOUND {
		m = &Membership{ID: NewID(PrefixMembership, t.now), AccountID: clientID, UserID: u.ID, Kind: KindPartner, Status: StatusActive,
			Role: RolePartnerAdmin, Permissions: perms, GrantedBy: by.granter(), PartnerID: partnerID, ManagedBy: partnerID, CreatedAt: t.now, UpdatedAt: t.now}
		if err := t.CreateMembership(t.ctx, m); err != nil {
			return nil, err
		}
		t.record(clientID, by, "partner_member.added", "membership", m.ID, map[string]any{"user_id": u.ID, "partner_id": partnerID,
			"role": m.Role, "permissions": m.Permissions, "granted_by": m.GrantedBy})
		return m, nil
	} else if err != nil {
		return nil, err
	}
	if m.Kind != KindPartner || m.PartnerID != partnerID {
		return nil, Errorf(ECONFLICT, "already_member", "This user is already a %s member of the account; remove that membership first.", m.Kind)
	}
	if m.Role == RoleSuperAdmin {
		if err := t.keepASuperAdmin(m); err != nil { // R-SUPER-1
			return nil, err
		}
	}
	if err := t.mayWiden(by, m); err != nil { // R-GRANT-5
		return nil, err
	}
	from, fromStatus := m.Role, m.Status
	m.Role, m.Permissions, m.Status, m.GrantedBy, m.ManagedBy, m.UpdatedAt = RolePartnerAdmin, perms, StatusActive, by.granter(), partnerID, t.now
	if err := t.UpdateMembership(t.ctx, m); err != nil {
		return nil, err
	}
	if err := t.DeleteSuspension(t.ctx, m.ID); err != nil {
		return nil, err
	}
	t.record(clientID, by, "partner_member.role_changed", "membership", m.ID, map[string]any{"user_id": u.ID, "from_role": from,
		"from_status": fromStatus, "to_role": m.Role, "permissions": m.Permissions, "granted_by": m.GrantedBy})
	return m, nil
}

// DeclineAccessLink declines a link; it is used up. Anyone signed in who
// holds the token may decline it; the partner user is told by mail.
func (s *Service) DeclineAccessLink(ctx context.Context, token string) (int64, error) {
	return s.write(ctx, func(t *txn) error {
		if t.actor == nil {
			return Errorf(EUNAUTHENTICATED, "unauthenticated", "A bearer token is required.")
		}
		l, err := usableLink(t.ctx, t, token, t.now)
		if err != nil {
			return err
		}
		decidedBy := "operator"
		if t.actor.UserID != "" {
			decidedBy = t.actor.UserID
		}
		l.Status, l.DecidedBy, l.UsedAt = AccessLinkDeclined, decidedBy, &t.now
		if err := t.UseAccessLink(t.ctx, l); err != nil {
			return err
		}
		var by *access
		if t.actor.UserID != "" {
			u, err := t.FindUserByID(t.ctx, t.actor.UserID)
			if err != nil {
				return err
			}
			by = &access{actor: t.actor, user: u}
		}
		t.record(l.PartnerID, by, "access_link.declined", "access_link", l.ID, map[string]any{"user_id": l.UserID})
		u, err := t.FindUserByID(t.ctx, l.UserID)
		if err != nil {
			return err
		}
		p, err := t.FindAccountByID(t.ctx, l.PartnerID)
		if err != nil {
			return err
		}
		text := fmt.Sprintf("Your request for partner admin access on behalf of %s was declined by the person who opened your link. No access was granted.\n\nAsk the client's super admin before you send a new link.\n", p.Name)
		return t.mail(&Message{To: u.Email, Subject: "Your partner access request was declined", Text: text, AccountID: l.PartnerID, Kind: "access_link.declined"})
	})
}

// ---- the partner console: clients and employees (R-PARTNER-4 … R-PARTNER-7) ----

// FindClients pages through the partner's clients with P's alias and the
// client's own name (R-PARTNER-7), ended relationships under the alias only
// (R-PARTNER-11). It needs partner.clients.view in P.
func (s *Service) FindClients(ctx context.Context, f ClientFilter) ([]*Client, string, error) {
	by, _, err := s.partnerAccess(ctx, s.Store, f.PartnerID)
	if err != nil {
		return nil, "", err
	}
	if err := by.require(PermPartnerClientsView); err != nil {
		return nil, "", err
	}
	switch f.AccessType {
	case "", AccessTypePartnerAdmin, AccessTypeEmployees, AccessTypeNone:
	default:
		return nil, "", Invalid("invalid_filter", "The filter is not valid.", FieldError{"access_type", `must be "partner_admin", "employees" or "none"`})
	}
	switch f.Status {
	case "", RelationshipActive, RelationshipEnding, RelationshipEnded:
	default:
		return nil, "", Invalid("invalid_filter", "The filter is not valid.", FieldError{"status", `must be "active", "ending" or "ended"`})
	}
	f.Search = strings.TrimSpace(f.Search)
	if len(f.Search) > 200 {
		return nil, "", Invalid("invalid_filter", "The filter is not valid.", FieldError{"q", "must be at most 200 characters"})
	}
	f.Now, f.Page = s.now(), f.Page.Normalize()
	cs, next, err := s.Store.FindClients(ctx, f)
	if err != nil {
		return nil, "", err
	}
	for _, c := range cs {
		if c.Status == RelationshipEnded {
			// R-PARTNER-11: an ended relationship stays listed under P's
			// own alias; the client's live name is no longer P's to see
			// (the store's search does not match it either).
			c.ClientName = ""
		}
	}
	return cs, next, nil
}

// UpdateClientAlias sets P's own name for a client (R-PARTNER-7). It needs
// partner.clients.view in P and a relationship that has not ended.
func (s *Service) UpdateClientAlias(ctx context.Context, partnerID, clientID, alias string) (*Relationship, int64, error) {
	var out *Relationship
	rev, err := s.write(ctx, func(t *txn) error {
		by, _, err := t.s.partnerAccess(t.ctx, t, partnerID)
		if err != nil {
			return err
		}
		if err := by.require(PermPartnerClientsView); err != nil {
			return err
		}
		a, err := ValidateAlias(alias)
		if err != nil {
			return err
		}
		if err := t.LockAccount(t.ctx, clientID); err != nil {
			if ErrorKind(err) == ENOTFOUND {
				return noRelationship(clientID)
			}
			return err
		}
		if _, err := t.relationship(partnerID, clientID, false); err != nil { // R-PARTNER-11: none once ended
			return err
		}
		r, err := t.FindRelationship(t.ctx, partnerID, clientID)
		if err != nil {
			return err
		}
		if a == r.Alias {
			out = r.At(t.now)
			return errUnchanged // SPEC §4 "No-op writes"
		}
		r.Alias, r.UpdatedAt = a, t.now
		if err := t.UpdateRelationship(t.ctx, r); err != nil {
			return err
		}
		// R-PARTNER-7: the alias is P's alone. The event says that it
		// changed, not what it says: P's account log is read by whoever P
		// lets read it, partner admins of P's own partners included.
		t.record(partnerID, by, "client.alias_changed", "relationship", r.ID, map[string]any{"client_id": clientID})
		out = r.At(t.now)
		return nil
	})
	return out, rev, err
}

// AddEmployees adds employees of P to C with a role (R-PARTNER-4): the actor
// is a partner admin of P in C; every user must have P as home account and
// be active there; each gets what the role holds and the actor holds
// (R-GRANT-1). All are added or none.
func (s *Service) AddEmployees(ctx context.Context, partnerID, clientID string, userIDs []string, roleID string) ([]*Membership, int64, error) {
	var out []*Membership
	rev, err := s.write(ctx, func(t *txn) error {
		by, _, err := t.partnerAdminIn(partnerID, clientID)
		if err != nil {
			return err
		}
		if _, err := selectionIDs("user_ids", userIDs); err != nil {
			return err
		}
		if roleID == "" {
			return Invalid("invalid_request", "The request is not valid.", FieldError{"role", "is required"})
		}
		r, err := t.s.grantableRole(t.ctx, t, by, clientID, roleID, KindPartner)
		if err != nil {
			return err
		}
		var bad []FieldError
		var users []*User
		found, members, err := t.usersAndMembers(clientID, userIDs)
		if err != nil {
			return err
		}
		for i, id := range userIDs {
			field := fmt.Sprintf("user_ids[%d]", i)
			u, fe := employeeOf(partnerID, found[id], id, field)
			if fe != nil {
				bad = append(bad, *fe)
				continue
			}
			if members[id] {
				bad = append(bad, FieldError{field, quote(id) + " is already a member of the client"})
				continue
			}
			users = append(users, u)
		}
		if len(bad) > 0 {
			return Invalid("invalid_employees", "Some users cannot be added; nothing was added.", bad...)
		}
		client, err := t.FindAccountByID(t.ctx, clientID)
		if err != nil {
			return err
		}
		partner, err := t.FindAccountByID(t.ctx, partnerID)
		if err != nil {
			return err
		}
		ms := make([]*Membership, len(users))
		for i, u := range users {
			ms[i] = &Membership{ID: NewID(PrefixMembership, t.now), AccountID: clientID, UserID: u.ID, Kind: KindPartner, Status: StatusActive,
				Role: r.ID, Permissions: ApplySet(nil, r.Permissions, by.held), GrantedBy: by.granter(), PartnerID: partnerID, ManagedBy: partnerID,
				CreatedAt: t.now, UpdatedAt: t.now}
		}
		if err := t.createMemberships(ms); err != nil {
			return err
		}
		never, err := t.s.neverDelegable(t.ctx, t, clientID, KindPartner)
		if err != nil {
			return err
		}
		for i, u := range users {
			m := ms[i]
			t.record(clientID, by, "partner_member.added", "membership", m.ID, map[string]any{"user_id": u.ID, "partner_id": partnerID,
				"role": r.ID, "permissions": m.Permissions, "not_granted": Minus(r.Permissions, by.held), "granted_by": m.GrantedBy})
			text := fmt.Sprintf("%s added you to the account %s as %s, as an employee of %s.\nYou hold: %s.\n",
				by.displayName(), client.Name, r.Name, partner.Name, permissionList(m.Permissions))
			if err := t.mail(&Message{To: u.Email, Subject: "You now have access to " + client.Name, Text: text, AccountID: clientID, Kind: "partner_member.added"}); err != nil {
				return err
			}
			out = append(out, t.s.presentWith(t.ctx, t, m, never))
		}
		t.answer(out)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}

// partnerMember returns P's membership of userID in C, ENOTFOUND if the user
// has none or it is not P's.
func (t *txn) partnerMember(partnerID, clientID, userID string) (*Membership, error) {
	m, err := t.FindMembership(t.ctx, clientID, userID)
	if ErrorKind(err) == ENOTFOUND || (err == nil && !isPartnerMembership(m, partnerID)) {
		return nil, NotFound("employee", userID)
	}
	return m, err
}

// ChangeEmployeeRole applies a role to a partner employee in C with the
// R-GRANT-2 arithmetic (R-PARTNER-5); the actor is a partner admin of P in C.
func (s *Service) ChangeEmployeeRole(ctx context.Context, partnerID, clientID, userID, roleID string) (*Membership, int64, error) {
	var m *Membership
	rev, err := s.write(ctx, func(t *txn) error {
		by, _, err := t.partnerAdminIn(partnerID, clientID)
		if err != nil {
			return err
		}
		target, err := t.partnerMember(partnerID, clientID, userID)
		if err != nil {
			return err
		}
		if roleID == "" {
			return Invalid("invalid_request", "The request is not valid.", FieldError{"role", "is required"})
		}
		m, err = t.applyRole(by, target, roleID, "partner_member.role_changed")
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return s.present(ctx, s.Store, m), rev, nil
}

// FindEmployees pages through P's users with the verified-domain mark and
// their client count (R-PARTNER-6). It needs partner.clients.view or
// partner.employees.manage in P.
func (s *Service) FindEmployees(ctx context.Context, partnerID string, page Page) ([]*Employee, string, error) {
	by, acc, err := s.partnerAccess(ctx, s.Store, partnerID)
	if err != nil {
		return nil, "", err
	}
	if !by.holds(PermPartnerClientsView) && !by.holds(PermPartnerEmployeesManage) {
		return nil, "", by.require(PermPartnerEmployeesManage)
	}
	es, next, err := s.Store.FindEmployees(ctx, partnerID, page.Normalize())
	if err != nil {
		return nil, "", err
	}
	for _, e := range es {
		e.Verified = acc.HasVerifiedDomain(e.Email)
	}
	return es, next, nil
}

// LinkEmployee credits P with managing an employee's existing membership in
// C (R-PARTNER-6). It needs partner.employees.manage in P and an active
// relationship P→C.
func (s *Service) LinkEmployee(ctx context.Context, partnerID, userID, clientID string) (*Membership, int64, error) {
	var m *Membership
	rev, err := s.write(ctx, func(t *txn) error {
		by, _, err := t.s.partnerAccess(t.ctx, t, partnerID)
		if err != nil {
			return err
		}
		if err := by.require(PermPartnerEmployeesManage); err != nil {
			return err
		}
		if clientID == "" {
			return Invalid("invalid_request", "The request is not valid.", FieldError{"account_id", "is required"})
		}
		if err := t.LockAccount(t.ctx, clientID); err != nil {
			if ErrorKind(err) == ENOTFOUND {
				return noRelationship(clientID)
			}
			return err
		}
		if _, err := t.relationship(partnerID, clientID, true); err != nil {
			return err
		}
		u, err := t.FindUserByID(t.ctx, userID)
		if err != nil || u.HomeAccountID != partnerID {
			if err == nil || ErrorKind(err) == ENOTFOUND {
				return NotFound("employee", userID)
			}
			return err
		}
		m, err = t.FindMembership(t.ctx, clientID, userID)
		if ErrorKind(err) == ENOTFOUND {
			return &Error{Kind: ENOTFOUND, Code: "member_not_found", Message: "The employee is not a member of the client; add it instead."}
		} else if err != nil {
			return err
		}
		if m.ManagedBy == partnerID {
			return Errorf(ECONFLICT, "already_linked", "The employee's membership is already managed by this partner.")
		}
		m.ManagedBy, m.UpdatedAt = partnerID, t.now
		if err := t.UpdateMembership(t.ctx, m); err != nil {
			return err
		}
		mark := len(t.events)
		t.record(clientID, by.asUser(), "partner_member.linked", "membership", m.ID, map[string]any{"user_id": userID, "partner_id": partnerID})
		t.creditPartner(mark, partnerID)
		m = t.s.present(t.ctx, t, m)
		t.answer(m)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return m, rev, nil
}

// ---- conversion (R-PARTNER-9) ----

// ConvertToPartnerAdmin turns a super admin of C who is an employee of P
// into a partner admin of P in C, optionally keeping account.billing.manage
// (R-PARTNER-9, the only way a partner admin holds it, R-PARTNER-1). The
// user converts itself, or a partner admin of P in C converts it; either is
// a user of P (R-PARTNER-1). The last active super admin cannot convert
// (R-SUPER-1).
func (s *Service) ConvertToPartnerAdmin(ctx context.Context, partnerID, clientID, userID string, retainBilling bool) (*Membership, int64, error) {
	var m *Membership
	rev, err := s.write(ctx, func(t *txn) error {
		if _, _, err := t.s.partnerAccess(t.ctx, t, partnerID); err != nil {
			return err
		}
		if err := t.LockAccount(t.ctx, clientID); err != nil {
			if ErrorKind(err) == ENOTFOUND {
				return noRelationship(clientID)
			}
			return err
		}
		if _, err := t.relationship(partnerID, clientID, true); err != nil {
			return err
		}
		by, err := t.s.accessTo(t.ctx, t, clientID)
		if ErrorKind(err) == ENOTFOUND {
			return errPartnerAdminRequired()
		} else if err != nil {
			return err
		}
		if userID == "" {
			return Invalid("invalid_request", "The request is not valid.", FieldError{"user_id", "is required"})
		}
		// A user of another tenant is named exactly as an unknown id.
		u, err := t.FindUserByID(t.ctx, userID)
		if ErrorKind(err) == ENOTFOUND || (err == nil && u.HomeAccountID != partnerID) {
			return NotFound("employee", userID)
		} else if err != nil {
			return err
		}
		m, err = t.FindMembership(t.ctx, clientID, userID)
		if ErrorKind(err) == ENOTFOUND {
			return NotFound("member", userID)
		} else if err != nil {
			return err
		}
		if own := by.membership(); own != nil && own.UserID != userID {
			if own.Kind != KindPartner || own.PartnerID != partnerID || !by.holds(PermUsersManage) {
				return Errorf(EFORBIDDEN, "partner_admin_required", "Only the super admin itself or a partner admin of this partner in the client can convert it.")
			}
		}
		if m.Role != RoleSuperAdmin {
			return Errorf(ECONFLICT, "not_super_admin", "Only super admins convert to partner admin; this member is %s.", m.Role)
		}
		if err := t.keepASuperAdmin(m); err != nil { // R-SUPER-1
			return err
		}
		perms := t.s.Catalogue.PartnerAdmin()
		if retainBilling {
			perms = Union(perms, []string{PermBillingManage})
		}
		from := m.Kind
		m.Kind, m.PartnerID, m.ManagedBy, m.Role, m.Permissions, m.GrantedBy, m.UpdatedAt =
			KindPartner, partnerID, partnerID, RolePartnerAdmin, perms, by.granter(), t.now
		if err := t.UpdateMembership(t.ctx, m); err != nil {
			return err
		}
		t.record(clientID, by, "partner_member.converted", "membership", m.ID, map[string]any{"user_id": userID, "partner_id": partnerID,
			"from_role": RoleSuperAdmin, "from_kind": from, "to_role": RolePartnerAdmin, "retain_billing": retainBilling, "granted_by": m.GrantedBy})
		m = t.s.present(t.ctx, t, m)
		t.answer(m)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return m, rev, nil
}

// ---- the client side (R-PARTNER-11) ----

// FindPartners pages through the client's partner relationships, ended ones
// included, without the partners' aliases (R-PARTNER-7). It needs
// account.partners.manage in the client.
func (s *Service) FindPartners(ctx context.Context, clientID string, page Page) ([]*Partner, string, error) {
	by, err := s.accessTo(ctx, s.Store, clientID)
	if err != nil {
		return nil, "", err
	}
	if err := by.require(PermPartnersManage); err != nil {
		return nil, "", err
	}
	return s.Store.FindPartners(ctx, clientID, s.now(), page.Normalize())
}

// EndRelationship ends P→C at the client's word (R-PARTNER-11): every
// partner membership of P in C ends at once and the relationship is ended.
// It needs account.partners.manage in C; R-SUPER-1 holds.
func (s *Service) EndRelationship(ctx context.Context, clientID, partnerID string) (*SharedRelationship, int64, error) {
	var out *SharedRelationship
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(clientID, PermPartnersManage)
		if err != nil {
			return err
		}
		r, err := t.FindRelationship(t.ctx, partnerID, clientID)
		if ErrorKind(err) == ENOTFOUND {
			return NotFound("partner", partnerID)
		} else if err != nil {
			return err
		}
		if r.At(t.now).Status == RelationshipEnded {
			return Errorf(ECONFLICT, "relationship_ended", "The relationship with this partner has ended already.")
		}
		if err := t.endRelationshipNow(by, r, "client"); err != nil {
			return err
		}
		out = r.Shared(t.now) // R-PARTNER-7: the client's answer carries no alias
		return nil
	})
	return out, rev, err
}

// endRelationshipNow ends P→C (R-PARTNER-11): every partner membership of
// P in C ends at once, P's management credit in C with them, and the
// relationship is ended, audited on both sides with reason ("client", or
// "ends_at" when its end date passed, R-LIFE-1). by is nil for the scheduler.
func (t *txn) endRelationshipNow(by *access, r *Relationship, reason string) error {
	clientID, partnerID := r.ClientID, r.PartnerID
	endedAt := t.now
	if reason == "ends_at" && r.EndsAt != nil {
		endedAt = *r.EndsAt
	}
	r.Status, r.EndedAt, r.EndsAt, r.AutoExtend, r.UpdatedAt = RelationshipEnded, &endedAt, nil, false, t.now
	if err := t.UpdateRelationship(t.ctx, r); err != nil {
		return err
	}
	ms, err := t.allMemberships(MembershipFilter{AccountID: clientID, Kind: KindPartner})
	if err != nil {
		return err
	}
	client, err := t.FindAccountByID(t.ctx, clientID)
	if err != nil {
		return err
	}
	partner, err := t.FindAccountByID(t.ctx, partnerID)
	if err != nil {
		return err
	}
	ended := 0
	for _, m := range ms {
		if m.PartnerID != partnerID {
			continue
		}
		// R-SUPER-1: the client ending it must keep a super admin; an end
		// date never ends the last one (setRelationshipEnd refuses it).
		if m.Role == RoleSuperAdmin && by != nil {
			if err := t.keepASuperAdmin(m); err != nil {
				return err
			}
		}
		if err := t.removeMembership(by, m, "partner_member.ended"); err != nil {
			return err
		}
		ended++
		u, err := t.FindUserByID(t.ctx, m.UserID)
		if err != nil {
			return err
		}
		text := fmt.Sprintf("The account %s ended its relationship with %s. Your access to %s as %s has ended.\n", client.Name, partner.Name, client.Name, m.Role)
		if reason == "ends_at" {
			text = fmt.Sprintf("The relationship of %s with %s reached its end date. Your access to %s as %s has ended.\n", partner.Name, client.Name, client.Name, m.Role)
		}
		if err := t.mail(&Message{To: u.Email, Subject: client.Name + " ended the partner relationship", Text: text, AccountID: clientID, Kind: "relationship.ended"}); err != nil {
			return err
		}
	}
	if err := t.dropManagementCredit(by, partnerID, clientID); err != nil {
		return err
	}
	details := map[string]any{"partner_id": partnerID, "client_id": clientID, "memberships_ended": ended, "reason": reason}
	if by == nil {
		details = jobDetails(details)
	}
	var partnerSide *access // the scheduler acts as nobody
	if by != nil {
		partnerSide = by.asUser()
	}
	t.record(clientID, by, "relationship.ended", "relationship", r.ID, details)
	t.record(partnerID, partnerSide, "relationship.ended", "relationship", r.ID, details)
	return nil
}

// dropManagementCredit ends P's management credit (R-PARTNER-6) on the
// memberships of C that are not P's partner memberships: everything of P in
// C ends with the relationship (R-PARTNER-11), the membership itself stays
// the client's. by is nil for the scheduler.
func (t *txn) dropManagementCredit(by *access, partnerID, clientID string) error {
	ms, err := t.allMemberships(MembershipFilter{AccountID: clientID})
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.ManagedBy != partnerID || (m.Kind == KindPartner && m.PartnerID == partnerID) {
			continue
		}
		m.ManagedBy, m.UpdatedAt = "", t.now
		if err := t.UpdateMembership(t.ctx, m); err != nil {
			return err
		}
		t.record(clientID, by, "partner_member.unlinked", "membership", m.ID, map[string]any{"user_id": m.UserID, "partner_id": partnerID})
	}
	return nil
}

// allMemberships reads every page of a membership filter.
func (t *txn) allMemberships(f MembershipFilter) ([]*Membership, error) {
	var out []*Membership
	f.Page = Page{Limit: MaxPageLimit}
	for {
		ms, next, err := t.FindMemberships(t.ctx, f)
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
		if next == "" {
			return out, nil
		}
		f.After = next
	}
}

// EndLapsedRelationships ends the ending relationships whose grace has passed
// (R-PARTNER-10), each in its own transaction with its audit events, and
// returns how many. Checks never wait for it: they judge the grace at their
// own time. The scheduler calls it.
func (s *Service) EndLapsedRelationships(ctx context.Context) (int, error) {
	n := 0
	for {
		due, err := s.Store.FindEndingRelationships(ctx, s.now(), jobBatch)
		if err != nil {
			return n, err
		}
		ended := 0
		for _, d := range due {
			_, err := s.write(ctx, func(t *txn) error {
				if err := t.LockAccount(t.ctx, d.ClientID); err != nil {
					return err
				}
				r, err := t.FindRelationship(t.ctx, d.PartnerID, d.ClientID)
				if err != nil {
					return err
				}
				if r.Status == RelationshipActive && r.At(t.now).Status == RelationshipEnded {
					return t.endRelationshipNow(nil, r, "ends_at") // R-LIFE-1: its end date passed
				}
				if r.Status != RelationshipEnding || r.At(t.now).Status != RelationshipEnded {
					return errNothingDue
				}
				r.Status, r.EndedAt, r.UpdatedAt = RelationshipEnded, r.EndsAt, t.now
				if err := t.UpdateRelationship(t.ctx, r); err != nil {
					return err
				}
				if err := t.dropManagementCredit(nil, r.PartnerID, r.ClientID); err != nil {
					return err
				}
				details := jobDetails(map[string]any{"partner_id": r.PartnerID, "client_id": r.ClientID, "reason": "grace_elapsed",
					"last_activity_at": r.LastActivityAt})
				t.record(r.ClientID, nil, "relationship.ended", "relationship", r.ID, details)
				t.record(r.PartnerID, nil, "relationship.ended", "relationship", r.ID, details)
				return nil
			})
			switch {
			case err == nil:
				ended++
			case errors.Is(err, errNothingDue):
			default:
				return n + ended, err
			}
		}
		n += ended
		if len(due) < jobBatch || ended == 0 {
			return n, nil
		}
	}
}

func (s *Service) endLapsedRelationshipsJob(ctx context.Context) error {
	_, err := s.EndLapsedRelationships(ctx)
	return err
}

// errNothingDue rolls back a job's transaction that found its row already handled.
var errNothingDue = Errorf(ECONFLICT, "nothing_due", "nothing due")

// ---- activity (R-PARTNER-10) ----

// activityRE is the shape of a reported action: dotted lower-case words.
var activityRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)

// ActivityReport is product activity reported by the operator.
type ActivityReport struct {
	UserID string `json:"user_id"`
	Action string `json:"action"`
	Target string `json:"target,omitempty"`
}

// ReportActivity records an action a user took in the account through the
// product (R-AUDIT-1). Activity of a partner's user keeps the partner's
// relationship with the account alive (R-PARTNER-10). Operator only.
func (s *Service) ReportActivity(ctx context.Context, accountID string, in ActivityReport) (*Event, int64, error) {
	if err := s.requireOperator(ctx); err != nil {
		return nil, 0, err
	}
	var e *Event
	rev, err := s.write(ctx, func(t *txn) error {
		if _, err := t.FindAccountByID(t.ctx, accountID); err != nil {
			return err
		}
		if err := checkText("user_id", in.UserID, "target", in.Target); err != nil { // SPEC §4 "Text"
			return err
		}
		var bad []FieldError
		if !activityRE.MatchString(in.Action) {
			bad = append(bad, FieldError{"action", "must be a lower-case dotted word such as contact.updated"})
		}
		if len(in.Target) > 300 {
			bad = append(bad, FieldError{"target", "must be at most 300 characters"})
		}
		u, err := t.FindUserByID(t.ctx, in.UserID)
		if ErrorKind(err) == ENOTFOUND || in.UserID == "" {
			bad = append(bad, FieldError{"user_id", "no user " + quote(in.UserID)})
		} else if err != nil {
			return err
		}
		var m *Membership
		if u != nil {
			m, err = t.FindMembership(t.ctx, accountID, u.ID)
			if ErrorKind(err) == ENOTFOUND {
				bad = append(bad, FieldError{"user_id", "is not a member of the account"})
			} else if err != nil {
				return err
			}
		}
		if len(bad) > 0 {
			return Invalid("invalid_activity", "The activity is not valid.", bad...)
		}
		ev, err := t.s.evaluate(t.ctx, t, m, t.now)
		if err != nil {
			return err
		}
		by := &access{actor: &Actor{UserID: u.ID, Operator: true}, user: u, eval: ev, held: ev.effective}
		target := in.Target
		if target == "" {
			target = u.ID
		}
		t.record(accountID, by, "product."+in.Action, "activity", target, map[string]any{"user_id": u.ID, "target": in.Target})
		e = t.events[len(t.events)-1]
		t.answer(e)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return e, rev, nil
}

// ---- offboarding (R-PARTNER-12) ----

// cascadePartnerAccess follows a user's deactivation in its home account P:
// every active membership of P the user holds in a client is suspended at
// once, with a marker; reactivation restores exactly the marked ones that
// are still suspended. by is the actor's standing in the home account.
func (t *txn) cascadePartnerAccess(by *access, u *User, status MembershipStatus, ms []*Membership) error {
	defer t.creditPartner(len(t.events), u.HomeAccountID)
	if status != StatusActive {
		for _, m := range ms {
			if m.AccountID == u.HomeAccountID || !isPartnerMembership(m, u.HomeAccountID) || m.Status != StatusActive {
				continue
			}
			prior := m.Status
			m.Status, m.UpdatedAt = StatusSuspended, t.now
			if err := t.UpdateMembership(t.ctx, m); ErrorKind(err) == ENOTFOUND {
				continue // removed meanwhile by its client: nothing to suspend
			} else if err != nil {
				return err
			}
			if err := t.CreateSuspension(t.ctx, &Suspension{MembershipID: m.ID, AccountID: m.AccountID, UserID: u.ID,
				Reason: SuspensionOffboarding, PriorStatus: prior, CreatedAt: t.now}); err != nil {
				return err
			}
			t.record(m.AccountID, by.asUser(), "partner_member.suspended", "membership", m.ID, map[string]any{"user_id": u.ID, "reason": SuspensionOffboarding})
		}
		return nil
	}
	sps, err := t.FindSuspensions(t.ctx, u.ID)
	if err != nil {
		return err
	}
	for _, sp := range sps {
		if sp.Reason != SuspensionOffboarding {
			continue
		}
		if err := t.DeleteSuspension(t.ctx, sp.MembershipID); err != nil {
			return err
		}
		m, err := t.FindMembershipByID(t.ctx, sp.AccountID, sp.MembershipID)
		if ErrorKind(err) == ENOTFOUND {
			continue
		} else if err != nil {
			return err
		}
		if m.Status != StatusSuspended {
			continue // changed since, by someone else: theirs to undo
		}
		m.Status, m.UpdatedAt = sp.PriorStatus, t.now
		if err := t.UpdateMembership(t.ctx, m); err != nil {
			return err
		}
		t.record(m.AccountID, by.asUser(), "partner_member.restored", "membership", m.ID, map[string]any{"user_id": u.ID, "reason": SuspensionOffboarding})
	}
	return nil
}

// creditPartner marks the events recorded since mark in other accounts by an
// actor without a membership there — the partner console acting on clients
// from P — as taken on behalf of partner P, so that the client's log and the
// partner's filter them by partner (R-AUDIT-3).
func (t *txn) creditPartner(mark int, partnerID string) {
	for _, e := range t.events[mark:] {
		if e.AccountID != partnerID && e.Actor.MembershipID == "" && e.Actor.PartnerID == "" {
			e.Actor.PartnerID = partnerID
		}
	}
}

// displayName names the actor in mail.
func (a *access) displayName() string {
	if a.user == nil {
		return "The platform"
	}
	return a.user.Name + " (" + a.user.Email + ")"
}

// permissionList shows a permission set in mail.
func permissionList(perms []string) string {
	if len(perms) == 0 {
		return "no permission yet"
	}
	return strings.Join(perms, ", ")
}

// lockOrder returns a sorted copy, the order in which accounts are locked.
func lockOrder(list []string) []string {
	out := slices.Clone(list)
	slices.Sort(out)
	return out
}

// FindPartnerEvents pages through what the partner's employees did in its
// clients, newest first: the events of partner memberships of P and of P's
// console acting on clients (R-AUDIT-3). f.AccountID, when set, narrows to
// one client. It needs account.audit.view in P.
func (s *Service) FindPartnerEvents(ctx context.Context, partnerID string, f AuditFilter) ([]*Event, string, error) {
	if err := f.checkText(); err != nil {
		return nil, "", err
	}
	by, _, err := s.partnerAccess(ctx, s.Store, partnerID)
	if err != nil {
		return nil, "", err
	}
	if err := by.require(PermAuditView); err != nil {
		return nil, "", err
	}
	f.ActorPartnerID, f.ActorHomeAccountID = partnerID, ""
	if f.Limit <= 0 || f.Limit > MaxPageLimit {
		f.Limit = Page{Limit: f.Limit}.Normalize().Limit
	}
	return s.Store.FindEvents(ctx, f)
}
