package http

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/steward-iam/steward"
)

// AccessQuery holds the parameters of the access listings.
type AccessQuery struct {
	PageQuery
	Permission string `query:"permission" required:"true" doc:"The permission asked about." example:"reports.view"`
	At         string `query:"at" doc:"The time to decide at, RFC 3339; now if unset."`
}

func (q AccessQuery) query() (steward.AccessQuery, error) {
	return accessQuery(q.PageQuery, q.Permission, q.At)
}

// UserAccountsQuery holds the parameters of a user's account listing, where
// the permission may be left out (SPEC §4 "Listings").
type UserAccountsQuery struct {
	PageQuery
	Permission string `query:"permission" doc:"Only accounts where the user can use this permission; without it, every account where a membership of the user holds, with its effective permissions." example:"reports.view"`
	At         string `query:"at" doc:"The time to decide at, RFC 3339; now if unset."`
}

func (q UserAccountsQuery) query() (steward.AccessQuery, error) {
	return accessQuery(q.PageQuery, q.Permission, q.At)
}

func accessQuery(p PageQuery, permission, atText string) (steward.AccessQuery, error) {
	page, err := p.page()
	if err != nil {
		return steward.AccessQuery{}, err
	}
	at, err := parseTime("at", atText)
	return steward.AccessQuery{Permission: permission, At: at, Page: page}, err
}

func (s *Server) checkRoutes() {
	huma.Register(s.api, op(http.MethodPost, "/v1/check/batch", "check-batch", "checks",
		"Answer up to 1,000 checks in request order; a bad check refuses the batch, named by index", http.StatusOK),
		read(func(ctx context.Context, in *struct{ Body steward.BatchCheckRequest }) (*steward.BatchCheckResult, error) {
			return s.svc.CheckBatch(ctx, in.Body)
		}))
	huma.Register(s.api, op(http.MethodGet, "/v1/users/{user}/accounts", "list-user-accounts", "checks",
		"The accounts in which a user can use a permission, and why; without a permission, every account where the user holds, with its effective permissions", http.StatusOK),
		list(func(ctx context.Context, in *struct {
			UserPath
			UserAccountsQuery
		}) ([]steward.Access, string, error) {
			q, err := in.query()
			if err != nil {
				return nil, "", err
			}
			return s.svc.FindUserAccounts(ctx, in.User, q)
		}))
	huma.Register(s.api, op(http.MethodGet, "/v1/accounts/{account}/access", "list-account-access", "checks",
		"Who can use a permission in the account, and why: the access review", http.StatusOK),
		list(func(ctx context.Context, in *struct {
			AccountPath
			AccessQuery
		}) ([]steward.Access, string, error) {
			q, err := in.query()
			if err != nil {
				return nil, "", err
			}
			return s.svc.FindAccess(ctx, in.Account, q)
		}))
}
