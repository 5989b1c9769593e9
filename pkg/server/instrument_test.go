package server_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/metrics"
	"github.com/abc-inc/timesheets/pkg/server"
)

// TestInstrumentCountsByRouteMethodAndCode: the children Instrument keeps
// per route count each request under its own pattern, method and status.
func TestInstrumentCountsByRouteMethodAndCode(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "0" {
			w.WriteHeader(http.StatusNotFound)
		}
	})
	h := server.Instrument(m, mux, mux)
	for _, p := range []string{"/items/1", "/items/2", "/items/0", "/nowhere"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	require.InDelta(t, 2, testutil.ToFloat64(m.HTTPRequests.WithLabelValues("GET /items/{id}", "GET", "200")), 0)
	require.InDelta(t, 1, testutil.ToFloat64(m.HTTPRequests.WithLabelValues("GET /items/{id}", "GET", "404")), 0)
	require.InDelta(t, 1, testutil.ToFloat64(m.HTTPRequests.WithLabelValues(metrics.RouteUnmatched, "GET", "404")), 0)
	require.Equal(t, 2, testutil.CollectAndCount(m.HTTPDuration))
}
