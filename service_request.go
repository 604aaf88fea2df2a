package steward

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Access requests (SPEC §6): an outsider asks for the permissions it lacks,
// and a member who holds them consents to the difference only.

// NewAccessRequest is the body of POST /v1/accounts/{account}/access-requests.
type NewAccessRequest struct {
	UserID      string     `json:"user_id"`
	Permissions []string   `json:"permissions"`
	Reason      string     `json:"reason"`
	EndsAt      *time.Time `json:"ends_at,omitempty"`
}

// RequestAccess files an access request (R-REQUEST-1): a partner admin for
// itself or for an employee of its partner in the account, an external user
// for itself. Only permissions the membership does not hold may be asked
// for; never-delegable ones are refused. The account's approvers are mailed.
func (s *Service) RequestAccess(ctx context.Context, accountID string, in NewAccessRequest) (*AccessRequest, int64, error) {
	var out *AccessRequest
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(accountID)
		if err != nil {
			return err
		}
		if err := checkText("user_id", in.UserID, "reason", in.Reason); err != nil {
			return err
		}
		mine := by.membership()
		if mine == nil {
			return Errorf(EFORBIDDEN, "requester_not_allowed", "Access requests come from a partner admin or an external user of the account; act as one.")
		}
		switch {
		case mine.Kind == KindExternal:
			if in.UserID != mine.UserID {
				return Errorf(EFORBIDDEN, "requester_not_allowed", "An external user asks for access for itself only.")
			}
		case mine.Kind == KindPartner && mine.Role == RolePartnerAdmin:
		default:
			return Errorf(EFORBIDDEN, "requester_not_allowed", "Only a partner admin (for itself or an employee of its partner) or an external user (for itself) asks for access.")
		}
		m, err := t.FindMembership(t.ctx, accountID, in.UserID)
		if ErrorKind(err) == ENOTFOUND {
			return NotFound("user", in.UserID)
		} else if err != nil {
			return err
		}
		if mine.Kind == KindPartner && (m.Kind != KindPartner || m.PartnerID != mine.PartnerID) {
			return NotFound("user", in.UserID) // not an employee of the same partner here: as unknown
		}
		var bad []FieldError
		reason := strings.TrimSpace(in.Reason)
		if reason == "" || len(reason) > 1000 {
			bad = append(bad, FieldError{"reason", "must be 1 to 1000 characters"})
		}
		if len(in.Permissions) == 0 {
			bad = append(bad, FieldError{"permissions", "name at least one permission"})
		}
		if len(bad) > 0 {
			return Invalid("invalid_access_request", "The access request is not valid.", bad...)
		}
		perms, err := t.s.Catalogue.Validate("permissions", in.Permissions)
		if err != nil {
			return err
		}
		if err := t.refuseNeverDelegable(accountID, "permissions", perms); err != nil { // R-REQUEST-1, R-GUARD-3
			return err
		}
		var console []FieldError
		for _, k := range perms {
			if PartnerConsolePermission(k) { // R-PARTNER-1: never held through an outsider's membership
				console = append(console, FieldError{"permissions", quote(k) + " is held only by the partner account's own users"})
			}
		}
		if len(console) > 0 {
			return Invalid("permission_not_grantable", "Partner console permissions cannot be asked for in a client account.", console...)
		}
		ev, err := t.s.evaluate(t.ctx, t, m, t.now)
		if err != nil {
			return err
		}
		if !ev.holds {
			return Errorf(ECONFLICT, "membership_inactive", "The membership does not hold now (%s); it cannot be widened by a request.", ev.denial)
		}
		if held := Intersect(perms, ev.effective); len(held) > 0 { // R-REQUEST-1: only what is not held
			fields := make([]FieldError, len(held))
			for i, k := range held {
				fields[i] = FieldError{"permissions", quote(k) + " is already held"}
			}
			return Invalid("permission_already_held", "Ask only for permissions the membership does not hold.", fields...)
		}
		endsAt := utcPtr(in.EndsAt)
		if endsAt != nil && !endsAt.After(t.now) {
			return Invalid("invalid_end_dates", "The end dates are not valid.", FieldError{"ends_at", "must be in the future"})
		}
		r := &AccessRequest{ID: NewID(PrefixAccessRequest, t.now), AccountID: accountID, UserID: m.UserID, MembershipID: m.ID,
			RequestedBy: by.granter(), Permissions: perms, Reason: reason, EndsAt: endsAt, Status: RequestPending,
			ExpiresAt: t.now.Add(AccessRequestTTL), CreatedAt: t.now, UpdatedAt: t.now}
		if err := t.CreateAccessRequest(t.ctx, r); err != nil {
			return err
		}
		t.record(accountID, by, "access_request.created", "access_request", r.ID, map[string]any{
			"user_id": r.UserID, "membership_id": m.ID, "kind": m.Kind, "permissions": perms, "reason": reason, "ends_at": endsAt, "expires_at": r.ExpiresAt,
		})
		if err := t.mailApprovers(by, r, m); err != nil { // R-REQUEST-2: both sides are mailed
			return err
		}
		out = r
		t.answer(r)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}

