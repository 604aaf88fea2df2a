package http

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/steward-iam/steward"
)

// MemberPath holds the path parameters naming one member of an account.
type MemberPath struct {
	Account string `path:"account" doc:"Account id (acc_…)."`
	User    string `path:"user" doc:"The member's user id (usr_…)."`
}

// RoleChange is the body of PUT …/members/{user}/role.
type RoleChange struct {
	Role string `json:"role" doc:"A custom role id or super_admin, partner_admin, member." example:"member"`
}

func (s *Server) memberRoutes() {
	const base = "/v1/accounts/{account}/members"
	huma.Register(s.api, op(http.MethodGet, base, "list-members", "members", "List the account's members", http.StatusOK),
		list(func(ctx context.Context, in *struct {
			AccountPath
			PageQuery
			Role string `query:"role" doc:"Only members holding this role."`
			Kind string `query:"kind" doc:"Only members of this kind: internal, partner, external, delegate."`
		}) ([]*steward.Membership, string, error) {
			page, err := in.page()
			if err != nil {
				return nil, "", err
			}
			return s.svc.FindMembers(ctx, steward.MembershipFilter{AccountID: in.Account, Role: in.Role, Kind: steward.MembershipKind(in.Kind), Page: page})
		}))
	huma.Register(s.api, s.previewable(op(http.MethodPost, base, "add-member", "members", "Create an internal user of the account with a role", http.StatusCreated)),
		write(func(ctx context.Context, in *struct {
			AccountPath
			Body steward.NewMember
		}) (*steward.Membership, int64, error) {
			return s.svc.AddMember(ctx, in.Account, in.Body)
		}))
	huma.Register(s.api, op(http.MethodGet, base+"/{user}", "get-member", "members", "Get a member", http.StatusOK),
		read(func(ctx context.Context, in *MemberPath) (*steward.Membership, error) {
			return s.svc.FindMember(ctx, in.Account, in.User)
		}))
	huma.Register(s.api, s.previewable(op(http.MethodPut, base+"/{user}/role", "change-member-role", "members",
		"Apply a role to a member: the actor adds only what it holds and removes nothing it does not hold (R-GRANT-2)", http.StatusOK)),
		write(func(ctx context.Context, in *struct {
			MemberPath
			Body RoleChange
		}) (*steward.Membership, int64, error) {
			return s.svc.ChangeMemberRole(ctx, in.Account, in.User, in.Body.Role)
		}))
	huma.Register(s.api, op(http.MethodPost, base+"/{user}/deactivate", "deactivate-member", "members", "Deactivate a member", http.StatusOK),
		write(func(ctx context.Context, in *MemberPath) (*steward.Membership, int64, error) {
			return s.svc.DeactivateMember(ctx, in.Account, in.User)
		}))
	huma.Register(s.api, op(http.MethodPost, base+"/{user}/reactivate", "reactivate-member", "members", "Reactivate a member", http.StatusOK),
		write(func(ctx context.Context, in *MemberPath) (*steward.Membership, int64, error) {
			return s.svc.ReactivateMember(ctx, in.Account, in.User)
		}))
	huma.Register(s.api, op(http.MethodGet, base+"/{user}/removal-preview", "preview-member-removal", "members",
		"Show what removing a member takes away: per account, the membership it leaves and every asset it owns there, and who may receive them. In the user's home account the removal deletes the user, and the preview spans every account; changes nothing", http.StatusOK),
		read(func(ctx context.Context, in *MemberPath) (*steward.MemberRemovalPreview, error) {
			return s.svc.PreviewMemberRemoval(ctx, in.Account, in.User)
		}))
	huma.Register(s.api, op(http.MethodDelete, base+"/{user}", "remove-member", "members",
		"Remove a member; it lives on in the audit log. In the user's home account this deletes the user: every membership it holds anywhere ends, its tokens stop working, and each account it leaves records it. An optional body reassigns its assets per account first", http.StatusNoContent),
		remove(func(ctx context.Context, in *struct {
			MemberPath
			Body *steward.MemberRemoval `required:"false"`
		}) (int64, error) {
			var removal steward.MemberRemoval
			if in.Body != nil {
				removal = *in.Body
			}
			return s.svc.RemoveMemberWith(ctx, in.Account, in.User, removal)
		}))
}
