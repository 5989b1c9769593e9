package auth

import (
	"testing"
	"time"
)

func TestRetryDelay(t *testing.T) {
	const maxWait = 10 * time.Second
	seen := map[time.Duration]bool{}
	for n := 1; n <= 12; n++ {
		full := min(firstRetry<<(n-1), maxWait)
		for range 200 {
			d := retryDelay(n, maxWait)
			if d < full/2 || d > full {
				t.Fatalf("retryDelay(%d) = %s, want within [%s, %s]", n, d, full/2, full)
			}
			seen[d] = true
		}
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct delays in 2400 draws: no jitter", len(seen))
	}
	// A cap below the first retry is the wait from the start (tests, tight loops).
	if d := retryDelay(1, 200*time.Millisecond); d < 100*time.Millisecond || d > 200*time.Millisecond {
		t.Errorf("retryDelay(1, 200ms) = %s", d)
	}
}
