package steward

import (
	"context"
	"slices"
	"time"
)

// PermissionChange is what one membership gains, loses, and keeps only
// because the actor does not hold it (R-GRANT-2), in a preview
// (R-PREVIEW-1). Permissions are those a check would allow (R-CHECK-1): a
// super admin holds everything, a delegate at most its parent's, and a
// membership that does not hold (deactivated, suspended, expired, a
// delegate whose parent stopped re-delegating) holds nothing. A membership
// the change creates gains all it will hold; one it removes, or whose
// delegation it ends, loses all it held.
type PermissionChange struct {
	MembershipID string     `json:"membership_id" doc:"The membership (mem_…)."`
	UserID       string     `json:"user_id" doc:"Its user."`
	AccountID    string     `json:"account_id" doc:"Its account."`
	Gained       []string   `json:"gained" doc:"Permissions it would hold and does not hold now, sorted."`
	Lost         []string   `json:"lost" doc:"Permissions it holds now and would no longer hold, sorted."`
	KeptNotHeld  []string   `json:"kept_not_held" doc:"Permissions the request's set leaves out that it keeps because the actor does not hold them (R-GRANT-2), sorted."`
	End          *EndChange `json:"end,omitempty" doc:"Present when the request moves the membership's own end date (a policy's new maximum, an edit of an external user)."`
}

// EndChange is how a request moves a membership's end date in a preview:
// from and to are null for no end.
type EndChange struct {
	From *time.Time `json:"from" doc:"The end date now; null for none."`
	To   *time.Time `json:"to" doc:"The end date after the request; null for none."`
}

// RelationshipChange is how a request moves the end date of a partner
// relationship in a preview (R-PREVIEW-1): a tighter max_partner_days
// brings it earlier (R-GUARD-4, R-LIFE-1). The partner memberships of the
// relationship are not written, they end with it at check time, so
// Changes does not list them.
type RelationshipChange struct {
	RelationshipID string    `json:"relationship_id" doc:"The partner relationship (rel_…)."`
	PartnerID      string    `json:"partner_id" doc:"The partner account, whose members' access in the client ends with the relationship."`
	ClientID       string    `json:"client_id" doc:"The client account."`
	End            EndChange `json:"end" doc:"The relationship's end date now and after the request."`
}

// Preview is the answer of a request made with dry_run (R-PREVIEW-1): what
// the request would change, computed by the request's own code in a
// transaction that is rolled back, so that nothing is written (no event,
// no revision, no mail, no change-feed entry, no Idempotency-Key answer).
type Preview struct {
	DryRun  bool               `json:"dry_run" doc:"Always true: nothing was changed."`
	Changes []PermissionChange `json:"changes" doc:"Every membership the request would write, in the order it writes them."`
	// Relationships are the partner relationships whose end the request
	// moves: their partner members' access ends with them.
	Relationships []RelationshipChange `json:"relationships,omitempty" doc:"Every partner relationship whose end date the request would move (a tighter max_partner_days, R-GUARD-4), in the order it writes them; the access of the partner's members in the client ends with it. Left out when there is none."`

	done bool
}

// Done reports whether a write ran to its end in dry-run mode: the preview
// is the request's answer. A request that failed first answers its error.
func (p *Preview) Done() bool { return p != nil && p.done }

type previewKey struct{}

// NewContextWithDryRun returns ctx asking every write made with it to run
// in dry-run mode and to describe itself in p (R-PREVIEW-1).
func NewContextWithDryRun(ctx context.Context, p *Preview) context.Context {
	return context.WithValue(ctx, previewKey{}, p)
}

// DryRunFromContext returns the preview a dry run of ctx fills, if any.
func DryRunFromContext(ctx context.Context) *Preview {
	p, _ := ctx.Value(previewKey{}).(*Preview)
	return p
}

// errDryRun ends the transaction of a dry run once its preview is made, so
// that it rolls back. It is the write's error: the request answers the
// preview in its place (see Preview.Done).
var errDryRun = Errorf(ECONFLICT, "dry_run", "A dry run changes nothing.")

// IsDryRun reports whether err is the end of a dry run rather than a
// failure.
func IsDryRun(err error) bool { return err == errDryRun }

