// Package backoff spaces out retries: a wait that doubles from a base up to
// a cap, with a random part (jitter) so that clients which failed together
// do not come back together. It is the one backoff of the API and the
// importer; it needs nothing but the standard library.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Jitter says how much of a wait is random.
type Jitter int

const (
	// Full draws the wait from [0, ceiling): the fewest collisions, but a
	// retry may come at once.
	Full Jitter = iota
	// Equal draws the wait from [ceiling/2, ceiling]: at least half the
	// ceiling is always waited, so the rate of retries stays bounded.
	Equal
)

// Exponential is a backoff whose ceiling is Base*2^n for retry n, at most
// Max.
type Exponential struct {
	Base time.Duration // the ceiling of the first retry; must be > 0
	Max  time.Duration // the cap; <= 0 means Base
	// Jitter is how the wait is drawn below the ceiling.
	Jitter Jitter
	// Rand returns a number in [0, 1); nil means math/rand/v2.
	Rand func() float64
}

// Ceiling is the longest wait before retry n (0 for the first retry):
// Base doubled n times, at most Max.
func (e Exponential) Ceiling(n int) time.Duration {
	maxd := e.Max
	if maxd <= 0 {
		maxd = e.Base
	}
	d := min(e.Base, maxd)
	for i := 0; i < n && d < maxd; i++ {
		if d > maxd/2 {
			return maxd
		}
		d *= 2
	}
	return min(d, maxd)
}

// Delay is the wait before retry n (0 for the first retry).
func (e Exponential) Delay(n int) time.Duration {
	c := e.Ceiling(n)
	r := e.Rand
	if r == nil {
		r = rand.Float64
	}
	switch e.Jitter {
	case Equal:
		return c/2 + time.Duration(r()*float64(c-c/2+1))
	default:
		return time.Duration(r() * float64(c))
	}
}

// Sleep waits for d, or until ctx ends, and then returns ctx's error.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
