package importer

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	dto "github.com/prometheus/client_model/go"
)

// pushTimeout bounds the push at the end of a run, which happens even when
// the run was interrupted.
const pushTimeout = 10 * time.Second

// PushMetrics sends a run's timesheets_importer_* metrics to a Prometheus
// Pushgateway under job. It uses POST, which replaces only the pushed
// families of the job's group: a failed run leaves out
// timesheets_importer_last_success_timestamp_seconds, so the time of the
// last success survives it.
func PushMetrics(ctx context.Context, client *http.Client, gatewayURL, job string, s Summary, end time.Time) error {
	reg := prometheus.NewRegistry()
	m := newRunMetrics(reg)
	m.Entries.WithLabelValues(outcomeCreated).Add(float64(s.Created))
	m.Entries.WithLabelValues(outcomeDuplicate).Add(float64(s.Duplicates))
	m.Entries.WithLabelValues(outcomeUpdated).Add(float64(s.Updated))
	m.Entries.WithLabelValues(outcomeDeleted).Add(float64(s.Deleted))
	m.Entries.WithLabelValues(outcomeConflict).Add(float64(s.Conflicts))
	m.Entries.WithLabelValues(outcomeRejected).Add(float64(s.Rejected))
	m.Entries.WithLabelValues(outcomeFailed).Add(float64(s.Failed))
	m.Retries.Add(float64(s.Retries))
	m.Duration.Set(s.Duration.Seconds())
	m.LastRun.Set(float64(end.UnixNano()) / 1e9)
	var g prometheus.Gatherer = reg
	if s.OK() {
		m.LastSuccess.Set(float64(end.UnixNano()) / 1e9)
	} else {
		g = prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
			mfs, err := reg.Gather()
			out := mfs[:0]
			for _, mf := range mfs {
				if mf.GetName() != lastSuccessMetric {
					out = append(out, mf)
				}
			}
			return out, err
		})
	}
	p := push.New(gatewayURL, job).Gatherer(g)
	if client != nil {
		p = p.Client(client)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pushTimeout)
	defer cancel()
	if err := p.AddContext(ctx); err != nil {
		return fmt.Errorf("push metrics to %s: %w", gatewayURL, err)
	}
	return nil
}
