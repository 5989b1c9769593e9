package store

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func init() {
	conformance = append(conformance,
		struct {
			name string
			run  func(t *testing.T, h *harness)
		}{"DPoPLedger", testDPoPLedger},
		struct {
			name string
			run  func(t *testing.T, h *harness)
		}{"DPoPNonceSecret", testDPoPNonceSecret},
	)
}

// The replay ledger: a key is taken once, by whichever replica claims it
// first, until it expires; expired keys may be taken again.
func testDPoPLedger(t *testing.T, h *harness) {
	a, _ := DPoPOf(h.st)
	b, ok := DPoPOf(h.open(t, Options{}))
	require.True(t, ok)
	until := time.Now().Add(time.Minute)
	fresh, err := a.Claim(ctxT(t), "jkt:jti-1", until)
	require.NoError(t, err)
	assert.True(t, fresh)
	fresh, err = b.Claim(ctxT(t), "jkt:jti-1", until)
	require.NoError(t, err)
	assert.False(t, fresh, "the other replica sees the claim")

	fresh, err = a.Claim(ctxT(t), "jkt:old", time.Now().Add(-time.Second))
	require.NoError(t, err)
	require.True(t, fresh)
	fresh, err = b.Claim(ctxT(t), "jkt:old", until)
	require.NoError(t, err)
	assert.True(t, fresh, "an expired claim is no replay")

	_, err = a.Claim(ctxT(t), "", until)
	require.Error(t, err)

	// Many replicas' requests at once: each key taken exactly once.
	var (
		wg    sync.WaitGroup
		taken atomic.Int64
	)
	for r, st := range []DPoP{a, b} {
		for g := range 8 {
			wg.Go(func() {
				for k := range 20 {
					fresh, err := st.Claim(ctxT(t), fmt.Sprintf("race:%d", (k+g+r)%20), until)
					if assert.NoError(t, err) && fresh {
						taken.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	assert.Equal(t, int64(20), taken.Load())
}

func testDPoPNonceSecret(t *testing.T, h *harness) {
	a, _ := DPoPOf(h.st)
	b, _ := DPoPOf(h.open(t, Options{}))
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		secret = map[string]bool{}
	)
	for _, st := range []DPoP{a, b, a, b} {
		wg.Go(func() {
			s, err := st.NonceSecret(ctxT(t))
			if assert.NoError(t, err) {
				assert.GreaterOrEqual(t, len(s), 32)
				mu.Lock()
				secret[string(s)] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Len(t, secret, 1, "one secret for every replica")
}

// BenchmarkDPoPClaim is the replay ledger's cost per DPoP request on each
// engine: one claim of a new proof, from 8 callers at once (SQLite's are
// group-committed; PostgreSQL's are single statements).
func BenchmarkDPoPClaim(b *testing.B) {
	for _, eng := range engines {
		b.Run(eng.name, func(b *testing.B) {
			h := &harness{eng: eng, url: eng.newURL(b)}
			st, _ := DPoPOf(h.open(b, Options{}))
			until := time.Now().Add(5 * time.Minute)
			var n atomic.Int64
			b.SetParallelism(4) // 4 per core: 8 callers on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := st.Claim(ctxT(b), fmt.Sprintf("bench:%d", n.Add(1)), until); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
