package http

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/steward-iam/steward"
)

// EligibilityPath names an eligibility.
type EligibilityPath struct {
	AccountPath
	Eligibility string `path:"eligibility" doc:"Eligibility id (elg_…)."`
}

// ElevationPath names an elevation.
type ElevationPath struct {
	AccountPath
	Elevation string `path:"elevation" doc:"Elevation id (elv_…)."`
}

// elevationRoutes serves just-in-time elevation (R-ELEVATE-1..2).
func (s *Server) elevationRoutes() {
	const tag = "elevation"
	eligibilities := "/v1/accounts/{account}/eligibilities"
	huma.Register(s.api, s.previewable(op(http.MethodPost, eligibilities, "create-eligibility", tag,
		"Make a member eligible for a role, for up to max_minutes (at most 480) at a time (R-ELEVATE-1): the actor manages the member's kind and holds every permission of the role. ", http.StatusCreated)),
		write(func(ctx context.Context, in *struct {
			AccountPath
			Body steward.NewEligibility
		}) (*steward.Eligibility, int64, error) {
			return s.svc.CreateEligibility(ctx, in.Account, in.Body)
		}))
	huma.Register(s.api, op(http.MethodGet, eligibilities, "list-eligibilities", tag,
		"List the account's eligibilities (all of them for holders of account.users.manage, else the actor's own)", http.StatusOK),
		list(func(ctx context.Context, in *struct {
			AccountPath
			PageQuery
			UserID string `query:"user_id" doc:"Only this user's."`
		}) ([]*steward.Eligibility, string, error) {
			page, err := in.page()
			if err != nil {
				return nil, "", err
			}
			return s.svc.FindEligibilities(ctx, steward.EligibilityFilter{AccountID: in.Account, UserID: in.UserID, Page: page})
		}))
	huma.Register(s.api, op(http.MethodDelete, eligibilities+"/{eligibility}", "delete-eligibility", tag,
		"Remove an eligibility; its pending and active elevations end with it", http.StatusNoContent),
		remove(func(ctx context.Context, in *EligibilityPath) (int64, error) {
			return s.svc.DeleteEligibility(ctx, in.Account, in.Eligibility)
		}))

	gone := func(o huma.Operation) huma.Operation {
		o.Errors = append(o.Errors, http.StatusGone) // an expired request
		return o
	}
	elevations := "/v1/accounts/{account}/elevations"
	huma.Register(s.api, op(http.MethodPost, elevations, "create-elevation", tag,
		"Activate the actor's eligibility for a role, for minutes up to its maximum, with a reason (R-ELEVATE-2); pending until approved when the eligibility needs approval", http.StatusCreated),
		write(func(ctx context.Context, in *struct {
			AccountPath
			Body steward.NewElevation
		}) (*steward.Elevation, int64, error) {
			return s.svc.RequestElevation(ctx, in.Account, in.Body)
		}))
	huma.Register(s.api, op(http.MethodGet, elevations, "list-elevations", tag,
		"List the account's elevations as they stand now (all of them for holders of account.users.manage, else the actor's own)", http.StatusOK),
		list(func(ctx context.Context, in *struct {
			AccountPath
			PageQuery
			UserID string `query:"user_id" doc:"Only this user's."`
			Status string `query:"status" enum:"pending,active,ended" doc:"Only elevations of this status."`
		}) ([]*steward.Elevation, string, error) {
			page, err := in.page()
			if err != nil {
				return nil, "", err
			}
			return s.svc.FindElevations(ctx, steward.ElevationFilter{AccountID: in.Account, UserID: in.UserID, Status: steward.ElevationStatus(in.Status), Page: page})
		}))
	huma.Register(s.api, gone(op(http.MethodPost, elevations+"/{elevation}/approve", "approve-elevation", tag,
		"Approve a pending elevation: another member who could have granted the eligibility (R-ELEVATE-2); it starts now", http.StatusOK)),
		write(func(ctx context.Context, in *ElevationPath) (*steward.Elevation, int64, error) {
			return s.svc.ApproveElevation(ctx, in.Account, in.Elevation)
		}))
	huma.Register(s.api, op(http.MethodPost, elevations+"/{elevation}/end", "end-elevation", tag,
		"End a pending or active elevation early: the member itself or an admin who manages it (R-ELEVATE-2)", http.StatusOK),
		write(func(ctx context.Context, in *ElevationPath) (*steward.Elevation, int64, error) {
			return s.svc.EndElevation(ctx, in.Account, in.Elevation)
		}))
}
