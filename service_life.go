package steward

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Durations and renewal (R-LIFE-1, R-LIFE-2): a partner relationship's end
// date and auto_extend, the scheduler's extensions, and the warnings mailed
// before every end. docs/DECISIONS.md, "Durations and renewal", says why the
// scheduler extends ahead of the end.

// AutoExtendLead is how long before an auto-extending end the scheduler
// extends it (R-LIFE-1). A check never waits for the scheduler: extending
// ahead of time means a check just after the old end already finds the new
// one, as long as the scheduler ran once within the lead (it runs every
// minute).
const AutoExtendLead = time.Hour

// WarningThresholds are the warnings mailed before every end (SPEC §5,
// R-LIFE-2), in days, largest first.
var WarningThresholds = []int{30, 7, 1}

// maxExtensionsPerRun bounds one job run's extensions of one subject, which
// catches up terms missed while no scheduler ran.
const maxExtensionsPerRun = 1000

// RelationshipUpdate is the client's change of a partner relationship
// (PATCH /v1/accounts/{account}/partners/{partner}): a field not Set stays,
// a Null EndsAt clears the end date.
type RelationshipUpdate struct {
	EndsAt     Optional[time.Time]
	AutoExtend *bool
}

// setRelationshipEnd applies the client's end date (when setEnd; nil clears
// it) and auto_extend to an active relationship, writes it and keeps what
// depends on it in line: R-GUARD-2 (a policy maximum needs an end within
// it), R-SUPER-1 (the last lasting super admin cannot be given an end), and
// R-GRANT-5 (what the partner's members gave outside the relationship ends
// no later than it). A new end starts a new term, which auto_extend repeats.
func (t *txn) setRelationshipEnd(by *access, r *Relationship, setEnd bool, end *time.Time, auto *bool) error {
	end = utcPtr(end)
	oldEnd := r.EndsAt
	if setEnd {
		if end != nil && !end.After(t.now) {
			return Invalid("invalid_end_dates", "The end dates are not valid.", FieldError{"ends_at", "must be in the future"})
		}
		if !sameTime(r.EndsAt, end) {
			r.EndsAt, r.TermStartedAt = end, nil
			if end != nil {
				r.TermStartedAt = &t.now
			}
		}
	}
	if auto != nil {
		r.AutoExtend = *auto
	} else if r.EndsAt == nil {
		r.AutoExtend = false // nothing left to renew
	}
	if r.AutoExtend && r.EndsAt == nil {
		return Invalid("end_date_required", "auto_extend renews an end date; the relationship has none.",
			FieldError{"auto_extend", "needs ends_at"})
	}
	// R-GUARD-2: under max_partner_days the relationship carries an end
	// within that many days of its approval.
	if err := t.checkMaxDays(r.ClientID, KindPartner, r.Approved(), r.EndsAt, "ends_at"); err != nil {
		return err
	}
	r.UpdatedAt = t.now
	if err := t.UpdateRelationship(t.ctx, r); err != nil {
		return err
	}
	if r.EndsAt != nil && (oldEnd == nil || r.EndsAt.Before(*oldEnd)) {
		// R-SUPER-1: a partner employee made super admin lasts no longer
		// than its relationship; it cannot be the account's last one.
		if n, err := t.CountActiveSuperAdmins(t.ctx, r.ClientID, t.now); err != nil {
			return err
		} else if n == 0 {
			return Errorf(ECONFLICT, "last_super_admin", "This end date would end the account's last super admin; make another member super admin first.")
		}
		if err := t.relationshipEndMovedEarlier(by, r, *r.EndsAt); err != nil {
			return err
		}
	}
	return nil
}

// relationshipEndMovedEarlier clips what the partner's members in the client
// gave outside the relationship (external users, invitations, requested
// grants) to its new end (R-GRANT-5). The partner memberships of the same
// relationship are left alone: they hang on it at check time, so they end
// with it and are extended with it.
//
// Only the members who gave something in the client are clipped: asking for
// each of a large partner's employees would cost queries per membership.
func (t *txn) relationshipEndMovedEarlier(by *access, r *Relationship, end time.Time) error {
	ms, err := t.allMemberships(MembershipFilter{AccountID: r.ClientID})
	if err != nil {
		return err
	}
	pending, err := t.pendingInvitations(r.ClientID)
	if err != nil {
		return err
	}
	gave := givers(ms, pending)
	seen := map[string]bool{samePartnerKey(r.PartnerID): true}
	for _, m := range ms {
		if m.Kind != KindPartner || m.PartnerID != r.PartnerID || !gave[m.UserID] {
			continue
		}
		if err := t.clipGrants(by, r.ClientID, m.UserID, end, seen); err != nil {
			return err
		}
	}
	return nil
}

