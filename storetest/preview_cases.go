package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/steward-iam/steward"
)

// effective returns, for every member of the account, the permissions a
// check allows it there (R-CHECK-1), by user id.
func effective(t *testing.T, w *World, accountID string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	page := steward.Page{Limit: 500}
	for {
		ms, next, err := w.Svc.FindMembers(w.Op, steward.MembershipFilter{AccountID: accountID, Page: page})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			out[m.UserID] = []string{}
			as, _, err := w.Svc.FindUserAccounts(w.Op, m.UserID, steward.AccessQuery{})
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range as {
				if a.AccountID == accountID {
					out[m.UserID] = a.Permissions
				}
			}
		}
		if next == "" {
			return out
		}
		page.After = next
	}
}

// dryRun runs call with a preview in its context and returns it with the
// call's error (nil when the preview is the answer).
func dryRun(ctx context.Context, call func(context.Context) error) (*steward.Preview, error) {
	p := &steward.Preview{}
	err := call(steward.NewContextWithDryRun(ctx, p))
	if p.Done() {
		if !steward.IsDryRun(err) {
			return p, fmt.Errorf("a finished dry run answered %v", err)
		}
		return p, nil
	}
	return p, err
}

func testRPreview1(t *testing.T, open Opener) {
	r := newReviewWorld(t, open)
	as := r.As(r.owner.ID)
	narrow := []string{"crm.contacts.view"}
	rev, err := r.Store.CurrentRevision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	events, msgs := r.Events(r.client.ID), r.messages()
	before := effective(t, r.World, r.client.ID)
	// Narrowing the role of the external user narrows its delegate too.
	p, err := dryRun(as, func(ctx context.Context) error {
		_, _, err := r.Svc.UpdateRole(ctx, r.client.ID, r.editors.ID, steward.RoleInput{Permissions: &narrow})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	lost := map[string][]string{}
	for _, c := range p.Changes {
		lost[c.MembershipID] = c.Lost
	}
	if len(p.Changes) != 3 {
		t.Errorf("preview = %+v, want three memberships", p.Changes)
	}
	want := []string{"crm.contacts.edit", "reports.view"}
	if !slices.Equal(lost[r.parent.ID], want) || !slices.Equal(lost[r.delegate.ID], want) || !slices.Equal(lost[r.internal.ID], want) {
		t.Errorf("preview = %+v, want the role's members and the delegate losing %v", p.Changes, want)
	}
	// An invitation previews no membership change, and sends no mail.
	p, err = dryRun(as, func(ctx context.Context) error {
		_, _, err := r.Svc.Invite(ctx, r.client.ID, r.editors.ID, steward.NewInvitations{Emails: []string{"preview@example.org"}, Consent: r.consent()})
		return err
	})
	if err != nil || len(p.Changes) != 0 {
		t.Errorf("invitation preview = %+v, %v", p, err)
	}
	// Removing the external user's right to re-delegate previews its delegate's loss.
	off := false
	p, err = dryRun(as, func(ctx context.Context) error {
		_, _, err := r.Svc.UpdateExternalUser(ctx, r.client.ID, r.ext.ID, steward.ExternalUpdate{AllowRedelegation: &off})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range p.Changes {
		found = found || (c.MembershipID == r.delegate.ID && len(c.Lost) == 3)
	}
	if !found {
		t.Errorf("preview of re-delegation off = %+v, want the delegate losing all", p.Changes)
	}
	// An error is the real request's.
	_, err = dryRun(r.As(r.outsider.ID), func(ctx context.Context) error {
		_, _, err := r.Svc.UpdateRole(ctx, r.client.ID, r.editors.ID, steward.RoleInput{Permissions: &narrow})
		return err
	})
	WantCode(t, err, steward.EFORBIDDEN, "permission_required")

	after, err := r.Store.CurrentRevision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if after != rev || r.Events(r.client.ID) != events || r.messages() != msgs {
		t.Errorf("dry runs wrote: revision %d → %d, events %d → %d, mail %d → %d", rev, after, events, r.Events(r.client.ID), msgs, r.messages())
	}
	for id, perms := range effective(t, r.World, r.client.ID) {
		if !slices.Equal(perms, before[id]) {
			t.Errorf("membership %s changed in a dry run: %v → %v", id, before[id], perms)
		}
	}
}

// testRPreview1Property: for random worlds and requests, the preview of a
// request equals the difference the same request then makes, and a refused
// preview is refused like the real request.
func testRPreview1Property(t *testing.T, open Opener) {
	perms := []string{"crm.contacts.view", "crm.contacts.edit", "reports.view", "tickets.view", "settings.edit", steward.PermUsersManage, steward.PermRolesManage}
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 16))
			pick := func() []string {
				var out []string
				for _, p := range perms {
					if rng.IntN(2) == 0 {
						out = append(out, p)
					}
				}
				return out
			}
			x := newExtWorld(t, open)
			roles := []string{steward.RoleMember, x.editors.ID}
			for i := range 3 {
				roles = append(roles, x.Role(x.client.ID, fmt.Sprintf("R%d", i), pick()...).ID)
			}
			var users []string
			for range 4 {
				users = append(users, x.User(x.client.ID, roles[rng.IntN(len(roles))]).ID)
			}
			actors := append([]string{x.owner.ID}, users...)
			x.external(x.ext, x.editors.ID, steward.NewInvitations{AllowRedelegation: true})
			var delegates []string
			previewed, kinds := 0, map[string]int{}
			for step := range 24 {
				// Time passes, so that a policy's maximum can reach back past now.
				x.Now = x.Now.Add(time.Duration(rng.IntN(3)) * 12 * time.Hour)
				actor := x.As(actors[rng.IntN(len(actors))])
				var name string
				var call func(context.Context) error
				switch rng.IntN(9) {
				case 0, 1:
					u, role := users[rng.IntN(len(users))], roles[rng.IntN(len(roles))]
					name = "ChangeMemberRole"
					call = func(ctx context.Context) error {
						_, _, err := x.Svc.ChangeMemberRole(ctx, x.client.ID, u, role)
						return err
					}
				case 2:
					role, set := roles[1+rng.IntN(len(roles)-1)], pick()
					if set == nil {
						set = []string{}
					}
					name = "UpdateRole"
					call = func(ctx context.Context) error {
						_, _, err := x.Svc.UpdateRole(ctx, x.client.ID, role, steward.RoleInput{Permissions: &set})
						return err
					}
				case 3:
					role, email := roles[rng.IntN(len(roles))], fmt.Sprintf("new%d-%d@example.com", seed, step)
					name = "AddMember"
					call = func(ctx context.Context) error {
						_, _, err := x.Svc.AddMember(ctx, x.client.ID, steward.NewMember{Email: email, Name: "New", Role: role})
						return err
					}
				case 4:
					d := x.User(x.home.ID, steward.RoleMember)
					delegates = append(delegates, d.ID)
					actor = x.As(x.ext.ID)
					name = "AddDelegates"
					call = func(ctx context.Context) error {
						_, _, err := x.Svc.AddDelegates(ctx, x.client.ID, x.ext.ID, steward.NewDelegates{UserIDs: []string{d.ID}})
						return err
					}
				case 5, 6:
					// R-GUARD-3, R-GUARD-4: a policy change reaches outsiders
					// without writing them; its preview lists them.
					upd := steward.PolicyUpdate{NeverDelegable: setPolicy(pick())}
					if upd.NeverDelegable.Value == nil {
						upd.NeverDelegable.Value = []string{}
					}
					switch rng.IntN(3) {
					case 0:
						upd.MaxExternalDays = setPolicy(1 + rng.IntN(6))
					case 1:
						upd.MaxExternalDays = steward.Optional[int]{Set: true, Null: true}
					}
					if rng.IntN(3) > 0 {
						actor = x.As(x.owner.ID)
					}
					name = "UpdatePolicy"
					call = func(ctx context.Context) error {
						_, _, err := x.Svc.UpdatePolicy(ctx, x.client.ID, upd)
						return err
					}
				case 7:
					// R-REQUEST-2: the external user asks for what it lacks
					// (for real), and the approval is previewed.
					r, _, err := x.Svc.RequestAccess(x.As(x.ext.ID), x.client.ID, steward.NewAccessRequest{UserID: x.ext.ID, Permissions: pick(), Reason: "More work"})
					if err != nil {
						continue // nothing it lacks, never-delegable, or its access ended
					}
					if rng.IntN(3) > 0 {
						actor = x.As(x.owner.ID)
					}
					name = "ApproveAccessRequest"
					call = func(ctx context.Context) error {
						_, _, err := x.Svc.ApproveAccessRequest(ctx, x.client.ID, r.ID)
						return err
					}
				case 8:
					if len(delegates) == 0 {
						continue
					}
					d := delegates[rng.IntN(len(delegates))]
					actor = x.As(x.ext.ID)
					name = "RemoveDelegate"
					call = func(ctx context.Context) error {
						_, err := x.Svc.RemoveDelegate(ctx, x.client.ID, x.ext.ID, d)
						return err
					}
				}
				endsBefore := memberEnds(t, x.World, x.client.ID)
				before := effective(t, x.World, x.client.ID)
				rev, _ := x.Store.CurrentRevision(context.Background())
				p, dryErr := dryRun(actor, call)
				if now, _ := x.Store.CurrentRevision(context.Background()); now != rev {
					t.Fatalf("step %d %s: a dry run committed revision %d", step, name, now)
				}
				realErr := call(actor)
				if !p.Done() {
					if dryErr == nil || steward.ErrorCode(dryErr) != steward.ErrorCode(realErr) || steward.ErrorKind(dryErr) != steward.ErrorKind(realErr) {
						t.Fatalf("step %d %s: dry run refused with %v, the request with %v", step, name, dryErr, realErr)
					}
					continue
				}
				if realErr != nil {
					t.Fatalf("step %d %s: previewed, then refused: %v", step, name, realErr)
				}
				if len(p.Changes) > 0 {
					previewed++
					kinds[name]++
				}
				// A moved end date is previewed as it is then stored.
				endsAfter := memberEnds(t, x.World, x.client.ID)
				moved := map[string]bool{}
				for _, c := range p.Changes {
					if c.End == nil {
						continue
					}
					moved[c.UserID] = true
					if !sameEnd(c.End.From, endsBefore[c.UserID]) || !sameEnd(c.End.To, endsAfter[c.UserID]) {
						t.Fatalf("step %d %s: user %s end previewed %v → %v, stored %v → %v", step, name, c.UserID, c.End.From, c.End.To, endsBefore[c.UserID], endsAfter[c.UserID])
					}
				}
				for id, end := range endsAfter {
					if before, ok := endsBefore[id]; ok && !sameEnd(before, end) && !moved[id] {
						t.Fatalf("step %d %s: user %s end moved %v → %v, not in the preview %+v", step, name, id, before, end, p.Changes)
					}
				}
				after := effective(t, x.World, x.client.ID)
				byUser := map[string]steward.PermissionChange{}
				for _, c := range p.Changes {
					byUser[c.UserID] = c // a created membership's id is new in each run
				}
				ids := map[string]bool{}
				for id := range before {
					ids[id] = true
				}
				for id := range after {
					ids[id] = true
				}
				// A user the request creates has a new id in each run: the
				// preview's entries for users that exist in neither stand for them.
				var fresh []steward.PermissionChange
				for _, c := range p.Changes {
					if !ids[c.UserID] {
						fresh = append(fresh, c)
					}
				}
				for id := range ids {
					gained, lost := steward.Minus(after[id], before[id]), steward.Minus(before[id], after[id])
					c, ok := byUser[id]
					if _, existed := before[id]; !ok && !existed && len(fresh) > 0 {
						c, fresh = fresh[0], fresh[1:]
					}
					if !slices.Equal(gained, orEmpty(c.Gained)) || !slices.Equal(lost, orEmpty(c.Lost)) {
						t.Fatalf("step %d %s: user %s gained %v and lost %v, the preview said %+v", step, name, id, gained, lost, c)
					}
					for _, k := range c.KeptNotHeld {
						if !slices.Contains(before[id], k) || !slices.Contains(after[id], k) {
							t.Fatalf("step %d %s: %s kept_not_held %v, but held %v before and %v after", step, name, id, c.KeptNotHeld, before[id], after[id])
						}
					}
				}
				if len(fresh) > 0 {
					t.Fatalf("step %d %s: the preview created %+v, the request did not", step, name, fresh)
				}
			}
			if previewed == 0 {
				t.Fatal("no request of this world previewed a change")
			}
			t.Logf("previews with changes, by request: %v", kinds)
		})
	}
}

