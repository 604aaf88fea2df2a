package steward

import (
	"context"
	"strconv"
	"strings"
)

// access is the actor's standing in one account: what it holds there and
// through which membership. The operator acting as itself holds everything.
type access struct {
	actor *Actor
	user  *User       // nil for the operator acting as itself
	eval  *evaluation // nil for the operator acting as itself
	held  []string
}

// accessTo resolves the request's actor in accountID. An account the actor
// has no membership in is ENOTFOUND, so other tenants' ids are never
// confirmed; a membership that does not hold now is EFORBIDDEN with the reason.
func (s *Service) accessTo(ctx context.Context, st Store, accountID string) (*access, error) {
	a := ActorFromContext(ctx)
	if a == nil {
		return nil, Errorf(EUNAUTHENTICATED, "unauthenticated", "A bearer token is required.")
	}
	if err := checkText("account", accountID); err != nil { // SPEC §4 "Text"
		return nil, err
	}
	if a.IsOperator() {
		if _, err := st.FindAccountByID(ctx, accountID); err != nil {
			return nil, err
		}
		return &access{actor: a, held: s.Catalogue.All()}, nil
	}
	u, err := st.FindUserByID(ctx, a.UserID)
	if err != nil {
		return nil, err
	}
	m, err := st.FindMembership(ctx, accountID, a.UserID)
	if ErrorKind(err) == ENOTFOUND {
		return nil, NotFound("account", accountID)
	} else if err != nil {
		return nil, err
	}
	ev, err := s.evaluate(ctx, st, m, s.now())
	if err != nil {
		return nil, err
	}
	if !ev.holds {
		return nil, Errorf(EFORBIDDEN, ev.denial, "Your access to this account does not hold: %s", strings.ToLower(reasonMessages[ev.denial]))
	}
	return &access{actor: a, user: u, eval: ev, held: ev.effective}, nil
}

// holds reports whether the actor holds perm in the account.
func (a *access) holds(perm string) bool { return Contains(a.held, perm) }

// holdsAll reports whether the actor holds every permission of the catalogue.
func (a *access) holdsAll(cat *Catalogue) bool { return len(Minus(cat.All(), a.held)) == 0 }

// require returns EFORBIDDEN unless the actor holds every perm.
func (a *access) require(perms ...string) error {
	var missing []string
	for _, p := range perms {
		if !a.holds(p) {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return Errorf(EFORBIDDEN, "permission_required", "This needs the permission %s in the account.", strings.Join(missing, ", "))
	}
	return nil
}

// granter is what a grant records as its granter (R-GRANT-4).
func (a *access) granter() string {
	if a.user == nil {
		return "operator"
	}
	return a.user.ID
}

// membership returns the actor's own membership, nil for the operator.
func (a *access) membership() *Membership {
	if a.eval == nil {
		return nil
	}
	return a.eval.members[0]
}

func (a *access) eventActor() EventActor {
	ea := EventActor{Operator: a.actor.Operator}
	if a.user != nil {
		ea.UserID, ea.Email, ea.HomeAccountID = a.user.ID, a.user.Email, a.user.HomeAccountID
	}
	if m := a.membership(); m != nil {
		ea.MembershipID, ea.Kind, ea.PartnerID = m.ID, m.Kind, m.PartnerID
		for _, link := range a.eval.members {
			ea.Chain = append(ea.Chain, link.ID)
		}
	}
	return ea
}

// notHeld returns the 403 permission_not_held error naming the permissions of
// want the actor lacks, or nil. Creating or editing a role, inviting or
// delegating with any of them is refused whole (SPEC §4 "Refuse or filter").
func (a *access) notHeld(field string, want []string) error {
	missing := Minus(want, a.held)
	if len(missing) == 0 {
		return nil
	}
	fields := make([]FieldError, len(missing))
	for i, p := range missing {
		fields[i] = FieldError{Field: field, Message: "you do not hold " + quote(p)}
	}
	return &Error{Kind: EFORBIDDEN, Code: "permission_not_held",
		Message: "Nobody can give a permission they do not hold; you lack: " + strings.Join(missing, ", ") + ".",
		Fields:  fields}
}

func quote(s string) string { return strconv.Quote(s) }
