// Package server holds what every HTTP handler of the API shares beneath
// the routes: request instrumentation (metrics and a server span), the
// probes, and the method label. It knows nothing of Kubernetes; the
// listeners themselves are controller-runtime's manager.Server, built by
// cmd/api.
package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/abc-inc/timesheets/pkg/metrics"
)

// Instrument counts and times requests by the route pattern mux would pick,
// never by raw path, and makes a server span of each: continuing the
// caller's trace when it sends a W3C traceparent.
func Instrument(m *metrics.Metrics, mux *http.ServeMux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		_, pattern := mux.Handler(r)
		if pattern == "" {
			pattern = metrics.RouteUnmatched
		}
		method := MethodLabel(r.Method)
		ctx, span := startSpan(r, method, pattern)
		defer span.End()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r.WithContext(ctx))
		endSpan(span, sw.code)
		m.HTTPRequests.WithLabelValues(pattern, method, strconv.Itoa(sw.code)).Inc()
		m.HTTPDuration.WithLabelValues(pattern, method).Observe(time.Since(start).Seconds())
	})
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
