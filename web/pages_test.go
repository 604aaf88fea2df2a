package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/steward-iam/steward"
)

// TestConsoleExpiredLinks: an expired access link and an expired invitation
// each get a page that says so and what to do, with 410.
func TestConsoleExpiredLinks(t *testing.T) {
	e := newEnv(t, "sqlite")
	link, _, err := e.svc.CreateAccessLink(e.as(e.pat), e.agency.ID, e.pat.ID)
	e.must(err)
	consent := e.svc.Consent()
	_, _, err = e.svc.Invite(e.as(e.ada), e.acme.ID, e.analyst, steward.NewInvitations{Emails: steward.EmailList{e.carol.Email},
		Consent: steward.ConsentInput{Accepted: true, Version: consent.Version}})
	e.must(err)
	var inv string
	for _, m := range e.smtp.Wait(1, 10*time.Second) {
		inv = linkRE.FindString(m.Body)
	}
	later := time.Now().Add(31 * 24 * time.Hour)
	e.svc.Now = func() time.Time { return later }

	ada := e.client()
	e.login(ada, "ada@acme.example", demoPassword)
	res, body := e.get(ada, strings.TrimPrefix(link.URL, e.URL))
	if res.StatusCode != http.StatusGone || !strings.Contains(body, "This access link has expired") || !strings.Contains(body, "Ask the partner") {
		t.Errorf("expired access link: status %d\n%s", res.StatusCode, body)
	}
	carol := e.client()
	e.login(carol, "carol@carol.example", demoPassword)
	res, body = e.get(carol, strings.TrimPrefix(inv, e.URL))
	if res.StatusCode != http.StatusGone || !strings.Contains(body, "This invitation has expired") || !strings.Contains(body, "new invitation") {
		t.Errorf("expired invitation: status %d\n%s", res.StatusCode, body)
	}
	if res, _ := e.get(carol, "/invitations/stwi_unknown"); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown invitation: status %d, want 404", res.StatusCode)
	}
}

// TestConsoleRoleNotHeldRefused: a permission the editor does not hold is
// shown disabled, and refused if posted anyway (R-GRANT-1, SPEC §4).
func TestConsoleRoleNotHeldRefused(t *testing.T) {
	e := newEnv(t, "sqlite")
	name, perms := "Role editors", []string{steward.PermRolesManage, "reports.view"}
	r, _, err := e.svc.CreateRole(e.as(e.ada), e.acme.ID, steward.RoleInput{Name: &name, Permissions: &perms})
	e.must(err)
	_, _, err = e.svc.ChangeMemberRole(e.as(e.ada), e.acme.ID, e.bob.ID, r.ID)
	e.must(err)
	bob := e.client()
	e.login(bob, "bob@acme.example", demoPassword)
	_, body := e.get(bob, "/accounts/"+e.acme.ID+"/roles/new")
	if !strings.Contains(body, `value="crm.contacts.edit" disabled`) || strings.Contains(body, `value="reports.view" disabled`) {
		t.Error("the role editor does not disable exactly the permissions the editor lacks")
	}
	res, body := e.post(bob, "/accounts/"+e.acme.ID+"/roles", url.Values{"name": {"Sneaky"}, "permissions": {"reports.view", "crm.contacts.edit"}})
	if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "you do not hold &#34;crm.contacts.edit&#34;") {
		t.Errorf("posting a permission not held: status %d\n%s", res.StatusCode, body)
	}
	roles, _, err := e.svc.FindRoles(e.as(e.ada), e.acme.ID, steward.Page{})
	e.must(err)
	for _, r := range roles {
		if r.Name == "Sneaky" {
			t.Error("the refused role was created")
		}
	}
}

