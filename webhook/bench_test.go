package webhook_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/internal/pgtest"
	"github.com/steward-iam/steward/postgres"
	"github.com/steward-iam/steward/sqlite"
	"github.com/steward-iam/steward/webhook"
)

// benchStore is a migrated store of a benchmark and its database handle.
type benchStore interface {
	steward.Store
	DB() *sql.DB
}

// stores opens a fresh store of each kind; PostgreSQL runs when
// STEWARD_TEST_POSTGRES_DSN names a server.
var stores = []struct {
	name string
	open func(b *testing.B) benchStore
}{
	{"sqlite", func(b *testing.B) benchStore {
		db, err := sqlite.Open(filepath.Join(b.TempDir(), "steward.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		if err := db.Migrate(context.Background()); err != nil {
			b.Fatal(err)
		}
		return db
	}},
	{"postgres", func(b *testing.B) benchStore {
		db, err := postgres.Open(context.Background(), pgtest.NewDSN(b))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		if err := db.Migrate(context.Background()); err != nil {
			b.Fatal(err)
		}
		return db
	}},
}

type bench struct {
	svc *steward.Service
	db  benchStore
	op  context.Context
	srv *httptest.Server
}

func newBench(b *testing.B, db benchStore) *bench {
	b.Helper()
	svc := steward.NewService(db, steward.MustCatalogue(steward.DefaultProductPermissions()), nil)
	box, _ := steward.NewSecretBox(make([]byte, 32))
	svc.Secrets = box
	svc.WebhookGuard = &steward.WebhookGuard{AllowHosts: []string{"127.0.0.1"}}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	b.Cleanup(srv.Close)
	return &bench{svc: svc, db: db, srv: srv, op: steward.NewContextWithActor(context.Background(), &steward.Actor{Operator: true})}
}

// member is an account with a member whose role a write changes back and
// forth, and endpoints subscribed to every event of the account.
type member struct {
	acc, user string
	roles     [2]string
}

func (bn *bench) member(b *testing.B, name string, endpoints int) *member {
	b.Helper()
	acc, _, err := bn.svc.CreateAccount(bn.op, steward.NewAccount{Name: name, Kind: steward.AccountStandard,
		Owner: &steward.NewOwner{Email: "owner@" + name + ".example", Name: "Owner"}})
	if err != nil {
		b.Fatal(err)
	}
	m := &member{acc: acc.ID}
	for i := range m.roles {
		rn, perms := fmt.Sprintf("Role %d", i), []string{"crm.contacts.view"}
		r, _, err := bn.svc.CreateRole(bn.op, acc.ID, steward.RoleInput{Name: &rn, Permissions: &perms})
		if err != nil {
			b.Fatal(err)
		}
		m.roles[i] = r.ID
	}
	u, _, err := bn.svc.CreateUser(bn.op, steward.NewUser{Email: "member@" + name + ".example", Name: "Member", HomeAccountID: acc.ID, Role: m.roles[0]})
	if err != nil {
		b.Fatal(err)
	}
	m.user = u.ID
	for i := range endpoints {
		if _, _, err := bn.svc.CreateWebhook(bn.op, acc.ID, steward.WebhookInput{URL: fmt.Sprintf("%s/%s/%d", bn.srv.URL, name, i), EventTypes: []string{"*"}}); err != nil {
			b.Fatal(err)
		}
	}
	return m
}

// change changes the member's role (one write, one member.role_changed event).
func (bn *bench) change(b *testing.B, m *member, i int) {
	if _, _, err := bn.svc.ChangeMemberRole(bn.op, m.acc, m.user, m.roles[(i+1)%2]); err != nil {
		b.Fatal(err)
	}
}

// latencies reports the median and 99th percentile of ds as metrics.
func latencies(b *testing.B, suffix string, ds []time.Duration) time.Duration {
	slices.Sort(ds)
	p50, p99 := ds[len(ds)/2], ds[len(ds)*99/100]
	b.ReportMetric(float64(p50.Microseconds()), "p50-µs"+suffix)
	b.ReportMetric(float64(p99.Microseconds()), "p99-µs"+suffix)
	return p50
}

// BenchmarkWrite measures a write (changing a member's role) in an account
// without webhooks and in one with three endpoints subscribed to every
// event (R-HOOK-2), on each store.
func BenchmarkWrite(b *testing.B) {
	for _, st := range stores {
		for _, n := range []int{0, 3} {
			b.Run(fmt.Sprintf("%s/endpoints=%d", st.name, n), func(b *testing.B) {
				bn := newBench(b, st.open(b))
				m := bn.member(b, "acme", n)
				var ds []time.Duration
				for i := 0; b.Loop(); i++ {
					t0 := time.Now()
					bn.change(b, m, i)
					ds = append(ds, time.Since(t0))
				}
				latencies(b, "", ds)
			})
		}
	}
}

// BenchmarkWriteOverhead alternates the same write in two accounts of one
// database, one without webhooks and one with three endpoints subscribed to
// every event, so that both see the same machine load; it reports each
// one's latency and the added latency of the second in percent of the
// first's median.
func BenchmarkWriteOverhead(b *testing.B) {
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			bn := newBench(b, st.open(b))
			plain, hooked := bn.member(b, "plain", 0), bn.member(b, "hooked", 3)
			var dp, dh []time.Duration
			for i := 0; b.Loop(); i++ {
				first, second, d1, d2 := plain, hooked, &dp, &dh
				if i%2 == 1 {
					first, second, d1, d2 = hooked, plain, &dh, &dp
				}
				t0 := time.Now()
				bn.change(b, first, i)
				t1 := time.Now()
				bn.change(b, second, i)
				*d1, *d2 = append(*d1, t1.Sub(t0)), append(*d2, time.Since(t1))
			}
			p := latencies(b, "-plain", dp)
			h := latencies(b, "-hooked", dh)
			b.ReportMetric(100*(float64(h)-float64(p))/float64(p), "overhead-%")
		})
	}
}

// BenchmarkDeliver measures deliveries per second from one node to a local
// HTTPS receiver, turning the recorded events into deliveries included:
// one endpoint (strictly in order) and eight endpoints.
func BenchmarkDeliver(b *testing.B) {
	for _, st := range stores {
		for _, n := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/endpoints=%d", st.name, n), func(b *testing.B) {
				bn := newBench(b, st.open(b))
				m := bn.member(b, "acme", n)
				var from int64
				if err := bn.db.DB().QueryRow(`SELECT seq FROM audit_heads WHERE account_id = $1`, m.acc).Scan(&from); err != nil {
					b.Fatal(err)
				}
				const queued = 400
				for i := range queued / n {
					bn.change(b, m, i)
				}
				tls := bn.srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
				s := webhook.NewSender(bn.db, bn.svc, webhook.Config{Guard: bn.svc.WebhookGuard, TLSConfig: tls, Batch: 1000}, nil)
				total := 0
				var spent time.Duration
				for b.Loop() {
					b.StopTimer()
					// Each round delivers the same events again, from the log.
					if _, err := bn.db.DB().Exec(`DELETE FROM webhook_deliveries`); err != nil {
						b.Fatal(err)
					}
					if _, err := bn.db.DB().Exec(`UPDATE webhooks SET after_seq = $1`, from); err != nil {
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
}
