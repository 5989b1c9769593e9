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

// BenchmarkCreateOne stores single entries from concurrent callers
// (b.RunParallel; -cpu and -benchtime set how many and how long), as
// POST /timesheets does: group commit shares the transactions. On SQLite
// with synchronous=NORMAL (the default) and FULL (an fsync per commit, so
// per group), and on PostgreSQL. The groups reported are the mean number
// of calls per transaction.
func BenchmarkCreateOne(b *testing.B) {
	cases := []struct {
		name, query string
		eng         engine
	}{
		{"sqlite-normal", "", engines[0]},
		{"sqlite-full", "?_pragma=synchronous(FULL)", engines[0]},
		{"postgres", "", engines[1]},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			h := &harness{eng: tc.eng, url: tc.eng.newURL(b) + tc.query}
			st := h.open(b, Options{})
			var seq atomic.Int64
			before, _ := Stats(st)
			b.SetParallelism(8) // 8 callers per core, as concurrent HTTP requests
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					e := ext(dayEntry(int(seq.Load())), "one", fmt.Sprint(seq.Add(1)))
					if _, err := st.Create(b.Context(), []timesheets.Entry{e}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			after, _ := Stats(st)
			if g := after.Groups - before.Groups; g > 0 {
				b.ReportMetric(float64(after.Members-before.Members)/float64(g), "calls/group")
			}
		})
	}
}
