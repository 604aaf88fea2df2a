package http

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/steward-iam/steward"
)

// consoleRoutes registers the console hand-off (SPEC §3 "console hand-off").
func (s *Server) consoleRoutes() {
	huma.Register(s.api, op(http.MethodPost, "/v1/console-links", "create-console-link", "users",
		"Hand a user off to the console (operator): a single-use URL, valid 60 s, that signs the user in and lands on return_to", http.StatusCreated),
		write(func(ctx context.Context, in *struct{ Body steward.ConsoleLinkRequest }) (*steward.NewConsoleLink, int64, error) {
			return s.svc.CreateConsoleLink(ctx, in.Body)
		}))
}
