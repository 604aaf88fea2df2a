// Package bench measures Steward on a synthetic world: it generates the
// world into a store, loads the check index, and times in-process checks,
// HTTP checks against a bare net/http JSON handler started in the same run
// (the ceiling), listings, and, on PostgreSQL, how soon a write on one node
// is visible on another. `steward bench` prints its report.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/authz"
	"github.com/steward-iam/steward/internal/synth"
)

// Store is what the benchmark needs of a store: the Service's, the index's
// and bulk loading.
type Store interface {
	steward.Store
	authz.Source
	synth.Bulk
}

// Config says what to measure.
type Config struct {
	Size        synth.Size
	Connections []int         // HTTP concurrency levels
	Duration    time.Duration // per HTTP measurement
	// SecondNode, when set, opens another handle on the same database and
	// follows it as a separate node would (PostgreSQL), for the visibility delay.
	SecondNode func(ctx context.Context) (Store, func(ctx context.Context, kick func()), func(), error)
	Out        io.Writer
	Progress   io.Writer
}

// Report holds the figures.
type Report struct {
	World     *synth.World
	Generate  time.Duration
	Load      time.Duration
	RSSBefore uint64
	RSSAfter  uint64
	HeapIndex uint64
	InProcess []KindFigure
	HTTP      []HTTPFigure
	// HTTPListings are the first pages of the access listings over HTTP.
	HTTPListings []HTTPFigure
	Listings     []Latency
	Visibility   *Latency
}

// KindFigure is the in-process cost of a check through one kind of membership.
type KindFigure struct {
	Kind        steward.MembershipKind
	NsPerOp     float64
	MedianNs    float64
	AllocsPerOp int64
}

// HTTPFigure is one HTTP load measurement.
type HTTPFigure struct {
	Target         string // "steward" or "bare"
	Connections    int
	Requests       int
	RPS            float64
	P50, P99, P999 time.Duration
}

// Latency summarises repeated timings.
type Latency struct {
	Name          string
	N             int
	P50, P99, Max time.Duration
}

func summarize(name string, d []time.Duration) Latency {
	slices.Sort(d)
	l := Latency{Name: name, N: len(d)}
	if len(d) > 0 {
		l.P50, l.P99, l.Max = pct(d, 0.50), pct(d, 0.99), d[len(d)-1]
	}
	return l
}

