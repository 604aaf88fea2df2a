package http

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/steward-iam/steward"
)

// Partner access: the partner console, the client side, assets and
// activity (SPEC §3, R-PARTNER-…).

// PartnerPath names a partner account.
type PartnerPath struct {
	Partner string `path:"partner" doc:"The partner account's id (acc_…)."`
}

// ClientPath names a client of a partner.
type ClientPath struct {
	PartnerPath
	Client string `path:"client" doc:"The client account's id (acc_…)."`
}

// LinkTokenPath holds an access link's token.
type LinkTokenPath struct {
	Token string `path:"token" doc:"The token at the end of the access link's URL."`
}

// AccessLinkRequest is the body of POST /v1/partners/{partner}/access-links.
type AccessLinkRequest struct {
	UserID string `json:"user_id,omitempty" doc:"The employee the link is for; default the caller. Another employee needs partner.employees.manage."`
}

// ApprovalRequest is the body of POST /v1/access-links/{token}/approve.
type ApprovalRequest struct {
	AccountID  string     `json:"account_id" doc:"The client account the caller is a super admin of."`
	EndsAt     *time.Time `json:"ends_at,omitempty" doc:"When the relationship, and with it every partner membership of the partner in the client, ends (R-LIFE-1); required within max_partner_days when the client's policy sets it (R-GUARD-2)."`
	AutoExtend *bool      `json:"auto_extend,omitempty" doc:"At its end, extend the relationship by the same term without new consent, unless the client's policy forbids it (R-LIFE-1). Default false."`
}

// PartnerPatch is the body of PATCH /v1/accounts/{account}/partners/{partner}:
// a field left out stays, a null ends_at clears the end date.
type PartnerPatch struct {
	EndsAt     nullable[time.Time] `json:"ends_at,omitempty" doc:"When the relationship ends (R-LIFE-1); null clears it. Within max_partner_days of the approval when the policy sets it (R-GUARD-2)."`
	AutoExtend *bool               `json:"auto_extend,omitempty" doc:"At its end, extend the relationship by its current term, unless the policy forbids it (R-LIFE-1)."`
}

// AliasRequest is the body of PATCH /v1/partners/{partner}/clients/{client}.
type AliasRequest struct {
	Alias string `json:"alias" doc:"The partner's own name for the client (R-PARTNER-7)."`
}

// EmployeesRequest is the body of POST …/clients/{client}/employees.
type EmployeesRequest struct {
	UserIDs []string `json:"user_ids" doc:"Employees of the partner, active there (R-PARTNER-4); all are added or none."`
	Role    string   `json:"role" doc:"A role of the client: a custom role id or partner_admin, member."`
}

// AssignmentRequest is the body of POST /v1/partners/{partner}/employees/assignments.
type AssignmentRequest struct {
	ClientIDs []string `json:"client_ids" doc:"Clients of the partner (acc_…), 1 to 500; the caller must be a partner admin in each (R-PARTNER-4)."`
	UserIDs   []string `json:"user_ids" doc:"Employees of the partner, active there (R-PARTNER-4), 1 to 1,000; clients × users at most 10,000."`
	Role      string   `json:"role" doc:"A role of every client: partner_admin, member, or a custom role id (a custom role belongs to one client)."`
}

// LinkRequest is the body of POST …/employees/{user}/link.
type LinkRequest struct {
	AccountID string `json:"account_id" doc:"The client in which the employee is a member already (R-PARTNER-6)."`
}

// SelectionRequest is the body of the removal, deactivation and reactivation calls.
type SelectionRequest struct {
	UserIDs    []string          `json:"user_ids,omitempty" doc:"Employees of the partner; omitted or empty: every employee of the partner in the clients (remove all partner employees)."`
	AccountIDs []string          `json:"account_ids" doc:"Client accounts."`
	ReassignTo map[string]string `json:"reassign_to,omitempty" doc:"Removals only: per client account id, the member of that client who receives the removed employees' assets."`
}

func (r SelectionRequest) selection() steward.EmployeeSelection {
	return steward.EmployeeSelection{UserIDs: r.UserIDs, AccountIDs: r.AccountIDs, ReassignTo: r.ReassignTo}
}

// ConvertRequest is the body of POST …/clients/{client}/convert-to-partner-admin.
type ConvertRequest struct {
	UserID        string `json:"user_id" doc:"A super admin of the client who is an employee of the partner."`
	RetainBilling bool   `json:"retain_billing,omitempty" doc:"Keep account.billing.manage (R-PARTNER-9)."`
}

