package importer_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/abc-inc/timesheets/pkg/apitest"
	"github.com/abc-inc/timesheets/pkg/importer"
	"github.com/abc-inc/timesheets/pkg/syncbuf"
)

// writeCSV writes n generated rows (with tool ids idPrefix+i, or none) and
// returns the file's path and size.
func writeCSV(tb testing.TB, dir string, n int, idPrefix string) (string, int64) {
	tb.Helper()
	path := filepath.Join(dir, fmt.Sprintf("entries-%d.csv", n))
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<16)
	fmt.Fprintln(w, "id,user_id,date,project,hours")
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		id := ""
		if idPrefix != "" {
			id = idPrefix + fmt.Sprint(i)
		}
		fmt.Fprintf(w, "%s,c-%d,%s,Project-%d,%d.%d\n", id, i%97, day.AddDate(0, 0, i%3000).Format(time.RFC3339), i%13, 1+i%8, (i/8)%10)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	st, _ := f.Stat()
	f.Close()
	return path, st.Size()
}

// BenchmarkImport is the importer end to end: a CSV file read, mapped,
// validated and uploaded in batches of 500 (two in flight) through the real
// API (HTTP on loopback, JWT verification, handlers) into SQLite. One op is
// one entry.
func BenchmarkImport(b *testing.B) {
	api := apitest.Start(b, apitest.Options{})
	path, _ := writeCSV(b, b.TempDir(), b.N, fmt.Sprintf("b%d-", b.N))
	cfg := config(b, api, path, &syncbuf.Buffer{})
	cfg.BatchSize = 500
	b.ResetTimer()
	start := time.Now()
	s := importer.Run(b.Context(), cfg)
	el := time.Since(start)
	b.StopTimer()
	if !s.OK() || s.Created != int64(b.N) {
		b.Fatalf("%s (%v)", s.Line(), s.Err)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "entries/s")
}
