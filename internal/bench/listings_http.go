package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/steward-iam/steward/internal/synth"
)

// httpListings measures the first page (50) of the access listings over
// HTTP on the Steward server at base, with the operator token, at each
// concurrency level: the access review of the world's biggest account and
// the accounts of the sampled users.
func httpListings(ctx context.Context, base, token string, w *synth.World, cfg Config) ([]HTTPFigure, error) {
	review := []string{base + "/v1/accounts/" + w.BigAccount + "/access?permission=" + synth.Perm}
	var accounts []string
	for _, s := range w.Samples {
		accounts = append(accounts, base+"/v1/users/"+s.UserID+"/accounts?permission="+synth.Perm)
	}
	var out []HTTPFigure
	for _, conns := range cfg.Connections {
		for _, l := range []struct {
			name string
			urls []string
		}{{"access review", review}, {"user accounts", accounts}} {
			runtime.GC()
			fig, err := hammerGet(ctx, l.urls, token, conns, cfg.Duration)
			if err != nil {
				return nil, fmt.Errorf("%s at %d connections: %w", l.name, conns, err)
			}
			fig.Target = l.name
			out = append(out, fig)
			fmt.Fprintf(cfg.Progress, "HTTP %-13s %3d connections: %8.0f req/s\n", l.name, conns, fig.RPS)
		}
	}
	return out, nil
}

// hammerGet is hammer for GET requests of urls in turn.
func hammerGet(ctx context.Context, urls []string, token string, conns int, d time.Duration) (HTTPFigure, error) {
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
			for i := c; i == c || (time.Now().Before(deadline) && ctx.Err() == nil); i += conns {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, urls[i%len(urls)], nil)
				req.Header.Set("Authorization", "Bearer "+token)
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
