package metrics_test

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/internal/metrics"
)

// answer is a check index that answers one result or error.
type answer struct {
	res *steward.CheckResult
	err error
}

func (a answer) Check(context.Context, steward.CheckRequest, time.Time) (*steward.CheckResult, error) {
	return a.res, a.err
}

// TestCheckerCounts counts decisions by result and reason, an unknown
// reason as other, and errors by kind.
func TestCheckerCounts(t *testing.T) {
	m := metrics.New()
	ctx := context.Background()
	for _, a := range []answer{
		{res: &steward.CheckResult{Allowed: true, Reason: steward.Reason{Code: steward.ReasonGranted}}},
		{res: &steward.CheckResult{Reason: steward.Reason{Code: steward.ReasonMembershipExpired}}},
		{res: &steward.CheckResult{Reason: steward.Reason{Code: "a_future_reason"}}},
		{err: steward.NotFound("user", "usr_x")},
	} {
		m.Checker(a).Check(ctx, steward.CheckRequest{}, time.Now())
	}
	got := map[string]float64{}
	var checks uint64
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		for _, mm := range f.GetMetric() {
			switch f.GetName() {
			case "steward_check_decisions_total":
				var labels []string
				for _, l := range mm.GetLabel() {
					labels = append(labels, l.GetName()+"="+l.GetValue())
				}
				if v := mm.GetCounter().GetValue(); v > 0 {
					got[strings.Join(labels, ",")] = v
				}
			case "steward_check_duration_seconds":
				checks += mm.GetHistogram().GetSampleCount()
			}
		}
	}
	want := map[string]float64{
		"reason=granted,result=allowed":           1,
		"reason=membership_expired,result=denied": 1,
		"reason=other,result=denied":              1,
		"reason=not_found,result=error":           1,
	}
	if !maps.Equal(got, want) {
		t.Errorf("decisions counted = %v, want %v", got, want)
	}
	if checks != 4 {
		t.Errorf("checks timed = %d, want 4", checks)
	}
}

// TestCheckerAllocatesNothing: counting and timing a check allocates nothing
// beyond what the index's own answer does.
func TestCheckerAllocatesNothing(t *testing.T) {
	m := metrics.New()
	c := m.Checker(answer{res: &steward.CheckResult{Allowed: true, Reason: steward.Reason{Code: steward.ReasonGranted}}})
	denied := m.Checker(answer{res: &steward.CheckResult{Reason: steward.Reason{Code: steward.ReasonPermissionMissing}}})
	ctx, now, req := context.Background(), time.Now(), steward.CheckRequest{}
	if n := testing.AllocsPerRun(1000, func() {
		c.Check(ctx, req, now)
		denied.Check(ctx, req, now)
	}); n != 0 {
		t.Errorf("allocations per check = %v, want 0", n)
	}
}
