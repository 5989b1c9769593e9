package store

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abc-inc/timesheets/pkg/timesheets"
)

const benchBatch = 500

// benchEntries returns batch n of distinct entries with external ids.
func benchEntries(n int64) []timesheets.Entry {
	batch := make([]timesheets.Entry, benchBatch)
	for i := range batch {
		e := dayEntry(i)
		if i%4 == 0 {
			e = weekEntry(i)
		}
		batch[i] = ext(e, "bench", fmt.Sprintf("%d-%d", n, i))
	}
	return batch
}

// BenchmarkCreate500 stores batches of 500 new entries, one Create each,
// as a batch upload through the HTTP API does.
func BenchmarkCreate500(b *testing.B) {
	for _, eng := range engines {
		b.Run(eng.name, func(b *testing.B) {
			h := &harness{eng: eng, url: eng.newURL(b)}
			st := h.open(b, Options{})
			var seq int64
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				batch := benchEntries(seq)
				seq++
				res, err := st.Create(b.Context(), batch)
				if err != nil {
					b.Fatal(err)
				}
				if res[0].Duplicate {
					b.Fatal("duplicate")
				}
			}
			b.ReportMetric(float64(seq*benchBatch)/time.Since(start).Seconds(), "entries/s")
		})
	}
}

// BenchmarkCreate500Parallel is BenchmarkCreate500 with concurrent uploads
// (GOMAXPROCS goroutines; -cpu sets it), as several HTTP requests at once.
func BenchmarkCreate500Parallel(b *testing.B) {
	for _, eng := range engines {
		b.Run(eng.name, func(b *testing.B) {
			h := &harness{eng: eng, url: eng.newURL(b)}
			st := h.open(b, Options{})
			var seq atomic.Int64
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := st.Create(b.Context(), benchEntries(seq.Add(1))); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(seq.Load()*benchBatch)/time.Since(start).Seconds(), "entries/s")
		})
	}
}
