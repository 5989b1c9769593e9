// Package server holds what every HTTP handler of the API shares beneath
// the routes: request instrumentation (metrics and a server span), the
// probes, and the method label. It knows nothing of Kubernetes; the
// listeners themselves are controller-runtime's manager.Server, built by
// cmd/api.
package server

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/abc-inc/timesheets/pkg/metrics"
)

// Instrument counts and times requests by the route pattern mux would pick,
// never by raw path, and makes a server span of each: continuing the
// caller's trace when it sends a W3C traceparent.
func Instrument(m *metrics.Metrics, mux *http.ServeMux, next http.Handler) http.Handler {
	var series sync.Map // routeKey -> *routeSeries
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		_, pattern := mux.Handler(r)
		if pattern == "" {
			pattern = metrics.RouteUnmatched
		}
		method := MethodLabel(r.Method)
		s := seriesOf(&series, m, pattern, method)
		ctx, span := startSpan(r, s.span)
		defer span.End()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r.WithContext(ctx))
		endSpan(span, sw.code)
		s.requests(sw.code).Inc()
		s.duration.Observe(time.Since(start).Seconds())
	})
}

// routeKey names the series of one route and method.
type routeKey struct{ pattern, method string }

// routeSeries holds the children of one route and method, so that a
// request looks them up once by a key of two strings, not by hashing its
// label values in each vector, and its span's name and route. The keys are
// few: patterns and methods are fixed sets, and so are the statuses the
// handlers answer.
type routeSeries struct {
	span     spanRoute
	duration prometheus.Observer
	counts   *prometheus.CounterVec // curried with route and method
	codes    sync.Map               // int -> prometheus.Counter
}

func seriesOf(series *sync.Map, m *metrics.Metrics, pattern, method string) *routeSeries {
	k := routeKey{pattern, method}
	if s, ok := series.Load(k); ok {
		return s.(*routeSeries)
	}
	labels := prometheus.Labels{"route": pattern, "method": method}
	s, _ := series.LoadOrStore(k, &routeSeries{span: newSpanRoute(method, pattern), duration: m.HTTPDuration.With(labels), counts: m.HTTPRequests.MustCurryWith(labels)})
	return s.(*routeSeries)
}

func (s *routeSeries) requests(code int) prometheus.Counter {
	if c, ok := s.codes.Load(code); ok {
		return c.(prometheus.Counter)
	}
	c, _ := s.codes.LoadOrStore(code, s.counts.WithLabelValues(strconv.Itoa(code)))
	return c.(prometheus.Counter)
}

// MethodLabel keeps a method, as a metric label or in a log line, to a
// fixed set: the methods the API knows, else "other".
func MethodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

type statusWriter struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
