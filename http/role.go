package http

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/steward-iam/steward"
)

// RolePath holds the path parameters naming one role of an account.
type RolePath struct {
	Account string `path:"account" doc:"Account id (acc_…)."`
	Role    string `path:"role" doc:"A custom role id (rol_…) or super_admin, partner_admin, member."`
}

func (s *Server) roleRoutes() {
	const base = "/v1/accounts/{account}/roles"
	huma.Register(s.api, op(http.MethodGet, base, "list-roles", "roles", "List the built-in roles, then the account's custom roles", http.StatusOK),
		list(func(ctx context.Context, in *struct {
			AccountPath
			PageQuery
		}) ([]*steward.Role, string, error) {
			page, err := in.page()
			if err != nil {
				return nil, "", err
			}
			return s.svc.FindRoles(ctx, in.Account, page)
		}))
	huma.Register(s.api, s.previewable(op(http.MethodPost, base, "create-role", "roles", "Create a custom role; every permission must be held by the actor (R-GRANT-1)", http.StatusCreated)),
		write(func(ctx context.Context, in *struct {
			AccountPath
			Body steward.RoleInput
		}) (*steward.Role, int64, error) {
			return s.svc.CreateRole(ctx, in.Account, in.Body)
		}))
	huma.Register(s.api, op(http.MethodGet, base+"/{role}", "get-role", "roles", "Get a role", http.StatusOK),
		read(func(ctx context.Context, in *RolePath) (*steward.Role, error) {
			return s.svc.FindRole(ctx, in.Account, in.Role)
		}))
	huma.Register(s.api, s.previewable(op(http.MethodPatch, base+"/{role}", "update-role", "roles",
		"Rename a custom role or change its permissions; the change reaches every member holding it (R-GRANT-3)", http.StatusOK)),
		write(func(ctx context.Context, in *struct {
			RolePath
			Body steward.RoleInput
		}) (*steward.Role, int64, error) {
			return s.svc.UpdateRole(ctx, in.Account, in.Role, in.Body)
		}))
	huma.Register(s.api, op(http.MethodDelete, base+"/{role}", "delete-role", "roles", "Delete a custom role that no member holds", http.StatusNoContent),
		remove(func(ctx context.Context, in *RolePath) (int64, error) {
			return s.svc.DeleteRole(ctx, in.Account, in.Role)
		}))
	huma.Register(s.api, op(http.MethodGet, base+"/{role}/members", "list-role-members", "roles",
		"List the members holding a role, internal and external, with the pending invitations into it", http.StatusOK), s.roleMembers)
}
