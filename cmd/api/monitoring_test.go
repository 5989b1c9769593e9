package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/importer"
	"github.com/abc-inc/timesheets/pkg/store/pgtest"
)

// The chart's alert rules and dashboard, relative to this package.
const (
	rulesTemplate = "../../charts/timesheets/templates/prometheusrule.yaml"
	dashboardJSON = "../../charts/timesheets/files/grafana-dashboard.json"
)

var metricName = regexp.MustCompile(`\btimesheets_[a-z0-9_]+\b`)

// TestMonitoringSeriesExistFromStart runs the real binary and reads its
// /metrics before it has served a single API request: every metric an alert
// or a dashboard panel of the chart reads is there (or among the importer's
// pushed metrics), with the label sets the rules select, so no rule waits for
// a series that only appears with the first failure.
func TestMonitoringSeriesExistFromStart(t *testing.T) {
	used := usedMetricNames(t)
	require.Contains(t, used, "timesheets_database_up", "the database alert reads the gauge")

	is := newDevIssuer(t)
	bin, policyFile := buildAPI(t, is)
	p := startProcess(t, bin, policyFile, "sqlite://"+filepath.Join(t.TempDir(), "ts.db"))
	p.waitReady(t)
	api := scrape(t, p.metricsURL+"/metrics")
	pushed := pushedImporterMetrics(t)

	for _, name := range used {
		_, inAPI := api[familyOf(api, name)]
		_, inImporter := pushed[familyOf(pushed, name)]
		require.True(t, inAPI || inImporter, "%s (used by a rule or a panel) is neither on the API's /metrics nor pushed by the importer", name)
	}

	t.Run("every auth failure reason has its series for unmatched routes", func(t *testing.T) {
		for _, fam := range []string{"timesheets_auth_failures_total", "timesheets_auth_audit_allowed_total"} {
			got := labelValues(api[fam], "reason")
			for _, r := range auth.Reasons {
				require.Contains(t, got, string(r), fam)
			}
		}
	})
	t.Run("the policy's issuer has both JWKS refresh results and a key count", func(t *testing.T) {
		require.ElementsMatch(t, []string{is.Issuer()}, labelValues(api["timesheets_jwks_keys"], "issuer"))
		for _, m := range api["timesheets_jwks_refresh_total"].GetMetric() {
			require.Equal(t, is.Issuer(), label(m, "issuer"))
		}
		require.ElementsMatch(t, []string{"success", "error"}, labelValues(api["timesheets_jwks_refresh_total"], "result"))
	})
	t.Run("every policy reload result is there, refused ones at 0", func(t *testing.T) {
		require.ElementsMatch(t, []string{"success", "invalid", "keys_unavailable"}, labelValues(api["timesheets_policy_reloads_total"], "result"))
		for _, m := range api["timesheets_policy_reloads_total"].GetMetric() {
			if label(m, "result") == "invalid" {
				require.Zero(t, m.GetCounter().GetValue())
			}
		}
		require.Equal(t, 1.0, api["timesheets_policy_generation"].GetMetric()[0].GetGauge().GetValue())
		require.Zero(t, api["timesheets_policy_pending"].GetMetric()[0].GetGauge().GetValue())
	})
	t.Run("the database is up", func(t *testing.T) {
		require.Equal(t, 1.0, api["timesheets_database_up"].GetMetric()[0].GetGauge().GetValue())
	})
	t.Run("the store's group commits are counted from the start", func(t *testing.T) {
		for _, fam := range []string{"timesheets_store_write_transactions_total", "timesheets_store_write_calls_total", "timesheets_store_write_group_size"} {
			require.Contains(t, api, fam)
		}
	})
	t.Run("the importer pushes every outcome", func(t *testing.T) {
		require.ElementsMatch(t, []string{"created", "duplicate", "updated", "deleted", "conflict", "rejected", "failed"},
			labelValues(pushed["timesheets_importer_entries_total"], "outcome"))
	})
}

