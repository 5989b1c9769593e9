package importer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/abc-inc/timesheets/pkg/backoff"
)

// Backoff spaces out retries: exponential with full jitter (a random wait
// between zero and Base*2^attempt, capped at Max), unless the server said
// when to come back (Retry-After), which is honoured as given up to
// MaxRetryAfter. Retries stop after MaxAttempts tries or when the next try
// would start after the context's deadline.
type Backoff struct {
	Base          time.Duration
	Max           time.Duration
	MaxRetryAfter time.Duration
	MaxAttempts   int // including the first; 0 or less: no limit but the deadline
	// OnRetry, if set, is told about every retry before its wait.
	OnRetry func(attempt int, wait time.Duration, err error)
	// Jitter returns a number in [0, 1); nil means math/rand.
	Jitter func() float64
}

// Backoff defaults.
const (
	DefaultBackoffBase   = 200 * time.Millisecond
	DefaultBackoffMax    = 30 * time.Second
	DefaultMaxRetryAfter = 5 * time.Minute
	DefaultMaxAttempts   = 10
)

// Delay is the wait before retry number attempt (0 for the first retry).
func (b *Backoff) Delay(attempt int) time.Duration {
	base, maxd := b.Base, b.Max
	if base <= 0 {
		base = DefaultBackoffBase
	}
	if maxd <= 0 {
		maxd = DefaultBackoffMax
	}
	return backoff.Exponential{Base: base, Max: maxd, Jitter: backoff.Full, Rand: b.Jitter}.Delay(attempt)
}

// retryable marks an error worth retrying; after is the server's
// Retry-After, zero when it sent none.
type retryable struct {
	err   error
	after time.Duration
}

func (r *retryable) Error() string { return r.err.Error() }
func (r *retryable) Unwrap() error { return r.err }

// retry calls attempt until it returns nil or an error that is not
// retryable, the attempts run out, or the next try would come too late. It
// returns the last error, unwrapped from retryable.
func (b *Backoff) retry(ctx context.Context, attempt func() error) error {
	maxRA := b.MaxRetryAfter
	if maxRA <= 0 {
		maxRA = DefaultMaxRetryAfter
	}
	for i := 0; ; i++ {
		err := attempt()
		var re *retryable
		if !errors.As(err, &re) {
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("%w (last error: %v)", cerr, re.err)
		}
		if b.MaxAttempts > 0 && i+1 >= b.MaxAttempts {
			return fmt.Errorf("gave up after %d attempts: %w", i+1, re.err)
		}
		wait := b.Delay(i)
		if re.after > 0 {
			wait = min(re.after, maxRA)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return fmt.Errorf("gave up after %d attempts: the run deadline (--timeout) comes before the next try in %s: %w", i+1, wait.Round(time.Millisecond), re.err)
		}
		if b.OnRetry != nil {
			b.OnRetry(i+1, wait, re.err)
		}
		if err := backoff.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("%w (last error: %v)", err, re.err)
		}
	}
}

// ParseRetryAfter reads a Retry-After header (RFC 9110 §10.2.3): a number of
// seconds or an HTTP date. It returns 0 when the header is absent, invalid or
// in the past.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		if s > int64(24*time.Hour/time.Second) {
			s = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// retryableStatus reports whether a response status is worth retrying.
func retryableStatus(code int) bool {
	return code == http.StatusTooManyRequests || code >= 500
}
