package auth_test

import (
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/auth"
)

// A JWK naming an algorithm is for that algorithm only (RFC 7517 §4.4): a
// token signed with another, even one the policy allows and the key could
// make, is refused as a disallowed algorithm. A JWK naming none serves any
// algorithm its key fits.
func TestJWKAlg(t *testing.T) {
	e := newEnv(t, func(s *v1alpha1.ScopePolicySpec) { s.Algorithms = []v1alpha1.Algorithm{"RS256", "RS512"} })
	e.is.addRSA(t, "rsa-any", "") // known through the unknown-kid fetch
	tests := []struct {
		name   string
		method jwt.SigningMethod
		kid    string
		status int
		reason auth.Reason
	}{
		{"the JWK's alg", jwt.SigningMethodRS256, "rsa-1", 200, ""},
		{"another alg than the JWK's", jwt.SigningMethodRS512, "rsa-1", 401, auth.ReasonDisallowedAlgorithm},
		{"a JWK without alg", jwt.SigningMethodRS512, "rsa-any", 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.failures(tc.reason, "GET /timesheets/{id}")
			r := e.call(t, "GET", "/timesheets/1", "Bearer "+e.is.sign(t, tc.method, tc.kid, e.claims("read:timesheets")))
			require.Equal(t, tc.status, r.status, r.text)
			if tc.reason == "" {
				require.Equal(t, "client-1@clients", r.text)
				return
			}
			require.Equal(t, before+1, e.failures(tc.reason, "GET /timesheets/{id}"))
		})
	}
}
