package webhook_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/sqlite"
	"github.com/steward-iam/steward/webhook"
)

type bench struct {
	svc   *steward.Service
	db    *sqlite.DB
	op    context.Context
	acc   string
	srv   *httptest.Server
	hooks []string
}

func newBench(b *testing.B, endpoints int) *bench {
	b.Helper()
	db, err := sqlite.Open(filepath.Join(b.TempDir(), "steward.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	svc := steward.NewService(db, steward.MustCatalogue(steward.DefaultProductPermissions()), nil)
	box, _ := steward.NewSecretBox(make([]byte, 32))
	svc.Secrets = box
	svc.WebhookGuard = &steward.WebhookGuard{AllowHosts: []string{"127.0.0.1"}}
	op := steward.NewContextWithActor(context.Background(), &steward.Actor{Operator: true})
	acc, _, err := svc.CreateAccount(op, steward.NewAccount{Name: "Bench", Kind: steward.AccountStandard})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	b.Cleanup(srv.Close)
	bn := &bench{svc: svc, db: db, op: op, acc: acc.ID, srv: srv}
	for i := range endpoints {
		h, _, err := svc.CreateWebhook(op, acc.ID, steward.WebhookInput{URL: fmt.Sprintf("%s/%d", srv.URL, i), EventTypes: []string{"role.created"}})
		if err != nil {
			b.Fatal(err)
		}
		bn.hooks = append(bn.hooks, h.ID)
	}
	return bn
}

func (bn *bench) role(b *testing.B, i int) {
	name := fmt.Sprintf("Role %d", i)
	perms := []string{}
	if _, _, err := bn.svc.CreateRole(bn.op, bn.acc, steward.RoleInput{Name: &name, Permissions: &perms}); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWrite measures a write (creating a role) without webhooks and
// with three endpoints subscribed to its event type (R-HOOK-2 writes their
// deliveries in the write's transaction).
func BenchmarkWrite(b *testing.B) {
	for _, n := range []int{0, 3} {
		b.Run(fmt.Sprintf("endpoints=%d", n), func(b *testing.B) {
			bn := newBench(b, n)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				bn.role(b, i)
			}
		})
	}
}

// BenchmarkDeliver measures deliveries per second from one node to a local
// HTTPS receiver: one endpoint (strictly in order) and eight endpoints.
func BenchmarkDeliver(b *testing.B) {
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprintf("endpoints=%d", n), func(b *testing.B) {
			bn := newBench(b, n)
			const queued = 400
			for i := range queued / n {
				bn.role(b, i)
			}
			tls := bn.srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
			s := webhook.NewSender(bn.db, bn.svc, webhook.Config{Guard: bn.svc.WebhookGuard, TLSConfig: tls, Batch: 1000}, nil)
			b.ResetTimer()
			total := 0
			var spent time.Duration
			for b.Loop() {
				b.StopTimer()
				// Requeue everything as pending: each round delivers the same queue.
				if _, err := bn.db.DB().Exec(`UPDATE webhook_deliveries SET status = 'pending', attempts = 0, delivered_at = NULL`); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				t0 := time.Now()
				for {
					n, err := s.DeliverDue(context.Background())
					if err != nil {
						b.Fatal(err)
					}
					if n == 0 {
						break
					}
					total += n
				}
				spent += time.Since(t0)
			}
			b.ReportMetric(float64(total)/spent.Seconds(), "deliveries/s")
		})
	}
}
