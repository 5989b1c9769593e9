// Package metrics declares every Prometheus collector of the Timesheets API
// in one place (the importer's, pushed at the end of a run, are in
// pkg/importer). New makes one set and registers it with the Registerer it
// is given: cluster mode passes controller-runtime's registry, so the
// manager's metrics server exposes them beside the controllers' own; file
// mode passes a registry of its own; a test passes a fresh one and reads it.
//
//	timesheets_auth_failures_total{reason,route}       requests refused (or, in Audit mode, that would be) by reason
//	timesheets_auth_audit_allowed_total{reason,route}  Audit-mode requests let through despite a failure
//	timesheets_http_requests_total{route,method,code}   requests served
//	timesheets_http_request_duration_seconds{route,method} latency
//	timesheets_jwks_refresh_total{issuer,result}        JWKS fetches by issuer URL and result (success, error)
//	timesheets_jwks_keys{issuer}                        keys currently held per issuer
//	timesheets_policy_reloads_total{result}             policy loads by result (success, invalid)
//	timesheets_policy_generation                        generation of the policy in force (0: none)
//	timesheets_token_cache_total{result}                verified-token cache lookups (hit, miss)
//	timesheets_database_up                              1 while the database answers, 0 while it does not
//	timesheets_store_write_transactions_total           write transactions (group commits) begun
//	timesheets_store_write_calls_total                  write calls they ran (calls/transactions: the mean group size)
//	timesheets_store_write_calls_dropped_total          write calls whose request ended before their group ran
//	timesheets_store_write_rollbacks_total              members of a group rolled back to their savepoint alone
//	timesheets_store_write_group_size                   histogram of calls per write transaction
//
// Every series an alert or a dashboard watches exists from the start (at 0):
// a counter that appears only with its first increment gives rate() and
// increase() nothing to compare, so the first failure would go unseen. New
// initialises the fixed label sets; the reasons (pkg/auth) by InitReasons,
// each issuer by InitIssuer when its key set starts.
//
// Labels only take values from fixed sets: route is a pattern from the policy
// or the API's own mux (or "unmatched"), never a raw path; reason is one of
// the Reason constants; issuer is a URL from the policy in force.
//
// The package depends on client_golang alone, so the packages that count
// (auth, server, activation) link no Kubernetes code.
package metrics

import "github.com/prometheus/client_golang/prometheus"

// RouteUnmatched labels requests that matched no route pattern.
const RouteUnmatched = "unmatched"

// JWKS refresh results (the result label).
const (
	JWKSSuccess = "success"
	JWKSError   = "error"
)

// Policy reload results.
const (
	ReloadSuccess = "success"
	ReloadInvalid = "invalid"
	// ReloadKeysUnavailable counts a valid policy that waited past its key
	// wait; it goes in force when the keys arrive (then success).
	ReloadKeysUnavailable = "keys_unavailable"
)

// Token cache results.
const (
	CacheHit  = "hit"
	CacheMiss = "miss"
)

// Metrics is one set of the API's collectors.
type Metrics struct {
	AuthFailures     *prometheus.CounterVec
	AuthAuditAllowed *prometheus.CounterVec
	HTTPRequests     *prometheus.CounterVec
	HTTPDuration     *prometheus.HistogramVec
	JWKSRefreshes    *prometheus.CounterVec
	JWKSKeys         *prometheus.GaugeVec
	PolicyReloads    *prometheus.CounterVec
	PolicyGeneration prometheus.Gauge
	PolicyPending    prometheus.Gauge
	TokenCache       *prometheus.CounterVec
	DatabaseUp       prometheus.Gauge

	reg prometheus.Registerer // where New registered them; nil: nowhere
}

// New makes a set of the collectors and registers them with reg; a nil reg
// registers nothing (for a component whose figures nobody reads). It panics
// when reg already holds them, as MustRegister does: one set per registry.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reg: reg,
		AuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "timesheets_auth_failures_total",
			Help: "Requests that failed authentication or authorization, by reason and route pattern.",
		}, []string{"reason", "route"}),
		AuthAuditAllowed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "timesheets_auth_audit_allowed_total",
			Help: "Requests let through by Audit mode although they failed, by reason and route pattern.",
		}, []string{"reason", "route"}),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "timesheets_http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "timesheets_http_request_duration_seconds",
			Help:    "HTTP request latency, by route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
		JWKSRefreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "timesheets_jwks_refresh_total",
			Help: "JWKS fetches, by issuer and result (success, error).",
		}, []string{"issuer", "result"}),
		JWKSKeys: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "timesheets_jwks_keys",
			Help: "Signing keys currently held, by issuer.",
		}, []string{"issuer"}),
		PolicyReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "timesheets_policy_reloads_total",
			Help: "Policy loads, by result (success; invalid: refused; keys_unavailable: waits for its issuers' keys while the last good policy stays in force).",
		}, []string{"result"}),
		PolicyGeneration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "timesheets_policy_generation",
			Help: "Generation of the ScopePolicy in force; 0 when none is loaded.",
		}),
		PolicyPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "timesheets_policy_pending",
			Help: "1 while a valid policy waits for its issuers' signing keys and the last good one stays in force; alert when it lasts.",
		}),
		TokenCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "timesheets_token_cache_total",
			Help: "Verified-token cache lookups, by result (hit, miss).",
		}, []string{"result"}),
		DatabaseUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "timesheets_database_up",
			Help: "1 while the database answers (opened, or its last ping succeeded), 0 while it does not.",
		}),
	}
	for _, r := range []string{ReloadSuccess, ReloadInvalid, ReloadKeysUnavailable} {
		m.PolicyReloads.WithLabelValues(r)
	}
	for _, r := range []string{CacheHit, CacheMiss} {
		m.TokenCache.WithLabelValues(r)
	}
	// The HTTP families exist before the first request (the 5xx ratio and
	// the latency panels read them): unmatched GETs, answered 404.
	m.HTTPRequests.WithLabelValues(RouteUnmatched, "GET", "404")
	m.HTTPDuration.WithLabelValues(RouteUnmatched, "GET")
	if reg != nil {
		reg.MustRegister(m.AuthFailures, m.AuthAuditAllowed, m.HTTPRequests, m.HTTPDuration,
			m.JWKSRefreshes, m.JWKSKeys, m.PolicyReloads, m.PolicyGeneration, m.PolicyPending, m.TokenCache, m.DatabaseUp)
	}
	return m
}