// TestDatabaseUpFollowsTheDatabase: timesheets_database_up is 0 from the
// start while the API waits for its PostgreSQL, 1 once the database opens,
// and 0 again when a readiness ping finds it gone.
func TestDatabaseUpFollowsTheDatabase(t *testing.T) {
	pg := pgtest.New(t)
	dbURL := pg.NewDatabase(t)
	require.NoError(t, pg.Stop())
	is := newDevIssuer(t)
	bin, policyFile := buildAPI(t, is)
	p := startProcess(t, bin, policyFile, dbURL)

	databaseUp := func() float64 {
		fams := scrapeOrNil(p.metricsURL + "/metrics")
		if f := fams["timesheets_database_up"]; f != nil {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
		return -1
	}
	require.Eventually(t, func() bool { return databaseUp() == 0 }, 30*time.Second, 50*time.Millisecond, "%s", &p.out)

	require.NoError(t, pg.Start())
	require.Eventually(t, func() bool { return databaseUp() == 1 }, 60*time.Second, 100*time.Millisecond,
		"the background open succeeds once the database answers:\n%s", &p.out)
	p.waitReady(t)

	require.NoError(t, pg.Stop())
	require.Eventually(t, func() bool {
		status, _ := p.readyz(t) // the readiness ping sets the gauge
		return status == http.StatusServiceUnavailable && databaseUp() == 0
	}, 30*time.Second, 100*time.Millisecond, "%s", &p.out)
}

// usedMetricNames returns every timesheets_* name in the chart's rules and
// in the dashboard panels' queries.
func usedMetricNames(t *testing.T) []string {
	t.Helper()
	rules, err := os.ReadFile(rulesTemplate)
	require.NoError(t, err)
	text := string(rules)

	b, err := os.ReadFile(dashboardJSON)
	require.NoError(t, err)
	var d struct {
		Panels []struct {
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &d), "the dashboard is JSON")
	queries := 0
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			text += "\n" + q.Expr
			queries++
		}
	}
	require.NotZero(t, queries, "the dashboard has queries")

	seen := map[string]bool{}
	for _, n := range metricName.FindAllString(text, -1) {
		seen[n] = true
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	require.NotEmpty(t, names)
	return names
}

// familyOf maps a sample name to its family: a histogram's _bucket, _sum and
// _count belong to the histogram.
func familyOf(fams map[string]*dto.MetricFamily, name string) string {
	if _, ok := fams[name]; ok {
		return name
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base := strings.TrimSuffix(name, suffix)
		if f, ok := fams[base]; ok && base != name && f.GetType() == dto.MetricType_HISTOGRAM {
			return base
		}
	}
	return name
}

// scrapeOrNil is scrape for a poll: nil while the server does not answer.
func scrapeOrNil(url string) map[string]*dto.MetricFamily {
	resp, err := http.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	fams := map[string]*dto.MetricFamily{}
	dec := expfmt.NewDecoder(resp.Body, expfmt.ResponseFormat(resp.Header))
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err != nil {
			return fams
		}
		fams[mf.GetName()] = &mf
	}
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return decodeFamilies(t, resp.Body, expfmt.ResponseFormat(resp.Header))
}

// pushedImporterMetrics pushes a successful run's metrics the way the
// importer does, to a Pushgateway stand-in that keeps the body (the
// Pushgateway's API: POST /metrics/job/<job>, exposition format).
func pushedImporterMetrics(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	got := make(chan map[string]*dto.MetricFamily, 1)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/metrics/job/"+importer.DefaultPushJob {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
			return
		}
		got <- decodeFamilies(t, r.Body, expfmt.ResponseFormat(r.Header))
		w.WriteHeader(http.StatusOK)
	}))
	defer gw.Close()
	require.NoError(t, importer.PushMetrics(context.Background(), gw.Client(), gw.URL, importer.DefaultPushJob,
		importer.Summary{Created: 1}, time.Now()))
	return <-got
}

func decodeFamilies(t *testing.T, r io.Reader, format expfmt.Format) map[string]*dto.MetricFamily {
	t.Helper()
	fams := map[string]*dto.MetricFamily{}
	dec := expfmt.NewDecoder(r, format)
	for {
		var mf dto.MetricFamily
		err := dec.Decode(&mf)
		if errors.Is(err, io.EOF) {
			return fams
		}
		require.NoError(t, err)
		fams[mf.GetName()] = &mf
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// labelValues lists the distinct values of a label across a family.
func labelValues(f *dto.MetricFamily, name string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range f.GetMetric() {
		if v := label(m, name); !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