// AssetPath names an asset of an account.
type AssetPath struct {
	AccountPath
	Type string `path:"type" doc:"The asset's type, e.g. workflow." example:"workflow"`
	ID   string `path:"id" doc:"The product's id of the asset."`
}

// ActivityRecorded is the answer of POST …/activity: the audit event.
type ActivityRecorded struct {
	EventID string `json:"event_id"`
	Action  string `json:"action"`
}

func (s *Server) partnerRoutes() {
	const partners = "/v1/partners/{partner}"
	const tag = "partner console"
	gone := func(o huma.Operation) huma.Operation {
		if o.Method == http.MethodGet {
			o.Errors = append(o.Errors, http.StatusConflict)
		}
		o.Errors = append(o.Errors, http.StatusGone)
		return o
	}

	// Access links (R-PARTNER-2, R-PARTNER-3).
	huma.Register(s.api, op(http.MethodPost, partners+"/access-links", "create-access-link", tag,
		"Get a personal, single-use access link for an employee (R-PARTNER-2); the URL ends with the token", http.StatusCreated),
		write(func(ctx context.Context, in *struct {
			PartnerPath
			Body AccessLinkRequest
		}) (*steward.NewAccessLink, int64, error) {
			return s.svc.CreateAccessLink(ctx, in.Partner, in.Body.UserID)
		}))
	huma.Register(s.api, gone(op(http.MethodGet, "/v1/access-links/{token}", "get-access-link", tag,
		"What approving an access link grants: partner, user, role and permissions (R-PARTNER-3)", http.StatusOK)),
		read(func(ctx context.Context, in *LinkTokenPath) (*steward.AccessLinkView, error) {
			return s.svc.FindAccessLink(ctx, in.Token)
		}))
	huma.Register(s.api, gone(s.previewable(op(http.MethodPost, "/v1/access-links/{token}/approve", "approve-access-link", tag,
		"Approve an access link as a super admin of the client: the relationship and a partner admin (R-PARTNER-3)", http.StatusOK))),
		write(func(ctx context.Context, in *struct {
			LinkTokenPath
			Body ApprovalRequest
		}) (*steward.Approval, int64, error) {
			return s.svc.ApproveAccessLinkWith(ctx, in.Token, in.Body.AccountID, steward.ApprovalOptions{EndsAt: in.Body.EndsAt, AutoExtend: in.Body.AutoExtend})
		}))
	huma.Register(s.api, gone(op(http.MethodPost, "/v1/access-links/{token}/decline", "decline-access-link", tag,
		"Decline an access link; it is used up", http.StatusNoContent)),
		remove(func(ctx context.Context, in *LinkTokenPath) (int64, error) {
			return s.svc.DeclineAccessLink(ctx, in.Token)
		}))

	// Clients (R-PARTNER-4, R-PARTNER-5, R-PARTNER-7, R-PARTNER-9).
	huma.Register(s.api, op(http.MethodGet, partners+"/clients", "list-clients", tag,
		"List the partner's clients: its alias and the client's own name, status and counts (R-PARTNER-7)", http.StatusOK),
		list(func(ctx context.Context, in *struct {
			PartnerPath
			PageQuery
			AccessType string `query:"access_type" enum:"partner_admin,employees,none" doc:"partner_admin: a partner admin of the partner is active there; employees: only employees; none: no partner membership left."`
			Status     string `query:"status" enum:"active,ending,ended" doc:"Only relationships of this status."`
			Q          string `query:"q" doc:"Search the alias and the client's name."`
		}) ([]*steward.Client, string, error) {
			page, err := in.page()
			if err != nil {
				return nil, "", err
			}
			return s.svc.FindClients(ctx, steward.ClientFilter{PartnerID: in.Partner, AccessType: in.AccessType,
				Status: steward.RelationshipStatus(in.Status), Search: in.Q, Page: page})
		}))
	huma.Register(s.api, op(http.MethodPatch, partners+"/clients/{client}", "update-client-alias", tag,
		"Set the partner's alias for a client (R-PARTNER-7)", http.StatusOK),
		write(func(ctx context.Context, in *struct {
			ClientPath
			Body AliasRequest
		}) (*steward.Relationship, int64, error) {
			return s.svc.UpdateClientAlias(ctx, in.Partner, in.Client, in.Body.Alias)
		}))
	huma.Register(s.api, s.previewable(op(http.MethodPost, partners+"/clients/{client}/employees", "add-employees", tag,
		"Add employees of the partner to a client with a role, as a partner admin there (R-PARTNER-4, R-GRANT-1)", http.StatusCreated)),
		writeAs(func(ctx context.Context, in *struct {
			ClientPath
			Body EmployeesRequest
		}) ([]*steward.Membership, int64, error) {
			return s.svc.AddEmployees(ctx, in.Partner, in.Client, in.Body.UserIDs, in.Body.Role)
		}, listOf[*steward.Membership]))
	huma.Register(s.api, s.previewable(op(http.MethodPut, partners+"/clients/{client}/employees/{user}/role", "change-employee-role", tag,
		"Apply a role to a partner employee in a client (R-PARTNER-5, R-GRANT-2)", http.StatusOK)),
		write(func(ctx context.Context, in *struct {
			ClientPath
			User string `path:"user" doc:"The employee's user id (usr_…)."`
			Body RoleChange
		}) (*steward.Membership, int64, error) {
			return s.svc.ChangeEmployeeRole(ctx, in.Partner, in.Client, in.User, in.Body.Role)
		}))
	huma.Register(s.api, s.previewable(op(http.MethodPost, partners+"/clients/{client}/convert-to-partner-admin", "convert-to-partner-admin", tag,
		"Convert a super admin of the client who is an employee of the partner to partner admin (R-PARTNER-9)", http.StatusOK)),
		write(func(ctx context.Context, in *struct {
			ClientPath
			Body ConvertRequest
		}) (*steward.Membership, int64, error) {
			return s.svc.ConvertToPartnerAdmin(ctx, in.Partner, in.Client, in.Body.UserID, in.Body.RetainBilling)
		}))

	// Employees (R-PARTNER-6, R-PARTNER-8).
	huma.Register(s.api, op(http.MethodGet, partners+"/employees", "list-employees", tag,
		"List the partner's employees with the verified-domain mark and their client count (R-PARTNER-6)", http.StatusOK),
		list(func(ctx context.Context, in *struct {
			PartnerPath
			PageQuery
		}) ([]*steward.Employee, string, error) {
			page, err := in.page()
			if err != nil {
				return nil, "", err
			}
			return s.svc.FindEmployees(ctx, in.Partner, page)
		}))
	assign := op(http.MethodPost, partners+"/employees/assignments", "assign-employees", tag,
		"Add employees of the partner to many clients with a role in one transaction, as a partner admin in each (R-PARTNER-4, R-GRANT-1)", http.StatusCreated)
	assign.Description += " All are added or none: a client where the caller is not a partner admin (403), or that is not the partner's (404), " +
		"or a user who is not an active employee (422), refuses the whole request, and the error names client_ids[i] or user_ids[j]. " +
		"A user who is a member of a client already is left as it is there and listed in that client's already_members. " +
		"At most 500 clients, 1,000 users and 10,000 memberships (clients × users) a request; over it, 422 naming the field. " +
		"Each membership gets its partner_member.added audit event in its client; each employee gets one mail listing every client it was added to. " +
		"The answer lists, per client, the new membership ids rather than the memberships. "
	huma.Register(s.api, s.previewable(assign),
		write(func(ctx context.Context, in *struct {
			PartnerPath
			Body AssignmentRequest
		}) (*steward.Assignment, int64, error) {
			return s.svc.AddEmployeesToClients(ctx, in.Partner, in.Body.ClientIDs, in.Body.UserIDs, in.Body.Role)
		}))
	huma.Register(s.api, op(http.MethodPost, partners+"/employees/{user}/link", "link-employee", tag,
		"Credit the partner with managing an employee's membership in a client (R-PARTNER-6)", http.StatusOK),
		write(func(ctx context.Context, in *struct {
			PartnerPath
			User string `path:"user" doc:"The employee's user id (usr_…)."`
			Body LinkRequest
		}) (*steward.Membership, int64, error) {
			return s.svc.LinkEmployee(ctx, in.Partner, in.User, in.Body.AccountID)
		}))
	huma.Register(s.api, op(http.MethodPost, partners+"/removals/preview", "preview-removal", tag,
		"Show, per client, every asset the employees own there before a removal (R-PARTNER-8); changes nothing", http.StatusOK),
		read(func(ctx context.Context, in *struct {
			PartnerPath
			Body SelectionRequest
		}) (*steward.RemovalPreview, error) {
			return s.svc.PreviewRemoval(ctx, in.Partner, in.Body.selection())
		}))
	huma.Register(s.api, op(http.MethodPost, partners+"/removals", "remove-employees", tag,
		"Remove employees from clients in one transaction, reassigning their assets per client (R-PARTNER-8)", http.StatusOK),
		write(func(ctx context.Context, in *struct {
			PartnerPath
			Body SelectionRequest
		}) (*steward.RemovalResult, int64, error) {
			return s.svc.RemoveEmployees(ctx, in.Partner, in.Body.selection())
		}))
	huma.Register(s.api, op(http.MethodPost, partners+"/deactivations", "deactivate-employees", tag,
		"Deactivate employees in clients (R-PARTNER-8); the relationship stays (R-PARTNER-10)", http.StatusOK),
		write(func(ctx context.Context, in *struct {
			PartnerPath
			Body SelectionRequest
		}) (*steward.StatusResult, int64, error) {
			return s.svc.DeactivateEmployees(ctx, in.Partner, in.Body.selection())
		}))
	huma.Register(s.api, op(http.MethodPost, partners+"/reactivations", "reactivate-employees", tag,
		"Reactivate employees in clients, as a partner admin in each (R-PARTNER-8)", http.StatusOK),
		write(func(ctx context.Context, in *struct {
			PartnerPath
			Body SelectionRequest
		}) (*steward.StatusResult, int64, error) {
			return s.svc.ReactivateEmployees(ctx, in.Partner, in.Body.selection())
		}))

	// The client side (R-PARTNER-11).
	huma.Register(s.api, op(http.MethodGet, "/v1/accounts/{account}/partners", "list-partners", "client side",
		"List the account's partner relationships, ended ones included", http.StatusOK),
		list(func(ctx context.Context, in *struct {
			AccountPath
			PageQuery
		}) ([]*steward.Partner, string, error) {
			page, err := in.page()
			if err != nil {
				return nil, "", err
			}
			return s.svc.FindPartners(ctx, in.Account, page)
		}))
	huma.Register(s.api, s.previewable(op(http.MethodPatch, "/v1/accounts/{account}/partners/{partner}", "update-relationship", "client side",
		"Set or clear a partner relationship's end date and auto_extend (R-LIFE-1; needs account.partners.manage)", http.StatusOK)),
		write(func(ctx context.Context, in *struct {
			AccountPath
			PartnerPath
			Body PartnerPatch
		}) (*steward.SharedRelationship, int64, error) {
			upd := steward.RelationshipUpdate{AutoExtend: in.Body.AutoExtend}
			upd.EndsAt = in.Body.EndsAt.Optional
			return s.svc.UpdatePartner(ctx, in.Account, in.Partner, upd)
		}))
	huma.Register(s.api, op(http.MethodDelete, "/v1/accounts/{account}/partners/{partner}", "end-relationship", "client side",
		"End a partner relationship: every partner membership ends at once (R-PARTNER-11)", http.StatusOK),
		write(func(ctx context.Context, in *struct {
			AccountPath
			PartnerPath
		}) (*steward.SharedRelationship, int64, error) {
			return s.svc.EndRelationship(ctx, in.Account, in.Partner)
		}))

	// Assets and activity (R-PARTNER-8, R-PARTNER-10).
	huma.Register(s.api, op(http.MethodPut, "/v1/accounts/{account}/assets/{type}/{id}", "put-asset", "assets & activity",
		"Register an asset or move its ownership (operator)", http.StatusOK),
		write(func(ctx context.Context, in *struct {
			AssetPath
			Body steward.AssetInput
		}) (*steward.Asset, int64, error) {
			return s.svc.PutAsset(ctx, in.Account, in.Type, in.ID, in.Body)
		}))
	huma.Register(s.api, op(http.MethodGet, "/v1/accounts/{account}/assets", "list-assets", "assets & activity",
		"List the account's assets", http.StatusOK),
		list(func(ctx context.Context, in *struct {
			AccountPath
			PageQuery
			Owner string `query:"owner_user_id" doc:"Only this user's assets."`
		}) ([]*steward.Asset, string, error) {
			page, err := in.page()
			if err != nil {
				return nil, "", err
			}
			return s.svc.FindAssets(ctx, steward.AssetFilter{AccountID: in.Account, OwnerUserID: in.Owner, Page: page})
		}))
	huma.Register(s.api, op(http.MethodPost, "/v1/accounts/{account}/activity", "report-activity", "assets & activity",
		"Record product activity of a user in the account (operator); a partner user's keeps the relationship alive (R-PARTNER-10)", http.StatusCreated),
		writeAs(func(ctx context.Context, in *struct {
			AccountPath
			Body steward.ActivityReport
		}) (*steward.Event, int64, error) {
			return s.svc.ReportActivity(ctx, in.Account, in.Body)
		}, func(e *steward.Event) ActivityRecorded { return ActivityRecorded{EventID: e.ID, Action: e.Action} }))
}
