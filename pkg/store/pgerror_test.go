package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// pgUnavailable tells a database that may serve later from a refusal, by
// the driver's typed errors, never by their text.
func TestPGUnavailable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"connection exception class", &pgconn.PgError{Code: "08006"}, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"a connection pgconn closed", fmt.Errorf("query: %w", pgconn.ErrConnClosed), true},
		{"a closed socket", fmt.Errorf("write: %w", net.ErrClosed), true},
		{"cut off mid-message", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"deadline", context.DeadlineExceeded, true},
		{"another error that says conn closed", errors.New("conn closed"), false},
		{"a bug", errors.New("cannot scan NULL into *string"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := pgUnavailable(tc.err); got != tc.want {
				t.Errorf("pgUnavailable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
