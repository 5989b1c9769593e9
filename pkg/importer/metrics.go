package importer

import "github.com/prometheus/client_golang/prometheus"

// runMetrics holds the collectors of one importer run (cmd/importer). A run
// is a short-lived CronJob, so nothing scrapes it: the collectors live in a
// registry of their own and are pushed to a Pushgateway at the end of the
// run. They live here, not in pkg/metrics, which registers the API's
// collectors in controller-runtime's registry: the importer binary must not
// link client-go.
//
//	timesheets_importer_entries_total{outcome}            entries of this run by outcome (created, duplicate, updated, deleted, conflict, rejected, failed)
//	timesheets_importer_retries_total                     upload attempts repeated after 429, 5xx or a network error
//	timesheets_importer_duration_seconds                  how long the run took
//	timesheets_importer_last_run_timestamp_seconds        when the run ended (Unix time)
//	timesheets_importer_last_success_timestamp_seconds    when a run last ended with every entry stored (Unix time)
//
// A failed run must not reset the time of the last success, so the pusher
// leaves that family out of a failed run's push (see PushMetrics).
type runMetrics struct {
	Entries     *prometheus.CounterVec
	Retries     prometheus.Counter
	Duration    prometheus.Gauge
	LastRun     prometheus.Gauge
	LastSuccess prometheus.Gauge
}

// Entry outcomes (the outcome label).
const (
	outcomeCreated   = "created"
	outcomeDuplicate = "duplicate"
	outcomeUpdated   = "updated"
	outcomeDeleted   = "deleted"
	outcomeConflict  = "conflict"
	outcomeRejected  = "rejected"
	outcomeFailed    = "failed"
)

// lastSuccessMetric is the family a failed run does not push.
const lastSuccessMetric = "timesheets_importer_last_success_timestamp_seconds"

// newRunMetrics creates the importer's collectors and registers them in reg.
// Every outcome starts at zero so a push always carries every series.
func newRunMetrics(reg prometheus.Registerer) *runMetrics {
	m := &runMetrics{
		Entries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "timesheets_importer_entries_total",
			Help: "Entries of the last importer run, by outcome (created, duplicate, updated, deleted, conflict, rejected, failed).",
		}, []string{"outcome"}),
		Retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "timesheets_importer_retries_total",
			Help: "Upload attempts of the last importer run repeated after 429, 5xx or a network error.",
		}),
		Duration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "timesheets_importer_duration_seconds",
			Help: "Duration of the last importer run.",
		}),
		LastRun: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "timesheets_importer_last_run_timestamp_seconds",
			Help: "Unix time at which the last importer run ended, successful or not.",
		}),
		LastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: lastSuccessMetric,
			Help: "Unix time at which an importer run last ended with every entry created, already present, updated or deleted.",
		}),
	}
	for _, o := range []string{outcomeCreated, outcomeDuplicate, outcomeUpdated, outcomeDeleted, outcomeConflict, outcomeRejected, outcomeFailed} {
		m.Entries.WithLabelValues(o)
	}
	reg.MustRegister(m.Entries, m.Retries, m.Duration, m.LastRun, m.LastSuccess)
	return m
}
