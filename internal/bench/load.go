package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/authz"
	stewardhttp "github.com/steward-iam/steward/http"
	"github.com/steward-iam/steward/internal/synth"
)

// writeRelationships gives the partner memberships of the world their
// active relationships.
func writeRelationships(ctx context.Context, st Store, w *synth.World) error {
	now := time.Now().UTC().UnixMicro()
	_, err := st.BulkInsert(ctx, "relationships", []string{"id", "partner_id", "client_id", "status", "alias", "last_activity_at",
		"ending_since", "ends_at", "ended_at", "created_at", "updated_at"}, func(yield func([]any) bool) {
		for i, pc := range w.Relationships {
			if !yield([]any{steward.NewID(steward.PrefixRelationship, time.Now()), pc[0], pc[1], "active", fmt.Sprintf("Client %d", i), now, nil, nil, nil, now, now}) {
				return
			}
		}
	})
	if err != nil {
		return fmt.Errorf("write relationships: %w", err)
	}
	return nil
}

// httpLoad measures POST /v1/check on a real Steward server and a bare
// net/http JSON handler, both on loopback, at each concurrency level.
func httpLoad(ctx context.Context, st Store, cat *steward.Catalogue, ix *authz.Index, w *synth.World, cfg Config) ([]HTTPFigure, []HTTPFigure, error) {
	token := steward.NewSecret("stw_op_")
	svc := steward.NewService(st, cat, nil)
	svc.Checker, svc.Lister, svc.OnCommit = ix, ix, ix.OnCommit
	tokens := steward.NewTokenCache() // as steward serve runs
	ix.Watch(tokens.Changed)
	auth := &steward.Authenticator{Store: st, OperatorTokenHash: steward.HashSecret(token), Cache: tokens}
	steward_, stop1, err := serve(stewardhttp.NewServer(svc, auth, nil))
	if err != nil {
		return nil, nil, err
	}
	defer stop1()
	bare, stop2, err := serve(http.HandlerFunc(bareHandler))
	if err != nil {
		return nil, nil, err
	}
	defer stop2()
	bodies := make([][]byte, len(w.Samples))
	for i, s := range w.Samples {
		bodies[i], _ = json.Marshal(map[string]string{"user_id": s.UserID, "account_id": s.AccountID, "permission": s.Permission})
	}
	var out []HTTPFigure
	for _, conns := range cfg.Connections {
		// Each target runs twice, in mirrored order (bare, steward, steward,
		// bare), each run after a full GC, so that neither gets the quieter
		// moments of the machine or of the collector; the figures are the
		// means of the two runs.
		runs := map[string][]HTTPFigure{}
		for _, name := range []string{"bare", "steward", "steward", "bare"} {
			url := bare
			if name == "steward" {
				url = steward_
			}
			runtime.GC()
			fig, err := hammer(ctx, url+"/v1/check", token, bodies, conns, cfg.Duration)
			if err != nil {
				return nil, nil, fmt.Errorf("%s at %d connections: %w", name, conns, err)
			}
			runs[name] = append(runs[name], fig)
		}
		for _, name := range []string{"bare", "steward"} {
			fig := meanFigure(runs[name])
			fig.Target = name
			out = append(out, fig)
			fmt.Fprintf(cfg.Progress, "HTTP %-7s %3d connections: %8.0f req/s\n", name, conns, fig.RPS)
		}
	}
	lists, err := httpListings(ctx, steward_, token, w, cfg)
	return out, lists, err
}

// meanFigure averages runs of one measurement.
func meanFigure(runs []HTTPFigure) HTTPFigure {
	var m HTTPFigure
	for _, r := range runs {
		m.Connections = r.Connections
		m.Requests += r.Requests
		m.RPS += r.RPS / float64(len(runs))
		m.P50 += r.P50 / time.Duration(len(runs))
		m.P99 += r.P99 / time.Duration(len(runs))
		m.P999 += r.P999 / time.Duration(len(runs))
	}
	return m
}

// bareHandler is the ceiling: it reads a JSON check and answers a fixed
// allowed result, with no authentication, routing or index.
func bareHandler(w http.ResponseWriter, r *http.Request) {
	var req steward.CheckRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(steward.CheckResult{Allowed: true, Reason: steward.Reason{Code: steward.ReasonGranted}})
}

func serve(h http.Handler) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	return "http://" + l.Addr().String(), func() { srv.Close() }, nil
}

// hammer sends checks from conns keep-alive connections for d and records
// every latency. Its loops end by themselves when d is over.
func hammer(ctx context.Context, url, token string, bodies [][]byte, conns int, d time.Duration) (HTTPFigure, error) {
	transport := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	deadline := time.Now().Add(d)
	var mu sync.Mutex
	var all []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	for c := range conns {
		wg.Go(func() {
			var mine []time.Duration
			for i := c; i == c || (time.Now().Before(deadline) && ctx.Err() == nil); i += conns { // at least one request each
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(bodies[i%len(bodies)]))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				t := time.Now()
				res, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if err == nil && res.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", res.StatusCode)
					}
				}
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if firstErr != nil {
		return HTTPFigure{}, firstErr
	}
	l := summarize("", all)
	return HTTPFigure{Connections: conns, Requests: len(all), RPS: float64(len(all)) / d.Seconds(),
		P50: l.P50, P99: l.P99, P999: pct(all, 0.999)}, nil
}

// visibility measures how long a write on this node takes to be visible on
// a second node that follows the database, with no min_revision.
func visibility(ctx context.Context, st Store, cat *steward.Catalogue, ix *authz.Index, w *synth.World, cfg Config) (*Latency, error) {
	other, listen, closeOther, err := cfg.SecondNode(ctx)
	if err != nil {
		return nil, err
	}
	defer closeOther()
	ix2 := authz.New(other, cat, nil)
	if err := ix2.Load(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	kick := authz.NewKicker()
	go ix2.Follow(ctx, kick, time.Minute)
	go listen(ctx, kick.Kick)
	time.Sleep(200 * time.Millisecond) // LISTEN takes effect

	svc := steward.NewService(st, cat, nil)
	svc.Checker, svc.OnCommit = ix, ix.OnCommit
	op := steward.NewContextWithActor(ctx, &steward.Actor{Operator: true})
	var delays []time.Duration
	for i := range 100 {
		start := time.Now()
		u, _, err := svc.CreateUser(op, steward.NewUser{Email: fmt.Sprintf("visibility%d@bench.example", i), Name: "Visibility",
			HomeAccountID: w.BigAccount, Role: steward.RoleSuperAdmin})
		if err != nil {
			return nil, err
		}
		for !ix2.Allowed(u.ID, w.BigAccount, synth.Perm, time.Now().UnixMicro()) {
			if time.Since(start) > 10*time.Second {
				return nil, fmt.Errorf("a write was not visible on the second node after 10s")
			}
			time.Sleep(50 * time.Microsecond)
		}
		delays = append(delays, time.Since(start))
	}
	l := summarize("cross-node visibility without min_revision (write + notify + apply)", delays)
	return &l, nil
}