// approverPermission is what an approver needs besides the requested
// permissions (R-REQUEST-2).
func approverPermission(k MembershipKind) string {
	if k == KindPartner {
		return PermPartnersManage
	}
	return PermUsersManage
}

// mailApprovers tells the account's active internal super admins of a new
// request, and the requesting user that it was filed.
func (t *txn) mailApprovers(by *access, r *AccessRequest, m *Membership) error {
	acc, err := t.FindAccountByID(t.ctx, r.AccountID)
	if err != nil {
		return err
	}
	u, err := t.FindUserByID(t.ctx, r.UserID)
	if err != nil {
		return err
	}
	text := fmt.Sprintf("%s asks for more access in %s for %s (%s, a %s member):\n\n  %s\n\nReason: %s\n\n"+
		"A member who holds these permissions and %s can approve or decline it until %s:\n%s\n",
		by.displayName(), acc.Name, u.Name, u.Email, m.Kind, strings.Join(r.Permissions, ", "), r.Reason,
		approverPermission(m.Kind), r.ExpiresAt.Format(time.RFC1123), t.s.requestURL(r))
	for page := (Page{Limit: MaxPageLimit}); ; {
		ms, next, err := t.FindMemberships(t.ctx, MembershipFilter{AccountID: r.AccountID, Role: RoleSuperAdmin, Kind: KindInternal, Page: page})
		if err != nil {
			return err
		}
		for _, admin := range ms {
			au, err := t.FindUserByID(t.ctx, admin.UserID)
			if err != nil || admin.Status != StatusActive || au.Status != UserActive {
				continue
			}
			if err := t.mail(&Message{To: au.Email, Subject: "Access request in " + acc.Name, Text: text, AccountID: r.AccountID, Kind: "access_request.created"}); err != nil {
				return err
			}
		}
		if next == "" {
			break
		}
		page.After = next
	}
	return t.mail(&Message{To: u.Email, Subject: "Your access request in " + acc.Name, AccountID: r.AccountID, Kind: "access_request.filed",
		Text: fmt.Sprintf("An access request for %s in %s was filed. It expires on %s if nobody answers it.\n",
			strings.Join(r.Permissions, ", "), acc.Name, r.ExpiresAt.Format(time.RFC1123))})
}

func (s *Service) requestURL(r *AccessRequest) string {
	return strings.TrimSuffix(s.BaseURL, "/") + "/v1/accounts/" + r.AccountID + "/access-requests/" + r.ID
}

// ApproveAccessRequest approves a pending request (R-REQUEST-2): the
// approver holds every requested permission and account.partners.manage
// (partner membership) or account.users.manage (external). Exactly the
// difference the membership lacks is added, as a grant of its own with the
// approver as granter and the request's end date; nothing else changes.
func (s *Service) ApproveAccessRequest(ctx context.Context, accountID, id string) (*AccessRequest, int64, error) {
	return s.decideAccessRequest(ctx, accountID, id, RequestApproved)
}

// DeclineAccessRequest declines a pending request under the same rule.
func (s *Service) DeclineAccessRequest(ctx context.Context, accountID, id string) (*AccessRequest, int64, error) {
	return s.decideAccessRequest(ctx, accountID, id, RequestDeclined)
}

