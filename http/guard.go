package http

import (
	"context"
	"net/http"
	"reflect"

	"github.com/danielgtaylor/huma/v2"
	"github.com/steward-iam/steward"
)

// nullable is a field of a partial update: absent leaves it, null clears it.
type nullable[T any] struct{ steward.Optional[T] }

// Schema documents the field as its value's type or null.
func (nullable[T]) Schema(r huma.Registry) *huma.Schema {
	s := *r.Schema(reflect.TypeFor[T](), true, "")
	s.Nullable = true
	return &s
}

// PolicyPatch is the body of PATCH /v1/accounts/{account}/policy: a field
// left out stays, null clears it.
type PolicyPatch struct {
	AllowedPartners nullable[[]string] `json:"allowed_partners,omitempty" doc:"Partner account ids (acc_…) or email domains whose access links may be approved (R-GUARD-1); empty or null admits every partner."`
	MaxPartnerDays  nullable[int]      `json:"max_partner_days,omitempty" doc:"A partner's access must end within this many days of its approval (R-GUARD-2)."`
	MaxExternalDays nullable[int]      `json:"max_external_days,omitempty" doc:"An external user's access must end within this many days of its acceptance (R-GUARD-2)."`
	NeverDelegable  nullable[[]string] `json:"never_delegable,omitempty" doc:"Permissions no partner, external or delegate membership holds here (R-GUARD-3)."`
}

// RevocationRequest is the body of POST /v1/accounts/{account}/revocations.
type RevocationRequest struct {
	HomeAccountID string `json:"home_account_id" doc:"The home account whose users lose every access to this account (R-REVOKE-1)."`
}

// RequestPath names an access request.
type RequestPath struct {
	AccountPath
	Request string `path:"request" doc:"Access request id (req_…)."`
}

func (s *Server) guardRoutes() {
	const tag = "guardrails"
	huma.Register(s.api, op(http.MethodGet, "/v1/accounts/{account}/policy", "get-policy", tag,
		"Get the account's policy over partners, external users and delegates", http.StatusOK),
		read(func(ctx context.Context, in *AccountPath) (*steward.AccountPolicy, error) {
			return s.svc.FindPolicy(ctx, in.Account)
		}))
	huma.Register(s.api, s.previewable(op(http.MethodPatch, "/v1/accounts/{account}/policy", "update-policy", tag,
		"Change the account's policy (needs account.super_admins.manage); tightening applies at once and the answer lists what it affected (R-GUARD-4)", http.StatusOK)),
		write(func(ctx context.Context, in *struct {
			AccountPath
			Body PolicyPatch
		}) (*steward.PolicyChange, int64, error) {
			return s.svc.UpdatePolicy(ctx, in.Account, steward.PolicyUpdate{
				AllowedPartners: in.Body.AllowedPartners.Optional, MaxPartnerDays: in.Body.MaxPartnerDays.Optional,
				MaxExternalDays: in.Body.MaxExternalDays.Optional, NeverDelegable: in.Body.NeverDelegable.Optional,
			})
		}))

	gone := func(o huma.Operation) huma.Operation {
		o.Errors = append(o.Errors, http.StatusGone) // an expired request
		return o
	}
	const reqTag = "access requests"
	requests := "/v1/accounts/{account}/access-requests"
	huma.Register(s.api, op(http.MethodPost, requests, "create-access-request", reqTag,
		"Ask for permissions a partner or external membership lacks (R-REQUEST-1)", http.StatusCreated),
		write(func(ctx context.Context, in *struct {
			AccountPath
			Body steward.NewAccessRequest
		}) (*steward.AccessRequest, int64, error) {
			return s.svc.RequestAccess(ctx, in.Account, in.Body)
		}))
	huma.Register(s.api, op(http.MethodGet, requests, "list-access-requests", reqTag,
		"List the account's access requests (holders of account.users.manage or account.partners.manage), or with mine=true the caller's own (any member, R-REQUEST-1)", http.StatusOK),
		list(func(ctx context.Context, in *struct {
			AccountPath
			PageQuery
			Status string `query:"status" enum:"pending,approved,declined,expired" doc:"Only requests of this status."`
			Mine   bool   `query:"mine" doc:"Only the caller's own requests: those for it or filed by it. Needs no list permission."`
		}) ([]*steward.AccessRequest, string, error) {
			page, err := in.page()
			if err != nil {
				return nil, "", err
			}
			return s.svc.FindAccessRequests(ctx, steward.AccessRequestFilter{AccountID: in.Account, Status: steward.AccessRequestStatus(in.Status), Mine: in.Mine, Page: page})
		}))
	huma.Register(s.api, op(http.MethodGet, requests+"/{request}", "get-access-request", reqTag, "Get an access request", http.StatusOK),
		read(func(ctx context.Context, in *RequestPath) (*steward.AccessRequest, error) {
			return s.svc.FindAccessRequest(ctx, in.Account, in.Request)
		}))
	huma.Register(s.api, gone(s.previewable(op(http.MethodPost, requests+"/{request}/approve", "approve-access-request", reqTag,
		"Approve: the membership gains exactly the permissions it lacks, with the approver as granter (R-REQUEST-2)", http.StatusOK))),
		write(func(ctx context.Context, in *RequestPath) (*steward.AccessRequest, int64, error) {
			return s.svc.ApproveAccessRequest(ctx, in.Account, in.Request)
		}))
	huma.Register(s.api, gone(op(http.MethodPost, requests+"/{request}/decline", "decline-access-request", reqTag,
		"Decline an access request (R-REQUEST-2)", http.StatusOK)),
		write(func(ctx context.Context, in *RequestPath) (*steward.AccessRequest, int64, error) {
			return s.svc.DeclineAccessRequest(ctx, in.Account, in.Request)
		}))

	const revTag = "revocation"
	huma.Register(s.api, op(http.MethodPost, "/v1/accounts/{account}/revocations", "revoke-home-account", revTag,
		"End every access to the account held by users of one home account, in one action (R-REVOKE-1)", http.StatusOK),
		write(func(ctx context.Context, in *struct {
			AccountPath
			Body RevocationRequest
		}) (*steward.Revocation, int64, error) {
			return s.svc.RevokeHomeAccount(ctx, in.Account, in.Body.HomeAccountID)
		}))
	huma.Register(s.api, op(http.MethodPost, "/v1/users/{user}/revoke", "revoke-user", revTag,
		"Revoke a user everywhere: deactivated, every API token and console session stops working (R-REVOKE-2)", http.StatusOK),
		write(func(ctx context.Context, in *UserPath) (*steward.UserRevocation, int64, error) {
			return s.svc.RevokeUser(ctx, in.User)
		}))
}