// dryRun follows what a write in dry-run mode does to memberships: each
// one's effective permissions the first time the write touches it, taken
// before the write changes it, and what R-GRANT-2 kept of it.
type dryRun struct {
	order   []string               // membership ids, in the order first touched
	before  map[string]*Membership // the stored membership before the write; nil if created
	perms   map[string][]string    // its effective permissions before the write
	kept    map[string][]string    // kept_not_held, where a set was applied
	created map[string]string      // the account of each membership the write created
	quiet   map[string]bool        // taken beforehand; listed only if the write changes it

	rels      []string                 // relationship ids, in the order first written
	relBefore map[string]*Relationship // the stored relationship before the write
}

func newDryRun() *dryRun {
	return &dryRun{before: map[string]*Membership{}, perms: map[string][]string{}, kept: map[string][]string{}, created: map[string]string{}, quiet: map[string]bool{},
		relBefore: map[string]*Relationship{}}
}

// UpdateRelationship writes r; a dry run first takes the stored
// relationship, so that the preview shows how its end moves (R-PREVIEW-1):
// its partner memberships hang on it at check time and are not written.
func (t *txn) UpdateRelationship(ctx context.Context, r *Relationship) error {
	if t.dry != nil {
		if _, ok := t.dry.relBefore[r.ID]; !ok {
			b, err := t.Store.FindRelationship(ctx, r.PartnerID, r.ClientID)
			if err != nil {
				return err
			}
			t.dry.rels = append(t.dry.rels, r.ID)
			t.dry.relBefore[r.ID] = b
		}
	}
	return t.Store.UpdateRelationship(ctx, r)
}

// relationshipChanges describes, once the write has run, the relationships
// whose end date it moved, from the state taken before each first write.
func (t *txn) relationshipChanges() ([]RelationshipChange, error) {
	var out []RelationshipChange
	for _, id := range t.dry.rels {
		b := t.dry.relBefore[id]
		r, err := t.Store.FindRelationship(t.ctx, b.PartnerID, b.ClientID)
		if err != nil {
			return nil, err
		}
		if r.ID != id || sameTime(b.EndsAt, r.EndsAt) {
			continue
		}
		out = append(out, RelationshipChange{RelationshipID: id, PartnerID: r.PartnerID, ClientID: r.ClientID, End: EndChange{From: b.EndsAt, To: r.EndsAt}})
	}
	return out, nil
}

