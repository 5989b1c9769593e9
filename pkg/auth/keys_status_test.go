package auth_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/auth"
)

// A FetchResult prints as the ScopePolicy status has always shown it
// (status.issuers[].lastFetchResult), so readers of the status see no change.
func TestFetchResultString(t *testing.T) {
	tests := []struct {
		name string
		r    auth.FetchResult
		want string
	}{
		{"zero value", auth.FetchResult{}, "Pending"},
		{"pending", auth.FetchResult{Outcome: auth.FetchPending}, "Pending"},
		{"success", auth.FetchResult{Outcome: auth.FetchSuccess}, "Success"},
		{"truncated", auth.FetchResult{Outcome: auth.FetchTruncated, Detail: "the JWKS lists 6 signing keys; only the first 3 are used"},
			"Truncated: the JWKS lists 6 signing keys; only the first 3 are used"},
		{"error", auth.FetchResult{Outcome: auth.FetchError, Detail: "GET https://issuer.example/jwks.json: HTTP 503"},
			"GET https://issuer.example/jwks.json: HTTP 503"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.r.String())
		})
	}
}
