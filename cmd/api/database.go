package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/abc-inc/timesheets/pkg/store"
	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// openStore opens the database, retrying with backoff while it is
// unavailable (a database that starts after the API, or a brief outage), so
// a replica waits instead of crash-looping. Any other error is final: a bad
// URL or a failed migration will not fix itself.
func openStore(ctx context.Context, url string, logger *slog.Logger) (timesheets.Store, error) {
	wait := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		st, err := store.Open(ctx, url, store.Options{Logger: logger})
		if err == nil {
			return st, nil
		}
		if !errors.Is(err, timesheets.ErrUnavailable) {
			return nil, fmt.Errorf("open database: %w", err)
		}
		logger.Error("database unavailable; retrying", "attempt", attempt, "retry_in", wait.String(), "error", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("open database: gave up: %w", err)
		case <-time.After(wait):
		}
		wait = min(wait*2, 30*time.Second)
	}
}