// testRPreview1Relationships: a tighter max_partner_days moves the end of
// a partner relationship earlier (R-GUARD-4, R-LIFE-1) without writing its
// partner memberships, which end with it at check time. Its preview lists
// the relationship with its end before and after, exactly as the real
// change then clips and stores it, and writes nothing.
func testRPreview1Relationships(t *testing.T, open Opener) {
	w := newPartnerWorld(t, open)
	far := w.PartnerAdmin(w.P.ID, w.C.ID, w.COwner.ID) // no end
	q, _ := w.Account(steward.AccountPartner)
	qAdmin := w.User(q.ID, steward.RoleMember)
	soon := w.Now.Add(days(5))
	if _, _, err := w.Svc.ApproveAccessLinkWith(w.As(w.COwner.ID), w.Link(q.ID, qAdmin.ID, qAdmin.ID), w.C.ID,
		steward.ApprovalOptions{EndsAt: &soon}); err != nil {
		t.Fatal(err)
	}
	w.Now = w.Now.Add(days(1))
	rel, other := w.Relationship(w.P.ID, w.C.ID), w.Relationship(q.ID, w.C.ID)
	limit := rel.Approved().Add(days(10))
	upd := steward.PolicyUpdate{MaxPartnerDays: setPolicy(10)}

	rev, err := w.Store.CurrentRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	events := w.Events(w.C.ID)
	p, err := dryRun(w.As(w.COwner.ID), func(ctx context.Context) error {
		_, _, err := w.Svc.UpdatePolicy(ctx, w.C.ID, upd)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Relationships) != 1 {
		t.Fatalf("preview relationships = %+v, want only %s", p.Relationships, rel.ID)
	}
	c := p.Relationships[0]
	if c.RelationshipID != rel.ID || c.PartnerID != w.P.ID || c.ClientID != w.C.ID || c.End.From != nil || c.End.To == nil || !c.End.To.Equal(limit) {
		t.Errorf("preview relationship = %+v (to %v), want %s from no end to %v", c, c.End.To, rel.ID, limit)
	}
	if now, _ := w.Store.CurrentRevision(ctx); now != rev || w.Events(w.C.ID) != events {
		t.Errorf("the dry run wrote: revision %d → %d, events %d → %d", rev, now, events, w.Events(w.C.ID))
	}
	if r := w.Relationship(w.P.ID, w.C.ID); r.EndsAt != nil {
		t.Errorf("the dry run stored ends_at %v", r.EndsAt)
	}
	if !w.Allowed(far.ID, w.C.ID, "reports.view", limit.Add(time.Hour)) {
		t.Error("after the dry run, the partner admin's access ends at the previewed end")
	}
	// The preview's JSON names the list; a preview without one leaves it out.
	if b, err := json.Marshal(p); err != nil || !strings.Contains(string(b), `"relationships":[{"relationship_id":"`+rel.ID+`"`) {
		t.Errorf("preview JSON = %s, %v", b, err)
	}
	if b, err := json.Marshal(&steward.Preview{DryRun: true, Changes: []steward.PermissionChange{}}); err != nil || strings.Contains(string(b), "relationships") {
		t.Errorf("empty preview JSON = %s, %v", b, err)
	}

	ch := w.policy(t, w.COwner.ID, w.C.ID, upd)
	if !slices.Equal(ch.Relationships, []string{rel.ID}) {
		t.Errorf("relationships_clipped = %v, want [%s] as previewed", ch.Relationships, rel.ID)
	}
	if r := w.Relationship(w.P.ID, w.C.ID); r.EndsAt == nil || !r.EndsAt.Equal(*c.End.To) {
		t.Errorf("stored ends_at = %v, previewed %v", r.EndsAt, c.End.To)
	}
	if r := w.Relationship(q.ID, w.C.ID); !sameEnd(r.EndsAt, other.EndsAt) {
		t.Errorf("the relationship ending sooner moved: %v → %v", other.EndsAt, r.EndsAt)
	}
	if w.Allowed(far.ID, w.C.ID, "reports.view", limit.Add(time.Hour)) {
		t.Error("the partner admin's access lasts past the clipped end")
	}

	// The client's own change of an end date previews the same way.
	earlier := limit.Add(-days(2))
	p, err = dryRun(w.As(w.COwner.ID), func(ctx context.Context) error {
		_, _, err := w.Svc.UpdatePartner(ctx, w.C.ID, w.P.ID, steward.RelationshipUpdate{EndsAt: steward.Optional[time.Time]{Set: true, Value: earlier}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Relationships) != 1 || p.Relationships[0].RelationshipID != rel.ID || !sameEnd(p.Relationships[0].End.From, &limit) || !sameEnd(p.Relationships[0].End.To, &earlier) {
		t.Errorf("preview of a new end = %+v, want %s from %v to %v", p.Relationships, rel.ID, limit, earlier)
	}
	if r := w.Relationship(w.P.ID, w.C.ID); !sameEnd(r.EndsAt, &limit) {
		t.Errorf("the dry run stored ends_at %v", r.EndsAt)
	}
}

// memberEnds returns the stored end date of every membership of the
// account, by user id.
func memberEnds(t *testing.T, w *World, accountID string) map[string]*time.Time {
	t.Helper()
	out := map[string]*time.Time{}
	for page := (steward.Page{Limit: steward.MaxPageLimit}); ; {
		ms, next, err := w.Store.FindMemberships(ctx, steward.MembershipFilter{AccountID: accountID, Page: page})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			out[m.UserID] = m.EndsAt
		}
		if next == "" {
			return out
		}
		page.After = next
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// testTakenEmail: a new user whose email is taken is refused with
// email_taken naming the field, in a dry run as in the write itself, and
// nothing is written, also where the store sends the user's insert with a
// later statement of the transaction (R-PREVIEW-1).
func testTakenEmail(t *testing.T, open Opener) {
	w := NewWorld(t, open(t))
	acc, owner := w.Account(steward.AccountStandard)
	before, err := w.Store.CurrentRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	member := steward.NewMember{Email: strings.ToUpper(owner.Email), Name: "Twin", Role: steward.RoleMember}
	_, err = dryRun(w.As(owner.ID), func(ctx context.Context) error {
		_, _, err := w.Svc.AddMember(ctx, acc.ID, member)
		return err
	})
	WantCode(t, err, steward.ECONFLICT, "email_taken")
	_, _, err = w.Svc.AddMember(w.As(owner.ID), acc.ID, member)
	WantCode(t, err, steward.ECONFLICT, "email_taken")
	if f := err.(*steward.Error).Fields; len(f) != 1 || f[0].Field != "email" {
		t.Errorf("fields = %+v, want email", f)
	}
	in := steward.NewAccount{Name: "Twin Co", Kind: steward.AccountStandard, Owner: &steward.NewOwner{Email: owner.Email, Name: "Twin"}}
	_, _, err = w.Svc.CreateAccount(w.Op, in)
	WantCode(t, err, steward.ECONFLICT, "email_taken")
	if f := err.(*steward.Error).Fields; len(f) != 1 || f[0].Field != "owner.email" {
		t.Errorf("fields = %+v, want owner.email", f)
	}
	after, err := w.Store.CurrentRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("revision %d after the refused writes, want %d: something was written", after, before)
	}
	// The next write is not troubled by the ones that failed.
	if _, _, err := w.Svc.AddMember(w.As(owner.ID), acc.ID, steward.NewMember{Email: "new@twin.example", Name: "New", Role: steward.RoleMember}); err != nil {
		t.Fatal(err)
	}
}
