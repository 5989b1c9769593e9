package backoff_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/abc-inc/timesheets/pkg/backoff"
)

func TestCeiling(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name      string
		base, max time.Duration
		n         int
		want      time.Duration
	}{
		{"first retry", 500 * ms, 30 * time.Second, 0, 500 * ms},
		{"doubles", 500 * ms, 30 * time.Second, 3, 4 * time.Second},
		{"capped", 500 * ms, 30 * time.Second, 6, 30 * time.Second},
		{"far past the cap", 500 * ms, 30 * time.Second, 1000, 30 * time.Second},
		{"cap below base", 500 * ms, 200 * ms, 0, 200 * ms},
		{"no cap: base", 500 * ms, 0, 5, 500 * ms},
		{"huge cap does not overflow", time.Nanosecond, time.Duration(1<<63 - 1), 200, time.Duration(1<<63 - 1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := backoff.Exponential{Base: tc.base, Max: tc.max}
			if got := e.Ceiling(tc.n); got != tc.want {
				t.Errorf("Ceiling(%d) = %s, want %s", tc.n, got, tc.want)
			}
		})
	}
}

func TestDelayJitter(t *testing.T) {
	const ceiling = 800 * time.Millisecond
	tests := []struct {
		name     string
		jitter   backoff.Jitter
		r        float64
		min, max time.Duration
	}{
		{"full, lowest draw", backoff.Full, 0, 0, 0},
		{"full, highest draw", backoff.Full, 0.999999, ceiling * 99 / 100, ceiling},
		{"equal, lowest draw", backoff.Equal, 0, ceiling / 2, ceiling / 2},
		{"equal, highest draw", backoff.Equal, 0.999999, ceiling * 99 / 100, ceiling},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := backoff.Exponential{Base: 100 * time.Millisecond, Max: time.Second, Jitter: tc.jitter,
				Rand: func() float64 { return tc.r }}
			if d := e.Delay(3); d < tc.min || d > tc.max {
				t.Errorf("Delay(3) = %s, want within [%s, %s]", d, tc.min, tc.max)
			}
		})
	}
}

// Without Rand the waits are random: replicas that failed together spread out.
func TestDelayIsRandom(t *testing.T) {
	for _, j := range []backoff.Jitter{backoff.Full, backoff.Equal} {
		e := backoff.Exponential{Base: 500 * time.Millisecond, Max: 30 * time.Second, Jitter: j}
		seen := map[time.Duration]bool{}
		for range 100 {
			d := e.Delay(2)
			if d < 0 || d > 2*time.Second {
				t.Fatalf("jitter %d: Delay(2) = %s, want within [0, 2s]", j, d)
			}
			seen[d] = true
		}
		if len(seen) < 50 {
			t.Errorf("jitter %d: only %d distinct delays in 100 draws", j, len(seen))
		}
	}
}

func TestSleep(t *testing.T) {
	t.Run("waits the whole time", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			if err := backoff.Sleep(t.Context(), 3*time.Second); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d != 3*time.Second {
				t.Errorf("slept %s, want 3s", d)
			}
		})
	})
	t.Run("ends with the context", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			start := time.Now()
			err := backoff.Sleep(ctx, time.Hour)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Sleep = %v, want the context's deadline", err)
			}
			if d := time.Since(start); d != time.Second {
				t.Errorf("returned after %s, want 1s (the deadline)", d)
			}
		})
	})
}
