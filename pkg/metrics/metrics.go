// Package metrics declares every Prometheus collector of the Timesheets API
// in one place (the importer's, pushed at the end of a run, are in
// pkg/importer).
//
// API (cmd/api), registered in controller-runtime's registry so that the
// manager's metrics server and the file-mode server expose the same set:
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
//
// Every series an alert or a dashboard watches exists from the start (at 0):
// a counter that appears only with its first increment gives rate() and
// increase() nothing to compare, so the first failure would go unseen. The
// fixed label sets are initialised here; the reasons (pkg/auth) by
// InitReasons, each issuer by InitIssuer when its key set starts.
//
// Labels only take values from fixed sets: route is a pattern from the policy
// or the API's own mux (or "unmatched"), never a raw path; reason is one of
// the Reason constants; issuer is a URL from the policy in force.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Registry is where every collector of this package is registered. It is
// controller-runtime's registry, which also holds the Go and process collectors.
var Registry = crmetrics.Registry

// RouteUnmatched labels requests that matched no route pattern.
const RouteUnmatched = "unmatched"

var (
	AuthFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "timesheets_auth_failures_total",
		Help: "Requests that failed authentication or authorization, by reason and route pattern.",
	}, []string{"reason", "route"})

	AuthAuditAllowed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "timesheets_auth_audit_allowed_total",
		Help: "Requests let through by Audit mode although they failed, by reason and route pattern.",
	}, []string{"reason", "route"})

	HTTPRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "timesheets_http_requests_total",
		Help: "HTTP requests served, by route pattern, method and status code.",
	}, []string{"route", "method", "code"})

	HTTPDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "timesheets_http_request_duration_seconds",
		Help:    "HTTP request latency, by route pattern and method.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"route", "method"})

	JWKSRefreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "timesheets_jwks_refresh_total",
		Help: "JWKS fetches, by issuer and result (success, error).",
	}, []string{"issuer", "result"})

	JWKSKeys = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "timesheets_jwks_keys",
		Help: "Signing keys currently held, by issuer.",
	}, []string{"issuer"})

	PolicyReloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "timesheets_policy_reloads_total",
		Help: "Policy loads, by result (success; invalid: refused; keys_unavailable: waits for its issuers' keys while the last good policy stays in force).",
	}, []string{"result"})

	PolicyGeneration = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "timesheets_policy_generation",
		Help: "Generation of the ScopePolicy in force; 0 when none is loaded.",
	})

	PolicyPending = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "timesheets_policy_pending",
		Help: "1 while a valid policy waits for its issuers' signing keys and the last good one stays in force; alert when it lasts.",
	})

	TokenCache = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "timesheets_token_cache_total",
		Help: "Verified-token cache lookups, by result (hit, miss).",
	}, []string{"result"})

	DatabaseUp = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "timesheets_database_up",
		Help: "1 while the database answers (opened, or its last ping succeeded), 0 while it does not.",
	})
)

// JWKS refresh results (the result label).
const (
	JWKSSuccess = "success"
	JWKSError   = "error"
)

// InitReasons creates the auth failure series of each reason for unmatched
// routes, so a rule sees the first failure of a reason as an increase.
func InitReasons[R ~string](reasons []R) {
	for _, r := range reasons {
		AuthFailures.WithLabelValues(string(r), RouteUnmatched)
		AuthAuditAllowed.WithLabelValues(string(r), RouteUnmatched)
	}
}

// InitIssuer creates an issuer's JWKS series before its first fetch: no
// keys yet, no refresh of either result.
func InitIssuer(issuer string) {
	JWKSRefreshes.WithLabelValues(issuer, JWKSSuccess)
	JWKSRefreshes.WithLabelValues(issuer, JWKSError)
	JWKSKeys.WithLabelValues(issuer)
}

// DeleteIssuer drops the series of an issuer the policy no longer trusts,
// so an alert on it ends with it.
func DeleteIssuer(issuer string) {
	JWKSRefreshes.DeleteLabelValues(issuer, JWKSSuccess)
	JWKSRefreshes.DeleteLabelValues(issuer, JWKSError)
	JWKSKeys.DeleteLabelValues(issuer)
}

// Policy reload results.
const (
	ReloadSuccess = "success"
	ReloadInvalid = "invalid"
	// ReloadKeysUnavailable counts a valid policy that waited past its key
	// wait; it goes in force when the keys arrive (then success).
	ReloadKeysUnavailable = "keys_unavailable"
)

func init() {
	Registry.MustRegister(AuthFailures, AuthAuditAllowed, HTTPRequests, HTTPDuration,
		JWKSRefreshes, JWKSKeys, PolicyReloads, PolicyGeneration, PolicyPending, TokenCache, DatabaseUp)
	for _, r := range []string{ReloadSuccess, ReloadInvalid, ReloadKeysUnavailable} {
		PolicyReloads.WithLabelValues(r)
	}
	for _, r := range []string{"hit", "miss"} {
		TokenCache.WithLabelValues(r)
	}
	// The HTTP families exist before the first request (the 5xx ratio and
	// the latency panels read them): unmatched GETs, answered 404.
	HTTPRequests.WithLabelValues(RouteUnmatched, "GET", "404")
	HTTPDuration.WithLabelValues(RouteUnmatched, "GET")
}
