// Package metrics holds Steward's Prometheus metrics: check decisions and
// latency, the check index and the change feed, the database pool, the mail
// outbox, the scheduler and console sign-ins. The HTTP API serves them at
// /metrics (package http, which adds its own request metrics to the same
// registry); docs/grafana-dashboard.json is built from them.
//
// Counters on the check path are resolved once, at construction, for every
// label value they can take, so that counting a decision neither allocates
// nor takes a lock.
package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/steward-iam/steward"
	"github.com/steward-iam/steward/mail"
)

// Namespace prefixes every metric name.
const Namespace = "steward"

// Check results, the values of the result label of steward_check_decisions_total.
const (
	ResultAllowed = "allowed"
	ResultDenied  = "denied"
	ResultError   = "error"
)

// reasons are the reason codes a check decision can carry.
var reasons = []string{
	steward.ReasonGranted, steward.ReasonNoMembership, steward.ReasonUserDeactivated,
	steward.ReasonMembershipDeactivated, steward.ReasonMembershipSuspended, steward.ReasonMembershipExpired,
	steward.ReasonRelationshipInactive, steward.ReasonParentInactive, steward.ReasonRedelegationOff,
	steward.ReasonDelegationEnded, steward.ReasonPermissionMissing,
}

// errorKinds are the error kinds a check can fail with; they are the reason
// label of result="error".
var errorKinds = []string{
	steward.EBADREQUEST, steward.EINVALID, steward.EUNAUTHENTICATED, steward.EFORBIDDEN, steward.ENOTFOUND,
	steward.ECONFLICT, steward.EGONE, steward.ETOOLARGE, steward.EUNAVAILABLE, steward.EINTERNAL,
}

// otherReason stands for a reason code this version does not know.
const otherReason = "other"

// Metrics is the set of Steward's metrics, registered in Registry.
type Metrics struct {
	// Registry holds every metric; serve it with promhttp.
	Registry *prometheus.Registry

	allowed, denied, failed map[string]prometheus.Counter
	checkSeconds            prometheus.Histogram

	notifications prometheus.Counter
	mailSent      prometheus.Counter
	mailFailed    prometheus.Counter
	mailGivenUp   prometheus.Counter
	jobRuns       *prometheus.CounterVec
	jobFailures   *prometheus.CounterVec
	logins        *prometheus.CounterVec
}

// New returns the metrics, registered in a new registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		allowed:  map[string]prometheus.Counter{},
		denied:   map[string]prometheus.Counter{},
		failed:   map[string]prometheus.Counter{},
	}
	decisions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "check_decisions_total",
		Help: "Checks answered, by result (allowed, denied, error) and reason code (for errors, the error kind).",
	}, []string{"result", "reason"})
	for _, r := range append(reasons, otherReason) {
		m.denied[r] = decisions.WithLabelValues(ResultDenied, r)
	}
	for _, r := range []string{steward.ReasonGranted, otherReason} {
		m.allowed[r] = decisions.WithLabelValues(ResultAllowed, r)
	}
	for _, k := range append(errorKinds, otherReason) {
		m.failed[k] = decisions.WithLabelValues(ResultError, k)
	}
	m.checkSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "check_duration_seconds",
		Help: "Time the check index takes to answer a check, including any wait for min_revision.",
		// Checks answer in microseconds; a min_revision wait lasts up to seconds.
		Buckets: []float64{1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 0.025, 0.1, 0.5, 2.5},
	})
	m.notifications = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "change_notifications_total",
		Help: "Change-feed notifications received from the database (writes of other nodes).",
	})
	m.mailSent = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "mail_sent_total", Help: "Mail messages delivered.",
	})
	m.mailFailed = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "mail_failures_total", Help: "Mail delivery attempts that failed (retried later or given up).",
	})
	m.mailGivenUp = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "mail_given_up_total", Help: "Mail messages given up on after their last failed attempt.",
	})
	m.jobRuns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "job_runs_total", Help: "Scheduler job runs, by job.",
	}, []string{"job"})
	m.jobFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "job_failures_total", Help: "Scheduler job runs that failed, by job.",
	}, []string{"job"})
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "console_logins_total", Help: "Console sign-in attempts, by result (success, failure).",
	}, []string{"result"})
	m.logins.WithLabelValues("success")
	m.logins.WithLabelValues("failure")
	m.Registry.MustRegister(decisions, m.checkSeconds, m.notifications, m.mailSent, m.mailFailed, m.mailGivenUp,
		m.jobRuns, m.jobFailures, m.logins)
	return m
}

// Checker wraps a check index so that every check it answers is counted by
// result and reason and timed.
func (m *Metrics) Checker(next steward.Checker) steward.Checker {
	return &checker{next: next, m: m}
}

type checker struct {
	next steward.Checker
	m    *Metrics
}

func (c *checker) Check(ctx context.Context, req steward.CheckRequest, now time.Time) (*steward.CheckResult, error) {
	start := time.Now()
	res, err := c.next.Check(ctx, req, now)
	c.m.checkSeconds.Observe(time.Since(start).Seconds())
	c.m.countCheck(res, err)
	return res, err
}

// countCheck counts one check; it does not allocate.
func (m *Metrics) countCheck(res *steward.CheckResult, err error) {
	table, reason := m.failed, otherReason
	switch {
	case err != nil:
		reason = steward.ErrorKind(err)
	case res.Allowed:
		table, reason = m.allowed, res.Reason.Code
	default:
		table, reason = m.denied, res.Reason.Code
	}
	c, ok := table[reason]
	if !ok {
		c = table[otherReason]
	}
	c.Inc()
}

// Notified counts a change-feed notification.
func (m *Metrics) Notified() { m.notifications.Inc() }