// capture takes the state of the stored membership id and, since a
// delegate holds at most its parent's, of its delegates, before the write
// changes them. A membership seen once keeps its first state.
func (t *txn) capture(accountID, id string) error {
	if t.dry == nil {
		return nil
	}
	if _, ok := t.dry.perms[id]; ok {
		return nil
	}
	m, err := t.Store.FindMembershipByID(t.ctx, accountID, id)
	if ErrorKind(err) == ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	t.dry.order = append(t.dry.order, id)
	t.dry.before[id] = m
	if t.dry.perms[id], err = t.held(m); err != nil {
		return err
	}
	for page := (Page{Limit: MaxPageLimit}); ; {
		ds, next, err := t.Store.FindMemberships(t.ctx, MembershipFilter{AccountID: accountID, ParentID: id, Page: page})
		if err != nil {
			return err
		}
		for _, d := range ds {
			if err := t.capture(accountID, d.ID); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		page.After = next
	}
}

// captureOutsiders takes, for a preview, the state of every partner,
// external and delegate membership of the account before a change of the
// account's policy, which reaches them without writing them (a
// never-delegable permission stops holding, R-GUARD-3, R-GUARD-4). Those
// the change leaves as they were are not listed. A real write does
// nothing here.
func (t *txn) captureOutsiders(accountID string) error {
	if t.dry == nil {
		return nil
	}
	for page := (Page{Limit: MaxPageLimit}); ; {
		ms, next, err := t.Store.FindMemberships(t.ctx, MembershipFilter{AccountID: accountID, Page: page})
		if err != nil {
			return err
		}
		for _, m := range ms {
			if !Outsider(m.Kind) {
				continue
			}
			if _, seen := t.dry.perms[m.ID]; !seen {
				t.dry.quiet[m.ID] = true
			}
			if err := t.capture(accountID, m.ID); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		page.After = next
	}
}

// held returns the permissions m lets its user use now, as a check
// answers them (R-CHECK-1): none when the membership or a link it hangs on
// does not hold.
func (t *txn) held(m *Membership) ([]string, error) {
	ev, err := t.s.evaluate(t.ctx, t.Store, m, t.now)
	if err != nil || !ev.holds {
		return nil, err
	}
	return ev.effective, nil
}

// keptNotHeld notes, for a preview, what applying a set to m keeps of
// current only because the actor does not hold it (R-GRANT-2).
func (t *txn) keptNotHeld(m *Membership, current, set, held []string) {
	if t.dry != nil {
		t.dry.kept[m.ID] = Minus(Minus(current, set), held)
	}
}

// UpdateMembership writes m; a dry run first takes its state before.
func (t *txn) UpdateMembership(ctx context.Context, m *Membership) error {
	if err := t.capture(m.AccountID, m.ID); err != nil {
		return err
	}
	return t.Store.UpdateMembership(ctx, m)
}

// UpdateMembershipEnds writes the end dates of many memberships of the
// account at once; a dry run first takes their state.
func (t *txn) UpdateMembershipEnds(ctx context.Context, accountID string, ms []*Membership) error {
	for _, m := range ms {
		if err := t.capture(accountID, m.ID); err != nil {
			return err
		}
	}
	return t.Store.UpdateMembershipEnds(ctx, accountID, ms)
}

// DeleteMembership deletes a membership; a dry run first takes its state.
func (t *txn) DeleteMembership(ctx context.Context, accountID, id string) error {
	if err := t.capture(accountID, id); err != nil {
		return err
	}
	if err := t.membershipLeaves(accountID, id); err != nil { // R-ELEVATE-2, R-GRANT-5
		return err
	}
	return t.Store.DeleteMembership(ctx, accountID, id)
}

// UpdateUser writes u; a dry run first takes the state of every membership
// of the user, since its status decides whether they hold.
func (t *txn) UpdateUser(ctx context.Context, u *User) error {
	if t.dry != nil {
		ms, err := t.Store.FindUserMemberships(ctx, u.ID)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if err := t.capture(m.AccountID, m.ID); err != nil {
				return err
			}
		}
	}
	return t.Store.UpdateUser(ctx, u)
}

// noteCreated notes, for a preview, a membership the write creates.
func (t *txn) noteCreated(m *Membership) {
	if t.dry == nil {
		return
	}
	if _, ok := t.dry.perms[m.ID]; ok {
		return
	}
	t.dry.order = append(t.dry.order, m.ID)
	t.dry.before[m.ID] = nil
	t.dry.perms[m.ID] = nil
	t.dry.created[m.ID] = m.AccountID
}

// preview describes, once fn has run, what the write changed in every
// membership it touched: the differences of effective permissions between
// the state taken before and the state in the transaction now.
func (t *txn) preview() ([]PermissionChange, error) {
	out := []PermissionChange{}
	for _, id := range t.dry.order {
		b := t.dry.before[id]
		var accountID string
		var userID string
		if b != nil {
			accountID, userID = b.AccountID, b.UserID
		}
		var after []string
		var m *Membership
		var err error
		if b != nil {
			m, err = t.Store.FindMembershipByID(t.ctx, accountID, id)
		} else {
			m, err = t.createdMembership(id)
		}
		if err != nil && ErrorKind(err) != ENOTFOUND {
			return nil, err
		}
		if m != nil {
			accountID, userID = m.AccountID, m.UserID
			if after, err = t.held(m); err != nil {
				return nil, err
			}
		}
		if accountID == "" {
			continue // created and removed again in the same write
		}
		before := t.dry.perms[id]
		c := PermissionChange{
			MembershipID: id, UserID: userID, AccountID: accountID,
			Gained: sortedSet(Minus(after, before)), Lost: sortedSet(Minus(before, after)),
			KeptNotHeld: sortedSet(t.dry.kept[id]),
		}
		if b != nil && m != nil && !sameTime(b.EndsAt, m.EndsAt) {
			c.End = &EndChange{From: b.EndsAt, To: m.EndsAt}
		}
		if t.dry.quiet[id] && len(c.Gained) == 0 && len(c.Lost) == 0 && len(c.KeptNotHeld) == 0 && c.End == nil {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// createdMembership finds a membership the write created, in whichever
// account it is.
func (t *txn) createdMembership(id string) (*Membership, error) {
	if m, ok := t.dry.created[id]; ok {
		return t.Store.FindMembershipByID(t.ctx, m, id)
	}
	return nil, Errorf(ENOTFOUND, "not_found", "membership %s not found", id)
}

// sortedSet returns set sorted, never nil (an empty list in JSON).
func sortedSet(set []string) []string {
	out := append([]string{}, set...)
	slices.Sort(out)
	return slices.Compact(out)
}
