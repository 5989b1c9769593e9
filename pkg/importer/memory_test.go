package importer_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abc-inc/timesheets/pkg/importer"
)

// heapPeak samples the live heap (as of the last GC) until stop is called,
// and returns its peak above the live heap at the start. The live heap,
// unlike the heap in use, does not count garbage not yet collected, nor
// depend on when the collector runs: holding the input would show in it.
func heapPeak() (stop func() uint64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	var (
		peak uint64
		wg   sync.WaitGroup
	)
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak - min(peak, base)
	}
}

// TestLargeCSVStreams reads 200,000 rows (a 30 MiB file). The importer's
// memory must not grow with the input: its live heap stays far below the
// file's size, which holding the rows (let alone the entries) would exceed.
// cmd/importer measures the peak RSS of a real import of such a file.
func TestLargeCSVStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("200,000 rows")
	}
	const rows = 200_000
	path, size := writeCSVPadded(t, t.TempDir(), rows, 100)

	cfg := importer.Config{Source: path, DryRun: true, SourceName: "big"}
	stop := heapPeak()
	s := importer.Run(context.Background(), cfg)
	peak := stop()
	if s.Read != rows || s.Valid != rows || s.Batches != rows/500 {
		t.Fatal(s.Line())
	}
	t.Logf("%d rows, file %.1f MiB: peak live heap %.1f MiB above the baseline (%s)", rows, mib(size), mib(int64(peak)), s.Line())
	if int64(peak) > size/4 {
		t.Fatalf("peak heap %.1f MiB for a %.1f MiB file: the importer holds the input", mib(int64(peak)), mib(size))
	}
}

// writeCSVPadded is writeCSV with project names of pad characters, so that
// rows are about as long as real ones with descriptions.
func writeCSVPadded(tb testing.TB, dir string, n, pad int) (string, int64) {
	tb.Helper()
	path := filepath.Join(dir, fmt.Sprintf("padded-%d.csv", n))
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<16)
	fmt.Fprintln(w, "id,user_id,date,project,hours")
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	long := strings.Repeat("x", pad)
	for i := range n {
		fmt.Fprintf(w, "%d,c-%d,%s,Project %d %s,%d.%d\n", i, i%97, day.AddDate(0, 0, i%3000).Format(time.RFC3339), i%13, long, 1+i%8, (i/8)%10)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	st, _ := f.Stat()
	f.Close()
	return path, st.Size()
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