// MailAttempt counts a delivery attempt: sent, or failed and perhaps given up.
func (m *Metrics) MailAttempt(err error, gaveUp bool) {
	switch {
	case err == nil:
		m.mailSent.Inc()
	default:
		m.mailFailed.Inc()
		if gaveUp {
			m.mailGivenUp.Inc()
		}
	}
}

// Jobs makes the job counters show each job, at zero until it runs.
func (m *Metrics) Jobs(names ...string) {
	for _, n := range names {
		m.jobRuns.WithLabelValues(n)
		m.jobFailures.WithLabelValues(n)
	}
}

// JobRun counts a run of a scheduler job.
func (m *Metrics) JobRun(name string, err error) {
	m.jobRuns.WithLabelValues(name).Inc()
	if err != nil {
		m.jobFailures.WithLabelValues(name).Inc()
	}
}

// Login counts a console sign-in attempt.
func (m *Metrics) Login(ok bool) {
	if ok {
		m.logins.WithLabelValues("success").Inc()
		return
	}
	m.logins.WithLabelValues("failure").Inc()
}

// Index is what the metrics read of the check index.
type Index interface {
	// Applied returns the last revision the index applied.
	Applied() int64
	// Size returns how many users and memberships the index holds.
	Size() (users, memberships int)
	// Reloads returns how many times the index was loaded whole again after its first load.
	Reloads() int64
}

// Database is what the metrics read of the database at each scrape.
type Database interface {
	CurrentRevision(ctx context.Context) (int64, error)
	// OutboxStats returns how many messages wait to be sent, leaving out
	// those whose next attempt is at or after givenUp, and when the oldest
	// of them was queued (zero when none).
	OutboxStats(ctx context.Context, givenUp time.Time) (int, time.Time, error)
}

// PoolStats describes the database connection pool.
type PoolStats struct {
	// Acquired and Idle are the connections in use and idle now.
	Acquired, Idle int
	// Waits counts the acquisitions that had to wait for a connection, and
	// WaitTime is their total wait, since start.
	Waits    int64
	WaitTime time.Duration
}

// Observe registers the gauges read at scrape time: the check index, the
// database's revision, the outbox and the connection pool. The database
// is asked with timeout; a scrape during a database outage leaves out what
// it could not read, and logs why.
func (m *Metrics) Observe(ix Index, db Database, pool func() PoolStats, timeout time.Duration, logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m.Registry.MustRegister(&scraped{ix: ix, db: db, pool: pool, timeout: timeout, logger: logger})
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
}

var (
	descUsers        = desc("index_users", "Users held by the check index.")
	descMemberships  = desc("index_memberships", "Memberships held by the check index.")
	descApplied      = desc("index_applied_revision", "The last revision of the change feed the check index applied.")
	descReloads      = desc("index_reloads_total", "Times the check index was loaded whole again after its first load (a lost database connection, a feed pruned past it).")
	descDBRevision   = desc("database_revision", "The last revision committed in the database; minus steward_index_applied_revision, the index's lag.")
	descOutbox       = desc("outbox_messages", "Mail messages waiting in the outbox (not sent, not given up).")
	descOutboxAge    = desc("outbox_oldest_message_age_seconds", "Age of the oldest message waiting in the outbox; 0 when none waits.")
	descPool         = desc("db_pool_connections", "Database connections of the pool, by state (acquired, idle).", "state")
	descPoolWaits    = desc("db_pool_waits_total", "Connection acquisitions that waited for a free connection.")
	descPoolWaitTime = desc("db_pool_wait_seconds_total", "Total time spent waiting for a free database connection.")
)

// scraped collects the values read at each scrape.
type scraped struct {
	ix      Index
	db      Database
	pool    func() PoolStats
	timeout time.Duration
	logger  *slog.Logger
}

func (s *scraped) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUsers, descMemberships, descApplied, descReloads, descDBRevision,
		descOutbox, descOutboxAge, descPool, descPoolWaits, descPoolWaitTime} {
		ch <- d
	}
}

func (s *scraped) Collect(ch chan<- prometheus.Metric) {
	users, memberships := s.ix.Size()
	ch <- prometheus.MustNewConstMetric(descUsers, prometheus.GaugeValue, float64(users))
	ch <- prometheus.MustNewConstMetric(descMemberships, prometheus.GaugeValue, float64(memberships))
	ch <- prometheus.MustNewConstMetric(descApplied, prometheus.GaugeValue, float64(s.ix.Applied()))
	ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(s.ix.Reloads()))

	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	if rev, err := s.db.CurrentRevision(ctx); err != nil {
		s.logger.Warn("metrics: read the database revision", slog.Any("err", err))
	} else {
		ch <- prometheus.MustNewConstMetric(descDBRevision, prometheus.GaugeValue, float64(rev))
	}
	if n, oldest, err := s.db.OutboxStats(ctx, mail.GiveUp); err != nil {
		s.logger.Warn("metrics: read the outbox", slog.Any("err", err))
	} else {
		age := 0.0
		if n > 0 && !oldest.IsZero() {
			age = max(0, time.Since(oldest).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(descOutbox, prometheus.GaugeValue, float64(n))
		ch <- prometheus.MustNewConstMetric(descOutboxAge, prometheus.GaugeValue, age)
	}
	p := s.pool()
	ch <- prometheus.MustNewConstMetric(descPool, prometheus.GaugeValue, float64(p.Acquired), "acquired")
	ch <- prometheus.MustNewConstMetric(descPool, prometheus.GaugeValue, float64(p.Idle), "idle")
	ch <- prometheus.MustNewConstMetric(descPoolWaits, prometheus.CounterValue, float64(p.Waits))
	ch <- prometheus.MustNewConstMetric(descPoolWaitTime, prometheus.CounterValue, p.WaitTime.Seconds())
}