func (s *Service) decideAccessRequest(ctx context.Context, accountID, id string, status AccessRequestStatus) (*AccessRequest, int64, error) {
	var out *AccessRequest
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(accountID)
		if err != nil {
			return err
		}
		if err := checkText("request", id); err != nil {
			return err
		}
		r, err := t.FindAccessRequest(t.ctx, accountID, id)
		if err != nil {
			return err
		}
		m, err := t.FindMembershipByID(t.ctx, accountID, r.MembershipID)
		if err != nil && ErrorKind(err) != ENOTFOUND {
			return err
		}
		kind := KindExternal
		if m != nil {
			kind = m.Kind
		}
		if err := by.require(approverPermission(kind)); err != nil { // R-REQUEST-2
			return err
		}
		if err := by.notHeld("permissions", r.Permissions); err != nil { // R-REQUEST-2, R-GRANT-1
			return err
		}
		if own := by.membership(); own != nil && m != nil && own.ID == m.ID {
			return Errorf(EFORBIDDEN, "own_access", "A request is decided by someone else than its subject.")
		}
		switch {
		case r.Status != RequestPending:
			return Errorf(ECONFLICT, "request_not_pending", "The request is already %s.", r.Status)
		case !t.now.Before(r.ExpiresAt):
			return Errorf(EGONE, "request_expired", "The request expired on %s unanswered; ask again.", r.ExpiresAt.Format(time.RFC3339))
		case m == nil:
			return Errorf(ECONFLICT, "membership_gone", "The membership this request was for no longer exists.")
		}
		r.Status, r.DecidedBy, r.DecidedAt, r.UpdatedAt = status, by.granter(), &t.now, t.now
		if status == RequestDeclined {
			if err := t.UpdateAccessRequest(t.ctx, r); err != nil {
				return err
			}
			t.record(accountID, by, "access_request.declined", "access_request", r.ID, map[string]any{"user_id": r.UserID, "membership_id": m.ID, "permissions": r.Permissions})
			out = r
			t.answer(r)
			return t.mailDecision(by, r, nil)
		}
		if err := t.refuseNeverDelegable(accountID, "permissions", r.Permissions); err != nil { // the policy may have changed since (R-GUARD-3)
			return err
		}
		ev, err := t.s.evaluate(t.ctx, t, m, t.now)
		if err != nil {
			return err
		}
		if !ev.holds {
			return Errorf(ECONFLICT, "membership_inactive", "The membership does not hold now (%s); it cannot be widened.", ev.denial)
		}
		added := Minus(r.Permissions, ev.effective) // exactly the difference
		end := r.EndsAt
		granterEnd, err := t.grantEnd(by)
		if err != nil {
			return err
		}
		end = earliest(end, granterEnd) // R-GRANT-5: nothing outlives its granter
		if len(added) > 0 {
			m.Grants = append(m.Grants, Grant{Permissions: added, GrantedBy: by.granter(), EndsAt: end, RequestID: r.ID, CreatedAt: t.now})
			m.UpdatedAt = t.now
			if err := t.UpdateMembership(t.ctx, m); err != nil {
				return err
			}
		}
		if err := t.UpdateAccessRequest(t.ctx, r); err != nil {
			return err
		}
		t.record(accountID, by, "access_request.approved", "membership", m.ID, map[string]any{
			"request_id": r.ID, "user_id": m.UserID, "added": added, "ends_at": end, "granted_by": by.granter(), // R-GRANT-4
		})
		out = r
		t.answer(r)
		return t.mailDecision(by, r, added)
	})
	if err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}

// mailDecision tells the user and, when another filed it, the requester.
func (t *txn) mailDecision(by *access, r *AccessRequest, added []string) error {
	acc, err := t.FindAccountByID(t.ctx, r.AccountID)
	if err != nil {
		return err
	}
	text := fmt.Sprintf("%s %s the access request for %s in %s.\n", by.displayName(), r.Status, strings.Join(r.Permissions, ", "), acc.Name)
	if r.Status == RequestApproved {
		text += fmt.Sprintf("Added: %s.\n", permissionList(added))
		if g := r.EndsAt; g != nil {
			text += fmt.Sprintf("They end on %s.\n", g.Format(time.RFC1123))
		}
	}
	return t.mailRequestSide(r, "Access request "+string(r.Status)+" in "+acc.Name, text, "access_request."+string(r.Status))
}

func (t *txn) mailRequestSide(r *AccessRequest, subject, text, kind string) error {
	to := []string{r.UserID}
	if r.RequestedBy != r.UserID && r.RequestedBy != "operator" {
		to = append(to, r.RequestedBy)
	}
	for _, id := range to {
		u, err := t.FindUserByID(t.ctx, id)
		if ErrorKind(err) == ENOTFOUND {
			continue
		} else if err != nil {
			return err
		}
		if err := t.mail(&Message{To: u.Email, Subject: subject, Text: text, AccountID: r.AccountID, Kind: kind}); err != nil {
			return err
		}
	}
	return nil
}

