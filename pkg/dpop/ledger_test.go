package dpop_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/dpop"
)

func TestMemoryLedgerReplay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := dpop.NewMemoryLedger(10)
		until := time.Now().Add(time.Minute)
		fresh, err := l.Claim(ctx, "a", until)
		require.NoError(t, err)
		require.True(t, fresh)
		fresh, err = l.Claim(ctx, "a", until)
		require.NoError(t, err)
		require.False(t, fresh, "replay")
		fresh, err = l.Claim(ctx, "b", until)
		require.NoError(t, err)
		require.True(t, fresh, "another key")

		time.Sleep(59 * time.Second)
		fresh, err = l.Claim(ctx, "a", until)
		require.NoError(t, err)
		require.False(t, fresh, "not yet expired")

		time.Sleep(time.Second)
		fresh, err = l.Claim(ctx, "a", time.Now().Add(time.Minute))
		require.NoError(t, err)
		require.True(t, fresh, "expired, claimed anew")
		require.Equal(t, 1, l.Len(), "b expired too and was evicted")

		fresh, err = l.Claim(ctx, "c", time.Now().Add(-time.Second))
		require.NoError(t, err)
		require.True(t, fresh, "already expired: nothing to remember")
		require.Equal(t, 1, l.Len())
	})
}

func TestMemoryLedgerBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := dpop.NewMemoryLedger(3)
		for i := range 3 {
			fresh, err := l.Claim(ctx, fmt.Sprint(i), time.Now().Add(time.Duration(i+1)*time.Minute))
			require.NoError(t, err)
			require.True(t, fresh)
		}
		_, err := l.Claim(ctx, "full", time.Now().Add(time.Minute))
		require.ErrorIs(t, err, dpop.ErrLedgerFull)
		require.Equal(t, 3, l.Len(), "did not grow")
		fresh, err := l.Claim(ctx, "0", time.Now().Add(time.Minute))
		require.NoError(t, err)
		require.False(t, fresh, "a replay is still a replay when full")

		time.Sleep(time.Minute) // "0" expires
		fresh, err = l.Claim(ctx, "full", time.Now().Add(time.Minute))
		require.NoError(t, err)
		require.True(t, fresh, "room made by evicting the expired entry")
		require.Equal(t, 3, l.Len())
	})
}

func TestMemoryLedgerContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := dpop.NewMemoryLedger(1).Claim(ctx, "a", time.Now().Add(time.Minute))
	require.ErrorIs(t, err, context.Canceled)
}

// Run with -race: many goroutines claim overlapping keys; each key is fresh
// exactly once.
func TestMemoryLedgerConcurrent(t *testing.T) {
	const keys, workers = 200, 8
	l := dpop.NewMemoryLedger(keys)
	until := time.Now().Add(time.Hour)
	var freshCount [keys]atomic.Int32
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range keys {
				fresh, err := l.Claim(context.Background(), fmt.Sprint(i), until)
				if err != nil {
					t.Error(err)
					return
				}
				if fresh {
					freshCount[i].Add(1)
				}
			}
		})
	}
	wg.Wait()
	for i := range freshCount {
		require.EqualValues(t, 1, freshCount[i].Load(), "key %d", i)
	}
	require.Equal(t, keys, l.Len())
}

func TestReplayKeyAndCheckReplay(t *testing.T) {
	p := &dpop.Proof{JKT: "jkt-a", JTI: "jti", IssuedAt: testNow}
	require.Len(t, dpop.ReplayKey(p), 43)
	require.Len(t, dpop.ReplayKey(&dpop.Proof{JKT: "a", JTI: string(make([]byte, 10_000))}), 43)
	require.NotEqual(t, dpop.ReplayKey(p), dpop.ReplayKey(&dpop.Proof{JKT: "jkt-b", JTI: "jti"}), "scoped to the key")
	require.NotEqual(t, dpop.ReplayKey(&dpop.Proof{JKT: "ab", JTI: "c"}), dpop.ReplayKey(&dpop.Proof{JKT: "a", JTI: "bc"}))

	o := testOptions()
	require.Equal(t, testNow.Add(5*time.Minute+30*time.Second), o.ReplayUntil(p))

	synctest.Test(t, func(t *testing.T) {
		l := dpop.NewMemoryLedger(10)
		p := &dpop.Proof{JKT: "jkt-a", JTI: "jti", IssuedAt: time.Now()}
		o := dpop.Options{MaxAge: time.Minute}
		require.NoError(t, dpop.CheckReplay(context.Background(), l, p, o))
		requireReason(t, dpop.CheckReplay(context.Background(), l, p, o), dpop.ReasonReplay)
		time.Sleep(time.Minute)
		require.NoError(t, dpop.CheckReplay(context.Background(), l, p, o), "remembered for the iat window only")
	})
}
