package http

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/steward-iam/steward"
)

// External users and re-delegation (SPEC §3 "external users", R-EXT-…).

// Emails is the emails field of an invitation: one string of addresses
// separated by commas, or a list of strings. Any other JSON type is a 400
// wrong_type, answered by the handler: huma's own check of a oneOf schema
// would make it a 422.
type Emails struct {
	list     []string
	notEmail bool // neither a string nor a list of strings
}

// Schema documents both shapes; the type is checked by the handler.
func (Emails) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{
		Description: "Addresses separated by commas (a string), or a list of addresses (an array of strings). Spaces, case and duplicates are forgiven; every bad address is named in one 422.",
		Examples:    []any{"ada@example.com, grace@example.com"},
	}
}

// UnmarshalJSON accepts a string or a list of strings and remembers anything else.
func (e *Emails) UnmarshalJSON(b []byte) error {
	var l steward.EmailList
	if err := json.Unmarshal(b, &l); err != nil {
		e.notEmail = true
		return nil
	}
	e.list = l
	return nil
}

func (e Emails) emailList() (steward.EmailList, error) {
	if e.notEmail {
		return nil, &steward.Error{Kind: steward.EBADREQUEST, Code: codeWrongType, Message: "emails must be a string of comma-separated addresses or a list of strings.",
			Fields: []steward.FieldError{{Field: "emails", Message: "expected string or array of strings"}}}
	}
	return steward.EmailList(e.list), nil
}

// ConsentBody is the inviter's acceptance of the delegated account
// management agreement (GET /v1/consent).
type ConsentBody struct {
	Accepted bool   `json:"accepted,omitempty" doc:"Must be true."`
	Version  string `json:"version,omitempty" doc:"The version of GET /v1/consent; any other is stale (409 consent_outdated)."`
}

// InvitationRequest is the body of POST …/roles/{role}/invitations.
type InvitationRequest struct {
	Emails            Emails       `json:"emails"`
	Consent           *ConsentBody `json:"consent,omitempty" doc:"Required: the accepted agreement (R-EXT-2)."`
	AllowRedelegation bool         `json:"allow_redelegation,omitempty" doc:"The invitee may hand these permissions to users of its own account."`
	EndsAt            *time.Time   `json:"ends_at,omitempty" doc:"After it the invitee and its delegates lose access."`
	DelegatesEndAt    *time.Time   `json:"delegates_end_at,omitempty" doc:"When the delegates lose access; not later than ends_at."`
}

// InvitationsCreated is the answer of POST …/invitations. It carries no
// token: the token reaches only the invitee, by mail.
type InvitationsCreated struct {
	Items []*steward.Invitation `json:"items"`
}

// TokenPath is the path parameter holding an invitation's token.
type TokenPath struct {
	Token string `path:"token" doc:"The token at the end of the invitation's link."`
}

// ExternalUserPath names an external user of an account.
type ExternalUserPath struct {
	Account string `path:"account" doc:"Account id (acc_…)."`
	User    string `path:"user" doc:"The external user's id (usr_…)."`
}