func pct(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

// rss returns the resident set size of this process in bytes.
func rss() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// Run generates the world into st (fresh and migrated) and measures.
func Run(ctx context.Context, st Store, cat *steward.Catalogue, cfg Config) (*Report, error) {
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	r := &Report{}
	bar := newBar(cfg.Progress)
	start := time.Now()
	w, err := synth.Generate(ctx, st, cfg.Size, bar.update)
	bar.done()
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	if err := writeRelationships(ctx, st, w); err != nil {
		return nil, err
	}
	r.World, r.Generate = w, time.Since(start)
	fmt.Fprintf(cfg.Progress, "generated %d accounts, %d users, %d memberships in %s\n", w.Size.Accounts, w.Size.Users, w.Memberships, r.Generate.Round(time.Millisecond))

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	r.RSSBefore = rss()
	ix := authz.New(st, cat, slog.New(slog.DiscardHandler))
	start = time.Now()
	if err := ix.Load(ctx); err != nil {
		return nil, fmt.Errorf("load index: %w", err)
	}
	r.Load = time.Since(start)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	r.RSSAfter, r.HeapIndex = rss(), after.HeapAlloc-min(after.HeapAlloc, before.HeapAlloc)
	fmt.Fprintf(cfg.Progress, "loaded the index in %s\n", r.Load.Round(time.Millisecond))

	r.InProcess = inProcess(ix, w)
	fmt.Fprintln(cfg.Progress, "measured in-process checks")
	if len(cfg.Connections) > 0 {
		if r.HTTP, r.HTTPListings, err = httpLoad(ctx, st, cat, ix, w, cfg); err != nil {
			return nil, err
		}
	}
	r.Listings = listings(ix, w)
	clients, err := clientListing(ctx, st, cat, ix, w)
	if err != nil {
		return nil, err
	}
	r.Listings = append(r.Listings, clients)
	if cfg.SecondNode != nil {
		v, err := visibility(ctx, st, cat, ix, w, cfg)
		if err != nil {
			return nil, err
		}
		r.Visibility = v
	}
	return r, nil
}

// inProcess measures Index.Allowed through each kind of membership.
func inProcess(ix *authz.Index, w *synth.World) []KindFigure {
	var out []KindFigure
	at := time.Now().UnixMicro()
	for _, kind := range []steward.MembershipKind{steward.KindInternal, steward.KindPartner, steward.KindExternal, steward.KindDelegate} {
		var samples []synth.Sample
		for _, s := range w.Samples {
			if s.Kind == kind && ix.Allowed(s.UserID, s.AccountID, s.Permission, at) {
				samples = append(samples, s)
			}
		}
		if len(samples) == 0 {
			continue
		}
		res := testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				s := &samples[i%len(samples)]
				ix.Allowed(s.UserID, s.AccountID, s.Permission, at)
				i++
			}
		})
		// The median of batches of 1,000 checks, per check.
		var batches []time.Duration
		for range 200 {
			t := time.Now()
			for i := range 1000 {
				s := &samples[i%len(samples)]
				ix.Allowed(s.UserID, s.AccountID, s.Permission, at)
			}
			batches = append(batches, time.Since(t))
		}
		slices.Sort(batches)
		out = append(out, KindFigure{Kind: kind, NsPerOp: float64(res.T.Nanoseconds()) / float64(res.N),
			MedianNs: float64(batches[len(batches)/2].Nanoseconds()) / 1000, AllocsPerOp: res.AllocsPerOp()})
	}
	return out
}

// listings times the first page of the access review of the big account
// and the user-accounts listing.
func listings(ix *authz.Index, w *synth.World) []Latency {
	var access, accounts []time.Duration
	for i := range 50 {
		t := time.Now()
		ix.FindAccess(w.BigAccount, synth.Perm, time.Now(), "", steward.DefaultPageLimit)
		access = append(access, time.Since(t))
		s := w.Samples[i%len(w.Samples)]
		t = time.Now()
		ix.FindUserAccounts(s.UserID, synth.Perm, time.Now(), "", steward.DefaultPageLimit)
		accounts = append(accounts, time.Since(t))
	}
	return []Latency{
		summarize(fmt.Sprintf("access review, first page (account of %d members)", len(memberIDs(ix, w.BigAccount))), access),
		summarize("a user's accounts, first page", accounts),
	}
}

func memberIDs(ix *authz.Index, account string) []steward.Access {
	items, _ := ix.FindAccess(account, synth.Perm, time.Now(), "", 1<<30)
	return items
}

// clientListing times the first page of the big partner's client list in
// the partner console, which the store answers.
func clientListing(ctx context.Context, st Store, cat *steward.Catalogue, ix *authz.Index, w *synth.World) (Latency, error) {
	svc := steward.NewService(st, cat, nil)
	svc.Checker, svc.Lister = ix, ix
	op := steward.NewContextWithActor(ctx, &steward.Actor{Operator: true})
	var d []time.Duration
	total := 0
	for range 20 {
		t := time.Now()
		items, _, err := svc.FindClients(op, steward.ClientFilter{PartnerID: w.BigPartner, Page: steward.Page{Limit: steward.DefaultPageLimit}})
		if err != nil {
			return Latency{}, fmt.Errorf("client list: %w", err)
		}
		d = append(d, time.Since(t))
		total = len(items)
	}
	clients := 0
	for _, pc := range w.Relationships {
		if pc[0] == w.BigPartner {
			clients++
		}
	}
	return summarize(fmt.Sprintf("partner's client list, first page of %d (partner of %d clients)", total, clients), d), nil
}