// samePartnerKey marks, in clipGrants' seen set, a partner whose partner
// memberships in the account are not clipped: they end with the relationship.
func samePartnerKey(partnerID string) string { return "partner:" + partnerID }

// UpdatePartner changes the client's end date and auto_extend of its
// relationship with a partner (R-LIFE-1). It needs account.partners.manage in
// the client; R-GUARD-2 and R-SUPER-1 hold. The answer carries no alias
// (R-PARTNER-7).
func (s *Service) UpdatePartner(ctx context.Context, clientID, partnerID string, upd RelationshipUpdate) (*SharedRelationship, int64, error) {
	var out *SharedRelationship
	rev, err := s.write(ctx, func(t *txn) error {
		by, err := t.lockedActor(clientID, PermPartnersManage)
		if err != nil {
			return err
		}
		if err := checkText("partner", partnerID); err != nil { // SPEC §4 "Text"
			return err
		}
		r, err := t.FindRelationship(t.ctx, partnerID, clientID)
		if ErrorKind(err) == ENOTFOUND {
			return NotFound("partner", partnerID)
		} else if err != nil {
			return err
		}
		if r.At(t.now).Status != RelationshipActive {
			return Errorf(ECONFLICT, "relationship_not_active", "Only an active relationship's end date can be changed; approve a new access link instead.")
		}
		// R-LIFE-1: the relationship's end is the client's choice; the
		// partner's own people in the client never lengthen it (as R-EXT-8
		// keeps an external user off its own options).
		if m := by.membership(); m != nil && m.Kind == KindPartner && m.PartnerID == partnerID {
			return Errorf(EFORBIDDEN, "own_access", "A relationship's end date is set by the client's administrators, never by the partner's own people.")
		}
		before := *r
		var end *time.Time
		if upd.EndsAt.Set && !upd.EndsAt.Null {
			v := upd.EndsAt.Value
			end = &v
		}
		// R-GRANT-5: an actor whose own access ends cannot make the
		// relationship last longer than that, nor renew it.
		if mine, err := t.grantEnd(by); err != nil {
			return err
		} else if mine != nil {
			if upd.EndsAt.Set && later(r.EndsAt, end) && (end == nil || end.After(*mine)) {
				return Invalid("ends_after_granter", "Nothing you give can last longer than your own access.",
					FieldError{"ends_at", "must not be later than the end of your own access, " + mine.Format(time.RFC3339)})
			}
			if upd.AutoExtend != nil && *upd.AutoExtend && !r.AutoExtend {
				return Invalid("ends_after_granter", "Nothing you give can last longer than your own access.",
					FieldError{"auto_extend", "your own access ends on " + mine.Format(time.RFC3339)})
			}
		}
		if err := t.setRelationshipEnd(by, r, upd.EndsAt.Set, end, upd.AutoExtend); err != nil {
			return err
		}
		if sameTime(before.EndsAt, r.EndsAt) && before.AutoExtend == r.AutoExtend {
			return errUnchanged // SPEC §4 "No-op writes"
		}
		details := map[string]any{"partner_id": r.PartnerID, "client_id": r.ClientID,
			"from": map[string]any{"ends_at": before.EndsAt, "auto_extend": before.AutoExtend},
			"to":   map[string]any{"ends_at": r.EndsAt, "auto_extend": r.AutoExtend}}
		t.record(clientID, by, "relationship.updated", "relationship", r.ID, details)
		t.record(partnerID, by.asUser(), "relationship.updated", "relationship", r.ID, details)
		out = r.Shared(t.now)
		t.answer(out)
		return nil
	})
	if errors.Is(err, errUnchanged) {
		err = nil
	}
	if err != nil {
		return nil, 0, err
	}
	if out == nil { // unchanged: the relationship as it stands
		r, err := s.Store.FindRelationship(ctx, partnerID, clientID)
		if err != nil {
			return nil, 0, err
		}
		out = r.Shared(s.now())
	}
	return out, rev, nil
}

// ---- the scheduler: extensions (R-LIFE-1) ----

