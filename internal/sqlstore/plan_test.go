package sqlstore

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite"
)

// TestJobQueriesReadOnlyWhatIsDue checks, on SQLite, that every query the
// scheduler runs each round searches an index of the rows that can be due
// instead of scanning its table: a job's cost must not grow with the world
// when nothing is due.
func TestJobQueriesReadOnlyWhatIsDue(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "plan.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, err := NewMigrator(db, goose.DialectSQLite3)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		name, sql, index string
		args             []any
	}{
		{"expired memberships", dueEndedSQL, "memberships_active_ends_at", []any{1, 100}},
		{"ended delegates", dueDelegatesSQL, "memberships_active_delegates_end_at", []any{1, 100}},
		{"reminders by end", endingSQL("ends_at"), "memberships_active_ends_at", []any{"external", "delegate", 1, 2, 1, "", 100}},
		{"reminders by delegates' end", endingSQL("delegates_end_at"), "memberships_active_delegates_end_at", []any{"external", "delegate", 1, 2, 1, "", 100}},
		{"auto-extending memberships", extendingMembershipsSQL, "memberships_auto_extend_ends_at", []any{1, 100}},
		{"ended relationships by end date", dueEndDateSQL, "relationships_active_ends_at", []any{1, 100}},
		{"warnings of relationships", endingRelationshipsSQL, "relationships_active_ends_at", []any{1, 2, 1, "", 100}},
		{"auto-extending relationships", extendingRelationshipsSQL, "relationships_active_ends_at", []any{1, 100}},
		{"expired invitations", dueInvitationsSQL, "invitations_pending_expiry", []any{1, 100}},
		{"expired elevation requests", dueElevationsSQL, "elevations_pending_expiry", []any{1, 100}},
		{"pruned changes", pruneChangesSQL, "changes_time", []any{1}},
	} {
		t.Run(q.name, func(t *testing.T) {
			rows, err := db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q.sql, q.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			text := strings.Join(plan, "\n")
			if !strings.Contains(text, "USING INDEX "+q.index) {
				t.Errorf("plan does not search %s:\n%s", q.index, text)
			}
			for _, step := range plan {
				if strings.HasPrefix(step, "SCAN ") {
					t.Errorf("plan scans a table (%s):\n%s", step, text)
				}
			}
		})
	}
}