// mayListRequests says whether the actor sees every request of the account:
// holders of account.users.manage or account.partners.manage.
func (a *access) mayListRequests() bool {
	return a.holds(PermUsersManage) || a.holds(PermPartnersManage)
}

// FindAccessRequests lists the account's requests, optionally of one status,
// to holders of account.users.manage or account.partners.manage; with Mine
// (or Party set to the actor), the actor's own to any member of the account.
func (s *Service) FindAccessRequests(ctx context.Context, f AccessRequestFilter) ([]*AccessRequest, string, error) {
	by, err := s.accessTo(ctx, s.Store, f.AccountID)
	if err != nil {
		return nil, "", err
	}
	if f.Mine {
		if by.user == nil { // an operator or a token of no user files no request
			return []*AccessRequest{}, "", nil
		}
		f.Party = by.user.ID
	}
	// R-REQUEST-1: the requester follows its own requests; the account's
	// other requests are listed only to those who approve them.
	if !by.mayListRequests() && (by.user == nil || f.Party != by.user.ID) {
		return nil, "", by.require(PermUsersManage)
	}
	if err := checkText("user_id", f.Party); err != nil {
		return nil, "", err
	}
	switch f.Status {
	case "", RequestPending, RequestApproved, RequestDeclined, RequestExpired:
	default:
		return nil, "", Invalid("invalid_status", "Unknown status.", FieldError{"status", "must be pending, approved, declined or expired"})
	}
	f.Page = f.Page.Normalize()
	rs, next, err := s.Store.FindAccessRequests(ctx, f)
	if err != nil {
		return nil, "", err
	}
	for _, r := range rs {
		s.presentRequest(r)
	}
	return rs, next, nil
}

// FindAccessRequest returns one request to those who list them and to its
// user and requester.
func (s *Service) FindAccessRequest(ctx context.Context, accountID, id string) (*AccessRequest, error) {
	by, err := s.accessTo(ctx, s.Store, accountID)
	if err != nil {
		return nil, err
	}
	if err := checkText("request", id); err != nil {
		return nil, err
	}
	r, err := s.Store.FindAccessRequest(ctx, accountID, id)
	if err != nil {
		return nil, err
	}
	if !by.mayListRequests() && (by.user == nil || (by.user.ID != r.UserID && by.user.ID != r.RequestedBy)) {
		return nil, NotFound("access request", id)
	}
	s.presentRequest(r)
	return r, nil
}

// presentRequest shows a pending request whose time has passed as expired,
// whether or not the job has recorded it yet.
func (s *Service) presentRequest(r *AccessRequest) {
	if r.Status == RequestPending && !s.now().Before(r.ExpiresAt) {
		r.Status = RequestExpired
	}
}

// ExpireAccessRequests marks pending requests unanswered for 7 days as
// expired, each with its audit event, and mails both sides; it reads only
// the requests that are due.
func (s *Service) ExpireAccessRequests(ctx context.Context) error {
	for {
		due, err := s.Store.FindDueAccessRequests(ctx, s.now(), jobBatch)
		if err != nil || len(due) == 0 {
			return err
		}
		done := 0
		for _, r := range due {
			_, err := s.write(ctx, func(t *txn) error {
				if err := t.LockAccount(t.ctx, r.AccountID); err != nil { // against a concurrent decision
					return err
				}
				cur, err := t.FindAccessRequest(t.ctx, r.AccountID, r.ID)
				if err != nil {
					return err
				}
				if cur.Status != RequestPending || t.now.Before(cur.ExpiresAt) {
					return errNotDue
				}
				cur.Status, cur.UpdatedAt = RequestExpired, t.now
				if err := t.UpdateAccessRequest(t.ctx, cur); err != nil {
					return err
				}
				t.record(cur.AccountID, nil, "access_request.expired", "access_request", cur.ID,
					jobDetails(map[string]any{"user_id": cur.UserID, "permissions": cur.Permissions, "expires_at": cur.ExpiresAt}))
				acc, err := t.FindAccountByID(t.ctx, cur.AccountID)
				if err != nil {
					return err
				}
				return t.mailRequestSide(cur, "Access request expired in "+acc.Name,
					fmt.Sprintf("Nobody answered the access request for %s in %s within 7 days; it has expired.\n", strings.Join(cur.Permissions, ", "), acc.Name),
					"access_request.expired")
			})
			if err != nil && !errors.Is(err, errNotDue) {
				return err
			}
			done++
		}
		if done == 0 {
			return nil
		}
	}
}
