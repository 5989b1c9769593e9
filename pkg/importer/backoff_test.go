package importer

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// On the bubble's clock: a Retry-After is waited as given, instead of the
// backoff's own wait, which applies when the server names none.
func TestRetryWaitsRetryAfterThenBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &Backoff{Base: time.Second, Max: 4 * time.Second, MaxAttempts: 5, Jitter: func() float64 { return 0.5 }}
		start := time.Now()
		var at []time.Duration
		err := b.retry(t.Context(), func() error {
			at = append(at, time.Since(start))
			switch len(at) {
			case 1:
				return &retryable{err: errors.New("429"), after: 7 * time.Second}
			case 2:
				return &retryable{err: errors.New("503")}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// 7s as the server said; then half (the jitter) of Base*2 = 1s.
		want := []time.Duration{0, 7 * time.Second, 8 * time.Second}
		if len(at) != len(want) || at[1] != want[1] || at[2] != want[2] {
			t.Fatalf("attempts at %v, want %v", at, want)
		}
	})
}
