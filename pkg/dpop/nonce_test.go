package dpop_test

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/dpop"
)

func TestNonces(t *testing.T) {
	now := testNow
	clock := func() time.Time { return now }
	secret := bytes.Repeat([]byte{7}, 32)
	n := &dpop.Nonces{Secret: secret, Lifetime: 5 * time.Minute, Now: clock}
	nonce := n.Issue()
	require.True(t, n.Valid(nonce))
	require.NoError(t, n.Check(nonce))
	for _, c := range nonce {
		// RFC 9449 §8.1: NQCHAR, and base64url.
		require.True(t, strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", c))
	}

	replica := &dpop.Nonces{Secret: bytes.Clone(secret), Now: clock}
	require.True(t, replica.Valid(nonce), "another replica with the same secret")
	other := &dpop.Nonces{Secret: bytes.Repeat([]byte{8}, 32), Now: clock}
	require.False(t, other.Valid(nonce), "another secret")

	raw, err := base64.RawURLEncoding.DecodeString(nonce)
	require.NoError(t, err)
	for i := range raw {
		tampered := bytes.Clone(raw)
		tampered[i] ^= 1
		require.False(t, n.Valid(base64.RawURLEncoding.EncodeToString(tampered)), "byte %d", i)
	}
	for _, bad := range []string{"", "x", nonce[:len(nonce)-1], nonce + "A", nonce + "=", " " + nonce[1:],
		strings.ToUpper(nonce), base64.RawURLEncoding.EncodeToString(raw[:8])} {
		require.False(t, n.Valid(bad), bad)
	}
	requireReason(t, n.Check(""), dpop.ReasonNonce)
	requireReason(t, n.Check("x"), dpop.ReasonNonce)

	now = testNow.Add(5 * time.Minute)
	require.True(t, n.Valid(nonce), "at the end of its lifetime")
	now = testNow.Add(5*time.Minute + time.Second)
	require.False(t, n.Valid(nonce), "expired")
	requireReason(t, n.Check(nonce), dpop.ReasonNonce)

	// A nonce from a replica whose clock is ahead: accepted within the skew.
	now = testNow.Add(-30 * time.Second)
	require.True(t, n.Valid(nonce))
	now = testNow.Add(-31 * time.Second)
	require.False(t, n.Valid(nonce), "far future")

	// Defaults.
	now = testNow
	d := &dpop.Nonces{Secret: secret, Now: clock}
	nonce = d.Issue()
	now = testNow.Add(dpop.DefaultNonceLifetime)
	require.True(t, d.Valid(nonce))
	now = testNow.Add(dpop.DefaultNonceLifetime + time.Second)
	require.False(t, d.Valid(nonce))
}

func TestNoncesShortSecret(t *testing.T) {
	n := &dpop.Nonces{Secret: make([]byte, 31)}
	require.Panics(t, func() { n.Issue() })
	good := &dpop.Nonces{Secret: make([]byte, 31+1)}
	require.False(t, n.Valid(good.Issue()), "a short secret accepts nothing")
}