func (s *Server) externalRoutes() {
	huma.Register(s.api, op(http.MethodGet, "/v1/consent", "get-consent", "external users",
		"The delegated account management agreement an inviter accepts (R-EXT-2)", http.StatusOK),
		read(func(ctx context.Context, _ *struct{}) (steward.ConsentAgreement, error) {
			return s.svc.Consent(), nil
		}))
	huma.Register(s.api, s.previewable(op(http.MethodPost, "/v1/accounts/{account}/roles/{role}/invitations", "invite-external-users", "external users",
		"Invite external users by email into a role; all or none (R-EXT-1 … R-EXT-5)", http.StatusCreated)),
		writeAs(func(ctx context.Context, in *struct {
			RolePath
			Body InvitationRequest
		}) ([]*steward.Invitation, int64, error) {
			b := in.Body
			emails, err := b.Emails.emailList()
			if err != nil {
				return nil, 0, err
			}
			req := steward.NewInvitations{Emails: emails, AllowRedelegation: b.AllowRedelegation, EndsAt: b.EndsAt, DelegatesEndAt: b.DelegatesEndAt}
			if b.Consent != nil {
				req.Consent = steward.ConsentInput{Accepted: b.Consent.Accepted, Version: b.Consent.Version}
			}
			return s.svc.Invite(ctx, in.Account, in.Role, req)
		}, func(invs []*steward.Invitation) InvitationsCreated { return InvitationsCreated{Items: invs} }))
	huma.Register(s.api, op(http.MethodGet, "/v1/accounts/{account}/roles/{role}/invitations", "list-role-invitations", "external users",
		"List the pending invitations into a role: its members to be (R-EXT-5)", http.StatusOK),
		list(func(ctx context.Context, in *struct {
			RolePath
			PageQuery
		}) ([]*steward.Invitation, string, error) {
			page, err := in.page()
			if err != nil {
				return nil, "", err
			}
			return s.svc.FindRoleInvitations(ctx, in.Account, in.Role, page)
		}))
	huma.Register(s.api, op(http.MethodGet, "/v1/accounts/{account}/invitations", "list-invitations", "external users",
		"List the account's invitations", http.StatusOK),
		list(func(ctx context.Context, in *struct {
			AccountPath
			PageQuery
			Status string `query:"status" enum:"pending,accepted,revoked,expired" doc:"Only invitations of this status."`
			Role   string `query:"role" doc:"Only invitations into this role."`
		}) ([]*steward.Invitation, string, error) {
			page, err := in.page()
			if err != nil {
				return nil, "", err
			}
			return s.svc.FindInvitations(ctx, steward.InvitationFilter{AccountID: in.Account, Role: in.Role, Status: steward.InvitationStatus(in.Status), Page: page})
		}))
	huma.Register(s.api, op(http.MethodDelete, "/v1/accounts/{account}/invitations/{invitation}", "revoke-invitation", "external users",
		"Revoke a pending invitation", http.StatusNoContent),
		remove(func(ctx context.Context, in *struct {
			AccountPath
			Invitation string `path:"invitation" doc:"Invitation id (inv_…)."`
		}) (int64, error) {
			return s.svc.RevokeInvitation(ctx, in.Account, in.Invitation)
		}))
	huma.Register(s.api, op(http.MethodGet, "/v1/invitations/{token}", "get-invitation", "external users",
		"What an invitation's link offers: account, role, permissions, options", http.StatusOK),
		read(func(ctx context.Context, in *TokenPath) (*steward.InvitationView, error) {
			return s.svc.FindInvitationByToken(ctx, in.Token)
		}))
	accept := op(http.MethodPost, "/v1/invitations/{token}/accept", "accept-invitation", "external users",
		"Accept an invitation as the invited user: become an external member (R-EXT-6, R-EXT-7)", http.StatusCreated)
	accept.Errors = append(accept.Errors, http.StatusGone)
	huma.Register(s.api, accept,
		write(func(ctx context.Context, in *TokenPath) (*steward.Membership, int64, error) {
			return s.svc.AcceptInvitation(ctx, in.Token)
		}))
	huma.Register(s.api, s.previewable(op(http.MethodPatch, "/v1/accounts/{account}/external-users/{user}", "update-external-user", "external users",
		"Edit an external user's options; turning re-delegation off ends its delegates (R-EXT-8)", http.StatusOK)),
		write(func(ctx context.Context, in *struct {
			ExternalUserPath
			Body steward.ExternalUpdate
		}) (*steward.Membership, int64, error) {
			return s.svc.UpdateExternalUser(ctx, in.Account, in.User, in.Body)
		}))
	huma.Register(s.api, s.previewable(op(http.MethodPost, "/v1/accounts/{account}/external-users/{user}/delegates", "add-delegates", "external users",
		"Re-delegate: the external user hands its permissions, or fewer, to users of its own account (R-EXT-9)", http.StatusCreated)),
		writeAs(func(ctx context.Context, in *struct {
			ExternalUserPath
			Body steward.NewDelegates
		}) ([]*steward.Membership, int64, error) {
			return s.svc.AddDelegates(ctx, in.Account, in.User, in.Body)
		}, listOf[*steward.Membership]))
	huma.Register(s.api, op(http.MethodGet, "/v1/accounts/{account}/external-users/{user}/delegates", "list-delegates", "external users",
		"List an external user's delegates", http.StatusOK),
		list(func(ctx context.Context, in *struct {
			ExternalUserPath
			PageQuery
		}) ([]*steward.Membership, string, error) {
			page, err := in.page()
			if err != nil {
				return nil, "", err
			}
			return s.svc.FindDelegates(ctx, in.Account, in.User, page)
		}))
	huma.Register(s.api, s.previewable(op(http.MethodDelete, "/v1/accounts/{account}/external-users/{user}/delegates/{delegate}", "remove-delegate", "external users",
		"Remove a delegate (the external user itself, or a holder of account.users.manage)", http.StatusNoContent)),
		remove(func(ctx context.Context, in *struct {
			ExternalUserPath
			Delegate string `path:"delegate" doc:"The delegate's user id (usr_…)."`
		}) (int64, error) {
			return s.svc.RemoveDelegate(ctx, in.Account, in.User, in.Delegate)
		}))
}

// RoleMembersInput names a role and a page of its members.
type RoleMembersInput struct {
	RolePath
	PageQuery
}

// RoleMemberList is the answer of GET …/roles/{role}/members: a page of the
// members holding the role (internal, partner, external and delegate) and,
// on the first page, the pending invitations into it (R-EXT-5) when the
// actor may see them (account.external_users.invite or account.users.manage).
type RoleMemberList struct {
	Items              []*steward.Membership `json:"items"`
	NextCursor         string                `json:"next_cursor" doc:"Pass as cursor for the next page; empty on the last page."`
	PendingInvitations []*steward.Invitation `json:"pending_invitations" doc:"The pending invitations into the role, on the first page only (up to 500; the full list is GET …/roles/{role}/invitations)."`
}

// roleMembers lists a role's members with its pending invitations.
func (s *Server) roleMembers(ctx context.Context, in *RoleMembersInput) (*bodyOutput[RoleMemberList], error) {
	page, err := in.page()
	if err != nil {
		return nil, problemOf(err)
	}
	ms, next, err := s.svc.FindRoleMembers(ctx, in.Account, in.Role, page)
	if err != nil {
		return nil, problemOf(err)
	}
	out := RoleMemberList{Items: ms, NextCursor: encodeCursor(next), PendingInvitations: []*steward.Invitation{}}
	if out.Items == nil {
		out.Items = []*steward.Membership{}
	}
	if page.After == "" {
		// Invitees' addresses are shown to those who may manage them; other
		// members see the members only.
		invs, _, err := s.svc.FindRoleInvitations(ctx, in.Account, in.Role, steward.Page{Limit: steward.MaxPageLimit})
		if err != nil && steward.ErrorKind(err) != steward.EFORBIDDEN {
			return nil, problemOf(err)
		}
		out.PendingInvitations = append(out.PendingInvitations, invs...)
	}
	return &bodyOutput[RoleMemberList]{Body: out}, nil
}
