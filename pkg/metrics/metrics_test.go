package metrics_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/abc-inc/timesheets/pkg/metrics"
)

// TestGroupCommits: the store's counters are exposed as read at the scrape,
// the size histogram cumulative with le = 2^i; before the store opens,
// nothing is reported.
func TestGroupCommits(t *testing.T) {
	reg := prometheus.NewRegistry()
	open := false
	metrics.New(reg).ObserveGroupCommits(func() (metrics.GroupCommits, bool) {
		// 5 transactions of 1, 2, 3, 3 and 40 calls.
		return metrics.GroupCommits{Transactions: 5, Calls: 49, Dropped: 1, RolledBack: 2, Sizes: []uint64{1, 1, 2, 0, 0, 0, 1}}, open
	})
	names := []string{"timesheets_store_write_transactions_total", "timesheets_store_write_group_size"}
	if n, err := testutil.GatherAndCount(reg, names...); err != nil || n != 0 {
		t.Fatalf("before the store opens: %d series (%v), want none", n, err)
	}
	open = true
	want := `
# HELP timesheets_store_write_group_size Write calls per write transaction.
# TYPE timesheets_store_write_group_size histogram
timesheets_store_write_group_size_bucket{le="1"} 1
timesheets_store_write_group_size_bucket{le="2"} 2
timesheets_store_write_group_size_bucket{le="4"} 4
timesheets_store_write_group_size_bucket{le="8"} 4
timesheets_store_write_group_size_bucket{le="16"} 4
timesheets_store_write_group_size_bucket{le="32"} 4
timesheets_store_write_group_size_bucket{le="64"} 5
timesheets_store_write_group_size_bucket{le="+Inf"} 5
timesheets_store_write_group_size_sum 49
timesheets_store_write_group_size_count 5
# HELP timesheets_store_write_transactions_total Write transactions begun; with group commit one carries every write call that queued while the previous one ran.
# TYPE timesheets_store_write_transactions_total counter
timesheets_store_write_transactions_total 5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
}
