package auth_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/auth"
)

// The background refresh follows the JWKS response's Cache-Control max-age
// (RFC 9111 §5.2.2.1) within [MinRefreshInterval, RefreshInterval].
func TestRefreshFollowsCacheControl(t *testing.T) {
	cases := []struct {
		cacheControl, age string
		want              time.Duration
	}{
		{"", "", time.Hour},
		{"public, max-age=120", "", 2 * time.Minute},
		{"max-age=300", "100", 200 * time.Second},
		{"max-age=5", "", time.Minute},
		{"max-age=86400", "", time.Hour},
		{"no-store", "", time.Minute},
		{"no-cache", "", time.Minute},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%q age %q", tc.cacheControl, tc.age), func(t *testing.T) {
			is := newIssuer(t)
			is.set(func(is *issuer) { is.cacheCtl, is.age = tc.cacheControl, tc.age })
			keys, snap := startKeys(t, is, auth.KeyOptions{}, nil)
			st := keys.For(snap.Issuers[0]).Status()
			require.Equal(t, tc.want, st.NextFetch.Sub(st.LastFetch))
		})
	}
}

// A key the issuer withdraws stops verifying once the JWKS response's
// max-age has passed, not an hour later.
func TestWithdrawnKeyGoesAfterMaxAge(t *testing.T) {
	is := newIssuer(t)
	is.addRSA(t, "rsa-2", "RS256")
	is.set(func(is *issuer) { is.cacheCtl = "max-age=1" })
	keys, snap := startKeys(t, is, auth.KeyOptions{MinRefreshInterval: time.Millisecond}, nil)
	v := auth.NewVerifier(keys, 10)
	tok := is.tokenUnder(t, "rsa-1")
	_, reason := v.Verify(context.Background(), snap, tok)
	require.Equal(t, auth.Reason(""), reason)

	is.remove("rsa-1")
	withdrawn := time.Now()
	require.Eventually(t, func() bool { return !keys.For(snap.Issuers[0]).HasKID("rsa-1") }, 5*time.Second, 10*time.Millisecond)
	t.Logf("the withdrawn key went %s after leaving the JWKS (max-age=1)", time.Since(withdrawn).Round(time.Millisecond))
	_, reason = v.Verify(context.Background(), snap, tok)
	require.Equal(t, auth.ReasonUnknownKey, reason, "the cached token goes with its key")
}

// Without a configured JWKS URI, OIDC discovery runs again, so a moved
// jwks_uri is followed: every DiscoveryInterval, and at once when the old
// one answers 404.
func TestRediscoveryFollowsAMovedJWKS(t *testing.T) {
	discovery := func(s *v1alpha1.ScopePolicySpec) { s.Issuers[0].JWKSURI = "" }
	move := func(is *issuer, oldStatus int) {
		is.addRSA(t, "rsa-2", "RS256")
		is.set(func(is *issuer) {
			is.only["rsa-2"] = "/keys/v2"
			is.jwksPath = "/keys/v2"
			if oldStatus != 0 {
				is.status[wellKnownJWKS] = oldStatus
			}
		})
	}

	t.Run("every DiscoveryInterval", func(t *testing.T) {
		is := newIssuer(t)
		is.set(func(is *issuer) { is.cacheCtl = "no-store" })
		keys, snap := startKeys(t, is, auth.KeyOptions{MinRefreshInterval: 20 * time.Millisecond, DiscoveryInterval: 100 * time.Millisecond}, discovery)
		ik := keys.For(snap.Issuers[0])
		require.Equal(t, is.jwksURL(), ik.Status().JWKSURI)
		move(is, 0) // the old URL still serves, without the new key
		require.Eventually(t, func() bool { return ik.HasKID("rsa-2") }, 5*time.Second, 10*time.Millisecond)
		require.Equal(t, is.URL+"/keys/v2", ik.Status().JWKSURI)
	})
	for _, code := range []int{http.StatusNotFound, http.StatusGone} {
		t.Run(fmt.Sprintf("at once on HTTP %d", code), func(t *testing.T) {
			is := newIssuer(t)
			keys, snap := startKeys(t, is, auth.KeyOptions{UnknownKIDInterval: time.Hour}, discovery)
			move(is, code)
			before := is.discover.Load()
			// The token's unknown kid fetches; the old URL's 404 sends that
			// same fetch to discovery and on to the new URL.
			_, reason := auth.NewVerifier(keys, 0).Verify(context.Background(), snap, is.tokenUnder(t, "rsa-2"))
			require.Equal(t, auth.Reason(""), reason)
			require.Equal(t, before+1, is.discover.Load())
			st := keys.For(snap.Issuers[0]).Status()
			require.Equal(t, is.URL+"/keys/v2", st.JWKSURI)
			require.Equal(t, "Success", st.LastResult.String())
		})
	}
	t.Run("a failing rediscovery keeps the JWKS URI found before", func(t *testing.T) {
		is := newIssuer(t)
		is.set(func(is *issuer) { is.cacheCtl = "no-store" })
		keys, snap := startKeys(t, is, auth.KeyOptions{MinRefreshInterval: 20 * time.Millisecond, DiscoveryInterval: time.Millisecond}, discovery)
		is.discoveryDown.Store(true)
		before := is.requests.Load()
		require.Eventually(t, func() bool { return is.requests.Load() > before+2 }, 5*time.Second, 10*time.Millisecond)
		st := keys.For(snap.Issuers[0]).Status()
		require.Equal(t, "Success", st.LastResult.String())
		require.Equal(t, is.jwksURL(), st.JWKSURI)
	})
}

// At most MaxKeys signing keys are taken from one JWKS: the first ones, so
// what the issuer withdraws still goes; LastResult says the rest were left.
func TestMaxKeysKeepsTheFirst(t *testing.T) {
	is := newIssuer(t)
	for i := 1; i <= 5; i++ {
		is.addEC(t, fmt.Sprintf("ec-%d", i)) // listed before rsa-1 (kid order)
	}
	keys, snap := startKeys(t, is, auth.KeyOptions{MaxKeys: 3}, nil)
	ik := keys.For(snap.Issuers[0])
	st := ik.Status()
	require.Equal(t, 3, st.KeyCount)
	require.Equal(t, "Truncated: the JWKS lists 6 signing keys; only the first 3 are used", st.LastResult.String())
	for kid, want := range map[string]bool{"ec-1": true, "ec-2": true, "ec-3": true, "ec-4": false, "ec-5": false, "rsa-1": false} {
		require.Equal(t, want, ik.HasKID(kid), kid)
	}
	require.NoError(t, keys.Ready(snap.Issuers))
}