// TestConsoleExternalOptionsAndExport edits an external user's options
// (R-EXT-8) and exports the activity log as CSV (R-AUDIT-3).
func TestConsoleExternalOptionsAndExport(t *testing.T) {
	e := newEnv(t, "sqlite")
	consent := e.svc.Consent()
	_, _, err := e.svc.Invite(e.as(e.ada), e.acme.ID, e.analyst, steward.NewInvitations{Emails: steward.EmailList{e.carol.Email},
		Consent: steward.ConsentInput{Accepted: true, Version: consent.Version}, AllowRedelegation: true})
	e.must(err)
	var inv string
	for _, m := range e.smtp.Wait(1, 10*time.Second) {
		inv = linkRE.FindString(m.Body)
	}
	_, _, err = e.svc.AcceptInvitation(e.as(e.carol), tokenOf(inv))
	e.must(err)

	ada := e.client()
	e.login(ada, "ada@acme.example", demoPassword)
	path := "/accounts/" + e.acme.ID + "/users/" + e.carol.ID
	end := time.Now().AddDate(0, 2, 0).Format("2006-01-02")
	res, _ := e.post(ada, path+"/external", url.Values{"ends_at": {end}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving options: status %d", res.StatusCode)
	}
	m, err := e.svc.FindMember(e.as(e.ada), e.acme.ID, e.carol.ID)
	e.must(err)
	if m.AllowRedelegation || m.EndsAt == nil || m.EndsAt.Format("2006-01-02") != time.Now().AddDate(0, 2, 1).Format("2006-01-02") {
		t.Errorf("options after saving: redelegation %v, ends %v", m.AllowRedelegation, m.EndsAt)
	}
	res, body := e.post(ada, path+"/external", url.Values{"ends_at": {"31/12/2026"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Access end must be a date") {
		t.Errorf("a bad date: status %d", res.StatusCode)
	}

	res, body = e.get(ada, "/accounts/"+e.acme.ID+"/activity/export?format=csv&action=invitation.accepted")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("CSV export: status %d, %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "invitation.accepted") {
		t.Errorf("CSV export of invitation.accepted = %q", lines)
	}
	bob := e.client()
	e.login(bob, "bob@acme.example", demoPassword)
	if res, _ := e.get(bob, "/accounts/"+e.acme.ID+"/activity/export?format=csv"); res.StatusCode != http.StatusForbidden {
		t.Errorf("export without account.audit.view: status %d, want 403", res.StatusCode)
	}
}

// TestConsoleConvertToPartnerAdmin: a super admin of the client who is an
// employee of the partner changes to partner admin, keeping billing (R-PARTNER-9).
func TestConsoleConvertToPartnerAdmin(t *testing.T) {
	e := newEnv(t, "sqlite")
	link, _, err := e.svc.CreateAccessLink(e.as(e.pat), e.agency.ID, e.pat.ID)
	e.must(err)
	_, _, err = e.svc.ApproveAccessLink(e.as(e.ada), tokenOf(link.URL), e.acme.ID)
	e.must(err)
	_, _, err = e.svc.ChangeMemberRole(e.as(e.ada), e.acme.ID, e.pat.ID, steward.RoleSuperAdmin)
	e.must(err)
	pat := e.client()
	e.login(pat, "pat@brightside.example", demoPassword)
	res, _ := e.post(pat, "/accounts/"+e.agency.ID+"/clients/"+e.acme.ID+"/convert", url.Values{"user_id": {e.pat.ID}, "retain_billing": {"on"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("convert: status %d", res.StatusCode)
	}
	if got := e.check(e.pat.ID, e.acme.ID, "account.billing.manage"); !got.Allowed || got.Reason.Role != steward.RolePartnerAdmin {
		t.Errorf("after converting with billing kept: %+v", got)
	}
	if got := e.check(e.pat.ID, e.acme.ID, "account.super_admins.manage"); got.Allowed {
		t.Error("the converted partner admin still manages super admins")
	}
}

// TestConsoleDeclineAccessLink: declining asks first, then the link is used up.
func TestConsoleDeclineAccessLink(t *testing.T) {
	e := newEnv(t, "sqlite")
	link, _, err := e.svc.CreateAccessLink(e.as(e.pat), e.agency.ID, e.pat.ID)
	e.must(err)
	path := strings.TrimPrefix(link.URL, e.URL)
	grace := e.client()
	e.login(grace, "grace@globex.example", demoPassword)
	res, body := e.get(grace, path+"/decline")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "Decline the request from Brightside Digital?") {
		t.Fatalf("decline confirmation: status %d", res.StatusCode)
	}
	if _, err := e.svc.FindAccessLink(e.as(e.grace), tokenOf(link.URL)); err != nil {
		t.Fatalf("the confirmation page used the link: %v", err)
	}
	if res, _ := e.post(grace, path+"/decline", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("decline: status %d", res.StatusCode)
	}
	if res, body := e.get(grace, path); res.StatusCode != http.StatusConflict || !strings.Contains(body, "has been used") {
		t.Errorf("a declined link: status %d", res.StatusCode)
	}
}

// TestRLIFE1_ConsoleRelationshipEndDate: on the Partners page the client sets
// and clears a relationship's end date and auto-extend with a plain form,
// and an external user's page switches auto-extend (R-LIFE-1).
func TestRLIFE1_ConsoleRelationshipEndDate(t *testing.T) {
	e := newEnv(t, "sqlite")
	link, _, err := e.svc.CreateAccessLink(e.as(e.pat), e.agency.ID, e.pat.ID)
	e.must(err)
	_, _, err = e.svc.ApproveAccessLink(e.as(e.ada), tokenOf(link.URL), e.acme.ID)
	e.must(err)
	ada := e.client()
	e.login(ada, "ada@acme.example", demoPassword)
	partners := "/accounts/" + e.acme.ID + "/partners"
	end := time.Now().AddDate(0, 3, 0).Format("2006-01-02")
	res, _ := e.post(ada, partners+"/"+e.agency.ID+"/duration", url.Values{"ends_at": {end}, "auto_extend": {"on"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving the end date: status %d", res.StatusCode)
	}
	r, err := e.store.FindRelationship(context.Background(), e.agency.ID, e.acme.ID)
	e.must(err)
	if r.EndsAt == nil || r.EndsAt.Format("2006-01-02") != time.Now().AddDate(0, 3, 1).Format("2006-01-02") || !r.AutoExtend {
		t.Errorf("relationship after saving: ends %v, auto_extend %v", r.EndsAt, r.AutoExtend)
	}
	_, body := e.get(ada, partners)
	if !strings.Contains(body, `name="auto_extend" checked`) || !strings.Contains(body, `value="`+end+`"`) {
		t.Errorf("the Partners page does not show the end date and auto-extend")
	}
	res, _ = e.post(ada, partners+"/"+e.agency.ID+"/duration", url.Values{"ends_at": {""}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("clearing the end date: status %d", res.StatusCode)
	}
	r, err = e.store.FindRelationship(context.Background(), e.agency.ID, e.acme.ID)
	e.must(err)
	if r.EndsAt != nil || r.AutoExtend {
		t.Errorf("relationship after clearing: ends %v, auto_extend %v", r.EndsAt, r.AutoExtend)
	}
	if res, _ := e.post(ada, partners+"/"+e.agency.ID+"/duration", url.Values{"auto_extend": {"on"}}); res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("auto-extend without an end: status %d, want 422", res.StatusCode)
	}
	bob := e.client()
	e.login(bob, "bob@acme.example", demoPassword)
	if res, _ := e.post(bob, partners+"/"+e.agency.ID+"/duration", url.Values{"ends_at": {end}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("a member without account.partners.manage: status %d, want 403", res.StatusCode)
	}

	consent := e.svc.Consent()
	_, _, err = e.svc.Invite(e.as(e.ada), e.acme.ID, e.analyst, steward.NewInvitations{Emails: steward.EmailList{e.carol.Email},
		Consent: steward.ConsentInput{Accepted: true, Version: consent.Version}})
	e.must(err)
	var inv string
	for _, m := range e.smtp.Wait(2, 10*time.Second) {
		if s := linkRE.FindString(m.Body); strings.Contains(s, "/invitations/") {
			inv = s
		}
	}
	_, _, err = e.svc.AcceptInvitation(e.as(e.carol), tokenOf(inv))
	e.must(err)
	path := "/accounts/" + e.acme.ID + "/users/" + e.carol.ID
	if res, _ := e.post(ada, path+"/external", url.Values{"ends_at": {end}, "auto_extend": {"on"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving options: status %d", res.StatusCode)
	}
	m, err := e.svc.FindMember(e.as(e.ada), e.acme.ID, e.carol.ID)
	e.must(err)
	if !m.AutoExtend {
		t.Error("auto_extend not saved on the external user")
	}
	if _, body := e.get(ada, path); !strings.Contains(body, `name="auto_extend" checked`) {
		t.Error("the external user's page does not show auto-extend on")
	}
}
