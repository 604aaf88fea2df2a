package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Print writes the report as Markdown tables.
func (r *Report) Print(out io.Writer) {
	w := r.World
	fmt.Fprintf(out, "### World: %d accounts (%d partners), %d users, %d memberships\n\n", w.Size.Accounts, w.Size.Partners, w.Size.Users, w.Memberships)
	tw := tabwriter.NewWriter(out, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| measure\t value\t")
	fmt.Fprintln(tw, "|---\t---\t")
	fmt.Fprintf(tw, "| generate the world\t %s\t\n", r.Generate.Round(time.Millisecond))
	fmt.Fprintf(tw, "| load the check index\t %s\t\n", r.Load.Round(time.Millisecond))
	fmt.Fprintf(tw, "| process RSS before / after load\t %d MiB / %d MiB\t\n", r.RSSBefore>>20, r.RSSAfter>>20)
	fmt.Fprintf(tw, "| heap held by the index\t %d MiB\t\n", r.HeapIndex>>20)
	fmt.Fprintf(tw, "| index bytes per membership (heap held by the index / memberships)\t %.0f B\t\n", r.BytesPerMembership())
	tw.Flush()
	fmt.Fprintln(out)

	if len(r.InProcess) > 0 {
		tw = tabwriter.NewWriter(out, 0, 0, 1, ' ', tabwriter.Debug)
		fmt.Fprintln(tw, "| in-process check, by membership kind\t ns/op (mean)\t ns (median of 1,000-check batches)\t allocs/op\t")
		fmt.Fprintln(tw, "|---\t---\t---\t---\t")
		for _, k := range r.InProcess {
			fmt.Fprintf(tw, "| %s\t %.0f\t %.0f\t %d\t\n", k.Kind, k.NsPerOp, k.MedianNs, k.AllocsPerOp)
		}
		tw.Flush()
		fmt.Fprintln(out)
	}

	if len(r.HTTP) > 0 {
		tw = tabwriter.NewWriter(out, 0, 0, 1, ' ', tabwriter.Debug)
		fmt.Fprintln(tw, "| POST /v1/check\t connections\t req/s\t p50\t p99\t p99.9\t of bare req/s\t p99 / bare p99\t")
		fmt.Fprintln(tw, "|---\t---\t---\t---\t---\t---\t---\t---\t")
		bare := map[int]HTTPFigure{}
		for _, f := range r.HTTP {
			if f.Target == "bare" {
				bare[f.Connections] = f
			}
		}
		for _, f := range r.HTTP {
			share, ratio := "", ""
			if b, ok := bare[f.Connections]; ok && f.Target == "steward" {
				share = fmt.Sprintf("%.0f%%", 100*f.RPS/b.RPS)
				ratio = fmt.Sprintf("%.2f×", float64(f.P99)/float64(b.P99))
			}
			fmt.Fprintf(tw, "| %s\t %d\t %.0f\t %s\t %s\t %s\t %s\t %s\t\n", f.Target, f.Connections, f.RPS, us(f.P50), us(f.P99), us(f.P999), share, ratio)
		}
		tw.Flush()
		fmt.Fprintln(out)
	}
	if len(r.Writes) > 0 {
		tw = tabwriter.NewWriter(out, 0, 0, 1, ' ', tabwriter.Debug)
		fmt.Fprintln(tw, "| grants (POST /v1/accounts/{account}/members, HTTP)\t connections\t grants/s\t p50\t p99\t p99.9\t")
		fmt.Fprintln(tw, "|---\t---\t---\t---\t---\t---\t")
		for _, f := range r.Writes {
			fmt.Fprintf(tw, "| %s\t %d\t %.0f\t %s\t %s\t %s\t\n", f.Target, f.Connections, f.RPS, us(f.P50), us(f.P99), us(f.P999))
		}
		tw.Flush()
		fmt.Fprintln(out)
	}
	if len(r.HTTPListings) > 0 {
		tw = tabwriter.NewWriter(out, 0, 0, 1, ' ', tabwriter.Debug)
		fmt.Fprintln(tw, "| listing, first page of 50 (HTTP)\t connections\t req/s\t p50\t p99\t p99.9\t")
		fmt.Fprintln(tw, "|---\t---\t---\t---\t---\t---\t")
		for _, f := range r.HTTPListings {
			fmt.Fprintf(tw, "| %s\t %d\t %.0f\t %s\t %s\t %s\t\n", f.Target, f.Connections, f.RPS, us(f.P50), us(f.P99), us(f.P999))
		}
		tw.Flush()
		fmt.Fprintln(out)
	}
	if b := r.Bulk; b != nil {
		fmt.Fprintf(out, "A partner adds %d employees to each of %d clients (%d memberships) in one AddEmployeesToClients request (one transaction), through the Service: %s in all.\n\n",
			b.Employees, b.Clients, b.Memberships, us(b.Total))
	}
	tw = tabwriter.NewWriter(out, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| latency\t n\t p50\t p99\t max\t")
	fmt.Fprintln(tw, "|---\t---\t---\t---\t---\t")
	ls := r.Listings
	if r.Visibility != nil {
		ls = append(ls, *r.Visibility)
	}
	for _, l := range ls {
		fmt.Fprintf(tw, "| %s\t %d\t %s\t %s\t %s\t\n", l.Name, l.N, us(l.P50), us(l.P99), us(l.Max))
	}
	tw.Flush()
}

func us(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
}

// bar is a progress bar for generation on a terminal or a log.
type bar struct {
	out   io.Writer
	stage string
	last  time.Time
}

func newBar(out io.Writer) *bar { return &bar{out: out} }

func (b *bar) update(stage string, done, total int) {
	if stage != b.stage {
		if b.stage != "" {
			fmt.Fprintln(b.out)
		}
		b.stage = stage
	} else if time.Since(b.last) < 200*time.Millisecond && done < total {
		return
	}
	b.last = time.Now()
	width := 30
	filled := 0
	if total > 0 {
		filled = width * done / total
	}
	fmt.Fprintf(b.out, "\r%-12s [%s%s] %d/%d", stage, strings.Repeat("#", filled), strings.Repeat(".", width-filled), done, total)
}

func (b *bar) done() {
	if b.stage != "" {
		fmt.Fprintln(b.out)
	}
}