// Discard is a set registered nowhere, for a component given none.
func Discard() *Metrics { return New(nil) }

// InitReasons creates the auth failure series of each reason for unmatched
// routes, so a rule sees the first failure of a reason as an increase.
func InitReasons[R ~string](m *Metrics, reasons []R) {
	for _, r := range reasons {
		m.AuthFailures.WithLabelValues(string(r), RouteUnmatched)
		m.AuthAuditAllowed.WithLabelValues(string(r), RouteUnmatched)
	}
}

// InitIssuer creates an issuer's JWKS series before its first fetch: no
// keys yet, no refresh of either result.
func (m *Metrics) InitIssuer(issuer string) {
	m.JWKSRefreshes.WithLabelValues(issuer, JWKSSuccess)
	m.JWKSRefreshes.WithLabelValues(issuer, JWKSError)
	m.JWKSKeys.WithLabelValues(issuer)
}

// DeleteIssuer drops the series of an issuer the policy no longer trusts,
// so an alert on it ends with it.
func (m *Metrics) DeleteIssuer(issuer string) {
	m.JWKSRefreshes.DeleteLabelValues(issuer, JWKSSuccess)
	m.JWKSRefreshes.DeleteLabelValues(issuer, JWKSError)
	m.JWKSKeys.DeleteLabelValues(issuer)
}

// GroupCommits is what the store reports of its group commits since it
// opened: transactions begun, the write calls they ran, calls dropped before
// their turn, members rolled back, and a histogram of group sizes whose
// bucket i counts groups of up to 2^i calls (the store's own buckets).
type GroupCommits struct {
	Transactions, Calls, Dropped, RolledBack uint64
	Sizes                                    []uint64
}

// groupCommits reads a store's counters at each scrape: they live in the
// store, which must not depend on Prometheus.
type groupCommits struct {
	read                                         func() (GroupCommits, bool)
	transactions, calls, dropped, rolled, groups *prometheus.Desc
}

// ObserveGroupCommits exposes the store's group commit counters beside the
// set's, read at each scrape from read (false: no store open yet, nothing
// reported).
func (m *Metrics) ObserveGroupCommits(read func() (GroupCommits, bool)) {
	if m.reg == nil {
		return
	}
	m.reg.MustRegister(&groupCommits{
		read:         read,
		transactions: prometheus.NewDesc("timesheets_store_write_transactions_total", "Write transactions begun; with group commit one carries every write call that queued while the previous one ran.", nil, nil),
		calls:        prometheus.NewDesc("timesheets_store_write_calls_total", "Write calls (create, approve, delete) the write transactions ran.", nil, nil),
		dropped:      prometheus.NewDesc("timesheets_store_write_calls_dropped_total", "Write calls whose request ended while they waited for their group.", nil, nil),
		rolled:       prometheus.NewDesc("timesheets_store_write_rollbacks_total", "Members of a group of several that failed and were rolled back alone to their savepoint.", nil, nil),
		groups:       prometheus.NewDesc("timesheets_store_write_group_size", "Write calls per write transaction.", nil, nil),
	})
}

func (c *groupCommits) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.transactions, c.calls, c.dropped, c.rolled, c.groups} {
		ch <- d
	}
}

func (c *groupCommits) Collect(ch chan<- prometheus.Metric) {
	g, ok := c.read()
	if !ok {
		return
	}
	for _, v := range []struct {
		d *prometheus.Desc
		n uint64
	}{{c.transactions, g.Transactions}, {c.calls, g.Calls}, {c.dropped, g.Dropped}, {c.rolled, g.RolledBack}} {
		ch <- prometheus.MustNewConstMetric(v.d, prometheus.CounterValue, float64(v.n))
	}
	buckets := map[float64]uint64{}
	var cum uint64
	for i, n := range g.Sizes {
		cum += n
		buckets[float64(uint64(1)<<i)] = cum
	}
	ch <- prometheus.MustNewConstHistogram(c.groups, g.Transactions, float64(g.Calls), buckets)
}