// termOf returns the length of a term that began at start (nil: at
// fallback) and ends at end.
func termOf(start *time.Time, fallback, end time.Time) time.Duration {
	if start == nil {
		start = &fallback
	}
	return end.Sub(*start)
}

// ExtendDue extends, ahead of their end by AutoExtendLead, the relationships
// and external users with auto_extend by the length of their current term,
// without new consent, unless a guardrail forbids it (R-LIFE-1, R-GUARD-2):
// then auto_extend is turned off and the access ends at its end date. Each
// extension, and each refusal, is audited and mailed.
func (s *Service) ExtendDue(ctx context.Context) error {
	for range maxExtensionsPerRun {
		by := s.now().Add(AutoExtendLead)
		rels, err := s.Store.ExtendingRelationships(ctx, by, jobBatch)
		if err != nil {
			return err
		}
		ms, err := s.Store.ExtendingMemberships(ctx, by, jobBatch)
		if err != nil {
			return err
		}
		if len(rels) == 0 && len(ms) == 0 {
			return nil
		}
		for _, r := range rels {
			if err := s.extendRelationship(ctx, r.PartnerID, r.ClientID); err != nil {
				return err
			}
		}
		for _, m := range ms {
			if err := s.extendMembership(ctx, m.AccountID, m.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// extendRelationship extends P→C by one term, or turns auto_extend off
// when R-GUARD-2 forbids the new end.
func (s *Service) extendRelationship(ctx context.Context, partnerID, clientID string) error {
	_, err := s.write(ctx, func(t *txn) error {
		if err := t.LockAccount(t.ctx, clientID); err != nil {
			return err
		}
		r, err := t.FindRelationship(t.ctx, partnerID, clientID)
		if err != nil {
			return err
		}
		if r.Status != RelationshipActive || !r.AutoExtend || r.EndsAt == nil || r.EndsAt.After(t.now.Add(AutoExtendLead)) {
			return errNotDue
		}
		old := *r.EndsAt
		term := termOf(r.TermStartedAt, r.Approved(), old)
		next := old.Add(term)
		reason := ""
		p, err := t.FindPolicy(t.ctx, clientID)
		if err != nil {
			return err
		}
		if term <= 0 {
			reason = "no_term"
		} else if p.MaxPartnerDays != nil && next.After(limitFrom(r.Approved(), *p.MaxPartnerDays)) {
			reason = "max_partner_days" // R-GUARD-2: no extension past the maximum
		}
		details := jobDetails(map[string]any{"partner_id": partnerID, "client_id": clientID, "from_ends_at": old})
		action := "relationship.extended"
		if reason != "" {
			r.AutoExtend = false
			action, details["reason"] = "relationship.extension_refused", reason
		} else {
			r.EndsAt, r.TermStartedAt = &next, &old
			details["ends_at"], details["term_days"] = next, term.Hours()/24
		}
		r.UpdatedAt = t.now
		if err := t.UpdateRelationship(t.ctx, r); err != nil {
			return err
		}
		t.record(clientID, nil, action, "relationship", r.ID, details)
		t.record(partnerID, nil, action, "relationship", r.ID, details)
		client, err := t.FindAccountByID(t.ctx, clientID)
		if err != nil {
			return err
		}
		partner, err := t.FindAccountByID(t.ctx, partnerID)
		if err != nil {
			return err
		}
		subject := fmt.Sprintf("Partner access of %s to %s extended", partner.Name, client.Name)
		text := fmt.Sprintf("The relationship between %s (partner) and %s (client) was extended automatically by %s: it now ends on %s instead of %s.\n",
			partner.Name, client.Name, daysText(term), next.Format(time.RFC1123), old.Format(time.RFC1123))
		if reason != "" {
			subject = fmt.Sprintf("Partner access of %s to %s will not be extended", partner.Name, client.Name)
			text = fmt.Sprintf("The relationship between %s (partner) and %s (client) cannot be extended automatically (%s): it ends on %s.\n"+
				"An administrator of %s can set a new end date within the account's policy.\n",
				partner.Name, client.Name, reason, old.Format(time.RFC1123), client.Name)
		}
		return t.mailRelationship(r, subject, text, action)
	})
	if errors.Is(err, errNotDue) {
		return nil
	}
	return err
}

// extendMembership extends an external user by one term, or turns
// auto_extend off when R-GUARD-2 (max_external_days, counted from
// acceptance) or R-GRANT-5 (its granter's own end) forbids the new end.
func (s *Service) extendMembership(ctx context.Context, accountID, id string) error {
	_, err := s.write(ctx, func(t *txn) error {
		if err := t.LockAccount(t.ctx, accountID); err != nil {
			return err
		}
		m, err := t.FindMembershipByID(t.ctx, accountID, id)
		if err != nil {
			return err
		}
		if m.Status != StatusActive || !m.AutoExtend || m.EndsAt == nil || m.EndsAt.After(t.now.Add(AutoExtendLead)) {
			return errNotDue
		}
		old := *m.EndsAt
		term := termOf(m.TermStartedAt, m.CreatedAt, old)
		next := old.Add(term)
		reason := ""
		p, err := t.FindPolicy(t.ctx, accountID)
		if err != nil {
			return err
		}
		days, _ := p.maxDays(m.Kind)
		granterEnd, err := t.granterEnd(accountID, m.GrantedBy)
		if err != nil {
			return err
		}
		switch {
		case term <= 0 || m.Kind != KindExternal:
			reason = "no_term"
		case days != nil && next.After(limitFrom(m.CreatedAt, *days)):
			reason = "max_external_days" // R-GUARD-2
		case granterEnd != nil && next.After(*granterEnd):
			reason = "granter_access_ends" // R-GRANT-5
		}
		details := jobDetails(map[string]any{"user_id": m.UserID, "kind": m.Kind, "from_ends_at": old})
		action := "member.extended"
		if reason != "" {
			m.AutoExtend = false
			action, details["reason"] = "member.extension_refused", reason
		} else {
			m.EndsAt, m.TermStartedAt = &next, &old
			details["ends_at"], details["term_days"] = next, term.Hours()/24
		}
		m.UpdatedAt = t.now
		if err := t.UpdateMembership(t.ctx, m); err != nil {
			return err
		}
		t.record(accountID, nil, action, "membership", m.ID, details)
		acc, err := t.FindAccountByID(t.ctx, accountID)
		if err != nil {
			return err
		}
		u, err := t.FindUserByID(t.ctx, m.UserID)
		if err != nil {
			return err
		}
		subject := fmt.Sprintf("Access of %s to %s extended", u.Name, acc.Name)
		text := fmt.Sprintf("The %s access of %s (%s) to %s was extended automatically by %s: it now ends on %s instead of %s.\n",
			m.Kind, u.Name, u.Email, acc.Name, daysText(term), next.Format(time.RFC1123), old.Format(time.RFC1123))
		if reason != "" {
			subject = fmt.Sprintf("Access of %s to %s will not be extended", u.Name, acc.Name)
			text = fmt.Sprintf("The %s access of %s (%s) to %s cannot be extended automatically (%s): it ends on %s.\n",
				m.Kind, u.Name, u.Email, acc.Name, reason, old.Format(time.RFC1123))
		}
		return t.mailMemberAndAdmins(m, subject, text, action)
	})
	if errors.Is(err, errNotDue) {
		return nil
	}
	return err
}

// daysText says a duration in days (or hours, when shorter than a day).
func daysText(d time.Duration) string {
	if d >= 24*time.Hour {
		n := d.Hours() / 24
		if n == float64(int64(n)) {
			return fmt.Sprintf("%d days", int64(n))
		}
		return fmt.Sprintf("%.1f days", n)
	}
	return d.Round(time.Minute).String()
}

// ---- mail ----

// adminEmails returns the emails of the account's active internal super
// admins whose users are active.
func (t *txn) adminEmails(accountID string) ([]string, error) {
	ms, err := t.allMemberships(MembershipFilter{AccountID: accountID, Role: RoleSuperAdmin, Kind: KindInternal})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range ms {
		if m.Status != StatusActive || m.EndedAt(t.now) {
			continue
		}
		u, err := t.FindUserByID(t.ctx, m.UserID)
		if err != nil {
			return nil, err
		}
		if u.Status == UserActive {
			out = append(out, u.Email)
		}
	}
	return out, nil
}

// mailAll mails one message to each address once.
func (t *txn) mailAll(to []string, accountID, subject, text, kind string) error {
	sent := map[string]bool{}
	for _, addr := range to {
		if sent[strings.ToLower(addr)] {
			continue
		}
		sent[strings.ToLower(addr)] = true
		if err := t.mail(&Message{To: addr, Subject: subject, Text: text, AccountID: accountID, Kind: kind}); err != nil {
			return err
		}
	}
	return nil
}

// mailMemberAndAdmins mails the member and the account's admins.
func (t *txn) mailMemberAndAdmins(m *Membership, subject, text, kind string) error {
	u, err := t.FindUserByID(t.ctx, m.UserID)
	if err != nil {
		return err
	}
	admins, err := t.adminEmails(m.AccountID)
	if err != nil {
		return err
	}
	return t.mailAll(append([]string{u.Email}, admins...), m.AccountID, subject, text, kind)
}

// mailRelationship mails the client's admins, the partner's admins and the
// partner's active members in the client.
func (t *txn) mailRelationship(r *Relationship, subject, text, kind string) error {
	to, err := t.adminEmails(r.ClientID)
	if err != nil {
		return err
	}
	partnerAdmins, err := t.adminEmails(r.PartnerID)
	if err != nil {
		return err
	}
	to = append(to, partnerAdmins...)
	ms, err := t.allMemberships(MembershipFilter{AccountID: r.ClientID, Kind: KindPartner})
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.PartnerID != r.PartnerID || m.Status != StatusActive {
			continue
		}
		u, err := t.FindUserByID(t.ctx, m.UserID)
		if err != nil {
			return err
		}
		if u.Status == UserActive {
			to = append(to, u.Email)
		}
	}
	return t.mailAll(to, r.ClientID, subject, text, kind)
}

// ---- the scheduler: warnings (R-LIFE-2) ----

// warningDue returns the threshold (in days) of the warning due now for an
// end: the smallest threshold the end is within, or 0 when none is. Only
// that one is sent: an end set 5 days ahead gets the 7-day warning and the
// 1-day one, never a late 30-day one.
func warningDue(now, end time.Time) int {
	due := 0
	for _, d := range WarningThresholds {
		if end.After(now) && !end.After(now.Add(time.Duration(d)*24*time.Hour)) {
			due = d
		}
	}
	return due
}

// WarnEnding mails the warnings 30, 7 and 1 days before the end of every
// relationship, external user and delegate, to the member (the partner's
// members, for a relationship) and the account's admins, each once (R-LIFE-2).
// Once holds across nodes and restarts: each warning is recorded under a
// unique key (subject, end, threshold) in the transaction that writes its
// mail, so a changed end date gets fresh warnings. The job reads only the
// memberships and relationships whose end falls within the largest
// threshold, through their partial indexes by end date.
func (s *Service) WarnEnding(ctx context.Context) error {
	now := s.now()
	horizon := now.Add(time.Duration(WarningThresholds[0]) * 24 * time.Hour)
	for _, delegates := range []bool{false, true} {
		afterAt, afterID := now, ""
		for {
			roots, err := s.Store.EndingMemberships(ctx, delegates, now, horizon, afterAt, afterID, jobBatch)
			if err != nil {
				return err
			}
			for _, m := range roots {
				if err := s.warnTree(ctx, m, now, horizon); err != nil {
					return err
				}
			}
			if len(roots) < jobBatch {
				break
			}
			last := roots[len(roots)-1]
			afterID, afterAt = last.ID, *last.EndsAt
			if delegates {
				afterAt = *last.DelegatesEndAt
			}
		}
	}
	afterAt, afterID := now, ""
	for {
		rels, err := s.Store.EndingRelationships(ctx, now, horizon, afterAt, afterID, jobBatch)
		if err != nil {
			return err
		}
		for _, r := range rels {
			if err := s.warnRelationship(ctx, r, now); err != nil {
				return err
			}
		}
		if len(rels) < jobBatch {
			return nil
		}
		last := rels[len(rels)-1]
		afterID, afterAt = last.ID, *last.EndsAt
	}
}

// warnTree warns m and the delegates below it whose access ends within the
// horizon. The end of a delegate's access is the earliest along its chain.
func (s *Service) warnTree(ctx context.Context, m *Membership, now, horizon time.Time) error {
	if m.Kind == KindExternal || m.Kind == KindDelegate {
		ev, err := s.evaluate(ctx, s.Store, m, now)
		if err != nil {
			return err
		}
		if ev.holds && ev.endsAt != nil {
			if d := warningDue(now, *ev.endsAt); d > 0 {
				if err := s.warnMember(ctx, m, *ev.endsAt, d); err != nil {
					return err
				}
			}
		}
	}
	ds, _, err := s.Store.FindMemberships(ctx, MembershipFilter{AccountID: m.AccountID, ParentID: m.ID, Page: Page{Limit: MaxPageLimit}})
	if err != nil {
		return err
	}
	for _, d := range ds {
		if d.Status == StatusActive {
			if err := s.warnTree(ctx, d, now, horizon); err != nil {
				return err
			}
		}
	}
	return nil
}

// warnMember mails one warning of m's access ending at end, unless it was sent.
func (s *Service) warnMember(ctx context.Context, m *Membership, end time.Time, threshold int) error {
	_, err := s.write(ctx, func(t *txn) error {
		first, err := t.MarkWarningSent(t.ctx, m.ID, end, threshold, t.now)
		if err != nil {
			return err
		}
		if !first {
			return errNotDue
		}
		u, err := t.FindUserByID(t.ctx, m.UserID)
		if err != nil {
			return err
		}
		acc, err := t.FindAccountByID(t.ctx, m.AccountID)
		if err != nil {
			return err
		}
		var b strings.Builder
		fmt.Fprintf(&b, "The %s access of %s (%s) to the account %q ends on %s (in %s).\n\n", m.Kind, u.Name, u.Email, acc.Name,
			end.Format(time.RFC1123), daysText(end.Sub(t.now).Round(time.Hour)))
		if m.AutoExtend && m.EndsAt != nil && m.EndsAt.Equal(end) {
			b.WriteString("It is set to be extended automatically by its current term, if the account's policy allows it then.\n")
		} else {
			b.WriteString("If it is still needed, an administrator of that account can extend it.\n")
		}
		subject := fmt.Sprintf("Access of %s to %s ends in %s", u.Name, acc.Name, plural(threshold, "day"))
		if err := t.mailMemberAndAdmins(m, subject, b.String(), "end_warning"); err != nil {
			return err
		}
		t.record(m.AccountID, nil, "member.end_warning_sent", "membership", m.ID,
			jobDetails(map[string]any{"user_id": m.UserID, "kind": m.Kind, "ends_at": end, "threshold_days": threshold}))
		return nil
	})
	if errors.Is(err, errNotDue) {
		return nil
	}
	return err
}

// warnRelationship mails the warning due for the relationship's end, unless
// it was sent.
func (s *Service) warnRelationship(ctx context.Context, r *Relationship, now time.Time) error {
	if r.EndsAt == nil {
		return nil
	}
	end := *r.EndsAt
	threshold := warningDue(now, end)
	if threshold == 0 {
		return nil
	}
	_, err := s.write(ctx, func(t *txn) error {
		first, err := t.MarkWarningSent(t.ctx, r.ID, end, threshold, t.now)
		if err != nil {
			return err
		}
		if !first {
			return errNotDue
		}
		client, err := t.FindAccountByID(t.ctx, r.ClientID)
		if err != nil {
			return err
		}
		partner, err := t.FindAccountByID(t.ctx, r.PartnerID)
		if err != nil {
			return err
		}
		var b strings.Builder
		fmt.Fprintf(&b, "The partner access of %s to %s ends on %s (in %s): every partner membership of %s in %s ends with it.\n\n",
			partner.Name, client.Name, end.Format(time.RFC1123), daysText(end.Sub(t.now).Round(time.Hour)), partner.Name, client.Name)
		if r.AutoExtend {
			b.WriteString("It is set to be extended automatically by its current term, if the client's policy allows it then.\n")
		} else {
			fmt.Fprintf(&b, "If it is still needed, an administrator of %s can set a later end date.\n", client.Name)
		}
		subject := fmt.Sprintf("Partner access of %s to %s ends in %s", partner.Name, client.Name, plural(threshold, "day"))
		if err := t.mailRelationship(r, subject, b.String(), "end_warning"); err != nil {
			return err
		}
		details := jobDetails(map[string]any{"partner_id": r.PartnerID, "client_id": r.ClientID, "ends_at": end, "threshold_days": threshold})
		t.record(r.ClientID, nil, "relationship.end_warning_sent", "relationship", r.ID, details)
		t.record(r.PartnerID, nil, "relationship.end_warning_sent", "relationship", r.ID, details)
		return nil
	})
	if errors.Is(err, errNotDue) {
		return nil
	}
	return err
}

// plural says n things.
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
