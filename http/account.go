package http

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/steward-iam/steward"
)

// AccountPath is the path parameter naming an account; operation inputs embed it.
type AccountPath struct {
	Account string `path:"account" doc:"Account id (acc_…)."`
}

// UserPath is the path parameter naming a user.
type UserPath struct {
	User string `path:"user" doc:"User id (usr_…)."`
}

// TokenRequest is the body of POST /v1/tokens.
type TokenRequest = steward.TokenRequest

// TokenResponse is the answer of POST /v1/tokens. The token is shown once;
// only its hash is kept.
type TokenResponse = steward.NewToken

func (s *Server) accountRoutes() {
	huma.Register(s.api, op(http.MethodPost, "/v1/accounts", "create-account", "accounts", "Create an account, optionally with its first super admin (operator)", http.StatusCreated),
		write(func(ctx context.Context, in *struct{ Body steward.NewAccount }) (*steward.Account, int64, error) {
			return s.svc.CreateAccount(ctx, in.Body)
		}))
	huma.Register(s.api, op(http.MethodGet, "/v1/accounts/{account}", "get-account", "accounts", "Get an account", http.StatusOK),
		read(func(ctx context.Context, in *AccountPath) (*steward.Account, error) {
			return s.svc.FindAccount(ctx, in.Account)
		}))
	huma.Register(s.api, op(http.MethodPatch, "/v1/accounts/{account}", "update-account", "accounts", "Change an account", http.StatusOK),
		write(func(ctx context.Context, in *struct {
			AccountPath
			Body steward.AccountUpdate
		}) (*steward.Account, int64, error) {
			return s.svc.UpdateAccount(ctx, in.Account, in.Body)
		}))

	huma.Register(s.api, op(http.MethodPost, "/v1/accounts/{account}/region-migrations", "migrate-region", "accounts",
		"Move the account to another region; needs account.region.migrate, which partner admins never hold (R-RESTRICT-1)", http.StatusOK),
		write(func(ctx context.Context, in *struct {
			AccountPath
			Body steward.RegionMigration
		}) (*steward.Account, int64, error) {
			return s.svc.MigrateRegion(ctx, in.Account, in.Body)
		}))
	huma.Register(s.api, op(http.MethodPost, "/v1/users", "create-user", "users", "Create a user in its home account (operator)", http.StatusCreated),
		write(func(ctx context.Context, in *struct{ Body steward.NewUser }) (*steward.User, int64, error) {
			return s.svc.CreateUser(ctx, in.Body)
		}))
	huma.Register(s.api, op(http.MethodGet, "/v1/users/{user}", "get-user", "users", "Get a user", http.StatusOK),
		read(func(ctx context.Context, in *UserPath) (*steward.User, error) {
			return s.svc.FindUser(ctx, in.User)
		}))
	huma.Register(s.api, op(http.MethodPost, "/v1/users/{user}/deactivate", "deactivate-user", "users", "Deactivate a user in its home account, ending its access everywhere (operator)", http.StatusOK),
		write(func(ctx context.Context, in *UserPath) (*steward.User, int64, error) {
			return s.svc.DeactivateUser(ctx, in.User)
		}))
	huma.Register(s.api, op(http.MethodPost, "/v1/users/{user}/reactivate", "reactivate-user", "users", "Reactivate a user (operator)", http.StatusOK),
		write(func(ctx context.Context, in *UserPath) (*steward.User, int64, error) {
			return s.svc.ReactivateUser(ctx, in.User)
		}))
	huma.Register(s.api, op(http.MethodPost, "/v1/tokens", "create-token", "users",
		"Issue an API token for a user (operator); it expires after expires_in seconds or the server's default", http.StatusCreated),
		write(func(ctx context.Context, in *struct{ Body TokenRequest }) (*TokenResponse, int64, error) {
			return s.svc.CreateToken(ctx, in.Body)
		}))
	huma.Register(s.api, op(http.MethodGet, "/v1/users/{user}/tokens", "list-tokens", "users",
		"List a user's API tokens, without their secrets (the operator, or the user itself)", http.StatusOK),
		list(func(ctx context.Context, in *struct {
			UserPath
			PageQuery
		}) ([]*steward.Token, string, error) {
			page, err := in.page()
			if err != nil {
				return nil, "", err
			}
			return s.svc.FindTokens(ctx, in.User, page)
		}))
	huma.Register(s.api, op(http.MethodDelete, "/v1/tokens/{token_id}", "revoke-token", "users",
		"Revoke an API token: it stops working at once (the operator, or the token's user)", http.StatusNoContent),
		remove(func(ctx context.Context, in *struct {
			TokenID string `path:"token_id" doc:"Token id (tok_…)."`
		}) (int64, error) {
			return s.svc.RevokeToken(ctx, in.TokenID)
		}))

	huma.Register(s.api, op(http.MethodGet, "/v1/permissions", "list-permissions", "catalogue", "List the permission catalogue", http.StatusOK),
		list(func(ctx context.Context, in *struct{ PageQuery }) ([]steward.Permission, string, error) {
			page, err := in.page()
			if err != nil {
				return nil, "", err
			}
			items, next := s.svc.Catalogue.FindPermissions(page)
			return items, next, nil
		}))

	huma.Register(s.api, op(http.MethodPost, "/v1/check", "check", "checks", "May a user use a permission in an account? Explains itself.", http.StatusOK),
		read(func(ctx context.Context, in *struct{ Body steward.CheckRequest }) (*steward.CheckResult, error) {
			return s.svc.Check(ctx, in.Body)
		}))
}
