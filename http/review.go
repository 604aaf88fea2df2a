package http

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/steward-iam/steward"
)

// ReviewPath names one access review of an account.
type ReviewPath struct {
	Account string `path:"account" doc:"Account id (acc_…)."`
	Review  string `path:"review" doc:"Review id (rev_…)."`
}

// ReviewItemPath names one item of an access review.
type ReviewItemPath struct {
	ReviewPath
	Item string `path:"item" doc:"Review item id (rvi_…)."`
}

// csvOutput is a CSV document.
type csvOutput struct {
	ContentType        string `header:"Content-Type"`
	ContentDisposition string `header:"Content-Disposition"`
	Body               []byte
}

// reviewRoutes serves access reviews (R-REVIEW-1..3).
func (s *Server) reviewRoutes() {
	const base = "/v1/accounts/{account}/reviews"
	const tag = "access reviews"
	huma.Register(s.api, op(http.MethodPost, base, "start-review", tag,
		"Start an access review of the account's partner, external and delegate memberships, and optionally its internal ones, with reviewers holding account.users.manage, a due date, and the decision for items left undecided (R-REVIEW-1)", http.StatusCreated),
		write(func(ctx context.Context, in *struct {
			AccountPath
			Body steward.NewReview
		}) (*steward.Review, int64, error) {
			return s.svc.StartReview(ctx, in.Account, in.Body)
		}))
	huma.Register(s.api, op(http.MethodGet, base, "list-reviews", tag, "List the account's access reviews", http.StatusOK),
		list(func(ctx context.Context, in *struct {
			AccountPath
			PageQuery
		}) ([]*steward.Review, string, error) {
			page, err := in.page()
			if err != nil {
				return nil, "", err
			}
			return s.svc.FindReviews(ctx, in.Account, page)
		}))
	huma.Register(s.api, op(http.MethodGet, base+"/{review}", "get-review", tag, "Get an access review and, once closed, its outcome", http.StatusOK),
		read(func(ctx context.Context, in *ReviewPath) (*steward.Review, error) {
			return s.svc.FindReview(ctx, in.Account, in.Review)
		}))
	huma.Register(s.api, op(http.MethodGet, base+"/{review}/items", "list-review-items", tag,
		"List a review's items: each member's kind, chain, permissions, who granted them, last activity in the account, decision and outcome (R-REVIEW-2)", http.StatusOK),
		list(func(ctx context.Context, in *struct {
			ReviewPath
			PageQuery
		}) ([]*steward.ReviewItem, string, error) {
			page, err := in.page()
			if err != nil {
				return nil, "", err
			}
			return s.svc.FindReviewItems(ctx, in.Account, in.Review, page)
		}))
	huma.Register(s.api, op(http.MethodPut, base+"/{review}/items/{item}", "decide-review-item", tag,
		"Mark an item of an open review keep or remove, with a note, as one of its reviewers (R-REVIEW-2)", http.StatusOK),
		write(func(ctx context.Context, in *struct {
			ReviewItemPath
			Body steward.ItemDecision
		}) (*steward.ReviewItem, int64, error) {
			return s.svc.DecideReviewItem(ctx, in.Account, in.Review, in.Item, in.Body)
		}))
	huma.Register(s.api, op(http.MethodPost, base+"/{review}/close", "close-review", tag,
		"Close an open review as one of its reviewers: every removal applies in one transaction, delegates follow their parent, the last super admin stays (R-REVIEW-3)", http.StatusOK),
		write(func(ctx context.Context, in *ReviewPath) (*steward.Review, int64, error) {
			return s.svc.CloseReview(ctx, in.Account, in.Review)
		}))
	huma.Register(s.api, op(http.MethodGet, base+"/{review}/export", "export-review", tag,
		"Export a review's items, decisions and outcomes as CSV (R-REVIEW-3)", http.StatusOK),
		func(ctx context.Context, in *ReviewPath) (*csvOutput, error) {
			b, err := s.svc.ExportReview(ctx, in.Account, in.Review)
			if err != nil {
				return nil, problemOf(err)
			}
			return &csvOutput{ContentType: "text/csv; charset=utf-8",
				ContentDisposition: `attachment; filename="` + in.Review + `.csv"`, Body: b}, nil
		})
}
