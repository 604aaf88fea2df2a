package http

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the Prometheus metrics of one Server. Each Server has its own
// registry unless WithRegistry gives one, so that several servers (tests,
// say) never collide.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// series holds the children of the vectors by method, pattern and
	// status, so that a request costs no label formatting or hashing.
	series sync.Map // seriesKey → *series
}

type seriesKey struct {
	method, pattern string
	status          int
}

type series struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

func newMetrics(reg *prometheus.Registry) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &metrics{
		registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "steward_http_requests_total",
			Help: "HTTP requests answered, by method, route pattern and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "steward_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by method and route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
	}
	m.registry.MustRegister(m.requests, m.duration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe counts one answered request. pattern is the mux's ("GET
// /v1/accounts/{account}"), so ids never become label values.
func (m *metrics) observe(method, pattern string, status int, d time.Duration) {
	if pattern != "" { // unmatched methods are any text: not kept
		k := seriesKey{method, pattern, status}
		sr, ok := m.series.Load(k)
		if !ok {
			sr, _ = m.series.LoadOrStore(k, m.newSeries(method, pattern, status))
		}
		sr.(*series).requests.Inc()
		sr.(*series).duration.Observe(d.Seconds())
		return
	}
	sr := m.newSeries(method, pattern, status)
	sr.requests.Inc()
	sr.duration.Observe(d.Seconds())
}

// newSeries returns the children of the vectors for a request.
func (m *metrics) newSeries(method, pattern string, status int) *series {
	route := "unmatched"
	if pattern != "" {
		_, path, found := strings.Cut(pattern, " ")
		if !found {
			path = pattern
		}
		route = path
	} else {
		method = "other" // unmatched requests may carry any method
	}
	return &series{requests: m.requests.WithLabelValues(method, route, strconv.Itoa(status)), duration: m.duration.WithLabelValues(method, route)}
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
