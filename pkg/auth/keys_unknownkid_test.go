package auth_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/auth"
)

// A client that sends a token under an unknown kid and hangs up must not
// cancel the fetch it caused: the fetch runs on the key set's context, so
// the key rotated in meanwhile is still picked up.
func TestUnknownKIDFetchOutlivesTheCaller(t *testing.T) {
	is := newIssuer(t)
	keys, snap := startKeys(t, is, auth.KeyOptions{UnknownKIDInterval: time.Hour}, nil)
	v := auth.NewVerifier(keys, 0)
	is.addRSA(t, "rsa-2", "RS256")
	hold := make(chan struct{})
	is.set(func(is *issuer) { is.hold = hold })
	before := is.requests.Load()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan auth.Reason)
	go func() {
		_, reason := v.Verify(ctx, snap, is.bogusToken(t, "random-kid"))
		done <- reason
	}()
	require.Eventually(t, func() bool { return is.requests.Load() > before }, 5*time.Second, 5*time.Millisecond, "the unknown kid starts a fetch")
	cancel() // the client hangs up while the fetch waits at the issuer
	select {
	case reason := <-done:
		require.Equal(t, auth.ReasonUnknownKey, reason, "the caller stops waiting when its context ends")
	case <-time.After(5 * time.Second):
		t.Fatal("Verify kept waiting after its context ended")
	}

	close(hold)
	is.set(func(is *issuer) { is.hold = nil })
	require.Eventually(t, func() bool { return keys.For(snap.Issuers[0]).HasKID("rsa-2") }, 5*time.Second, 5*time.Millisecond,
		"the fetch went on after the caller left")
	_, reason := v.Verify(context.Background(), snap, is.tokenUnder(t, "rsa-2"))
	require.Equal(t, auth.Reason(""), reason)
	require.Equal(t, before+1, is.requests.Load(), "one fetch served both")
}

// A fetch for an unknown kid that fails leaves the interval unspent: once
// the issuer answers again (after the retry backoff), a token under a key
// rotated in during the outage is accepted, not refused for the interval.
func TestUnknownKIDFailedFetchSpendsNoBudget(t *testing.T) {
	is := newIssuer(t)
	keys, snap := startKeys(t, is, auth.KeyOptions{UnknownKIDInterval: time.Hour, RetryInterval: 50 * time.Millisecond}, nil)
	v := auth.NewVerifier(keys, 0)
	is.addRSA(t, "rsa-2", "RS256")
	tok := is.tokenUnder(t, "rsa-2")
	is.setDown(true)
	before := is.requests.Load()
	_, reason := v.Verify(context.Background(), snap, tok)
	require.Equal(t, auth.ReasonUnknownKey, reason)
	require.Greater(t, is.requests.Load(), before, "the unknown kid caused a fetch")

	is.setDown(false)
	require.Eventually(t, func() bool {
		_, reason := v.Verify(context.Background(), snap, tok)
		return reason == ""
	}, 5*time.Second, 20*time.Millisecond)
}

// flood has workers goroutines each verify a token under an unknown kid
// every millisecond until stop is closed; sent counts them.
func flood(t *testing.T, is *issuer, verify func(string) auth.Reason, workers int, stop <-chan struct{}) (sent *atomic.Int64, wait func()) {
	t.Helper()
	toks := make([]string, 64)
	for i := range toks {
		toks[i] = is.bogusToken(t, fmt.Sprintf("bogus-%d", i))
	}
	sent = &atomic.Int64{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
				if r := verify(toks[i%len(toks)]); r != auth.ReasonUnknownKey {
					t.Errorf("bogus kid: reason %q", r)
				}
				sent.Add(1)
			}
		})
	}
	return sent, wg.Wait
}

// Measures the bound: a flood of unknown kids costs at most one JWKS fetch
// per UnknownKIDInterval, and a key rotated in during the flood is accepted
// within one interval. During an outage the flood costs at most one fetch
// per retry backoff, not one per request.
func TestUnknownKIDFloodThenRotation(t *testing.T) {
	const cooldown = 500 * time.Millisecond
	is := newIssuer(t)
	keys, snap := startKeys(t, is, auth.KeyOptions{UnknownKIDInterval: cooldown, RetryInterval: 50 * time.Millisecond}, nil)
	v := auth.NewVerifier(keys, 0)
	verify := func(tok string) auth.Reason {
		_, r := v.Verify(context.Background(), snap, tok)
		return r
	}

	stop := make(chan struct{})
	before, start := is.requests.Load(), time.Now()
	sent, wait := flood(t, is, verify, 4, stop)
	require.Eventually(t, func() bool { return time.Since(start) > 3*cooldown }, 5*time.Second, 10*time.Millisecond)
	fetches, elapsed := is.requests.Load()-before, time.Since(start)
	t.Logf("flood: %d tokens under unknown kids in %s caused %d JWKS fetches (interval %s)", sent.Load(), elapsed.Round(time.Millisecond), fetches, cooldown)
	require.LessOrEqual(t, fetches, int64(elapsed/cooldown)+1, "at most one fetch per interval")
	require.Greater(t, sent.Load(), 10*fetches)

	// Rotate during the flood: the new key's token is accepted within one interval.
	is.addRSA(t, "rsa-2", "RS256")
	rotated := time.Now()
	tok := is.tokenUnder(t, "rsa-2")
	require.Eventually(t, func() bool { return verify(tok) == "" }, 5*time.Second, 5*time.Millisecond)
	accepted := time.Since(rotated)
	t.Logf("rotation: the new key's token was accepted %s after the rotation (interval %s)", accepted.Round(time.Millisecond), cooldown)
	require.Less(t, accepted, cooldown+250*time.Millisecond, "accepted within one interval (plus a fetch)")

	// An outage: failed fetches spend no interval, but they and the
	// background retries share one backoff, so the flood adds no fetch.
	is.setDown(true)
	before, start, sentBefore := is.requests.Load(), time.Now(), sent.Load()
	require.Eventually(t, func() bool { return time.Since(start) > 2*cooldown }, 5*time.Second, 10*time.Millisecond)
	fetches, elapsed = is.requests.Load()-before, time.Since(start)
	close(stop)
	wait()
	t.Logf("outage: %d tokens under unknown kids in %s caused %d JWKS fetches (retry cap 50ms)", sent.Load()-sentBefore, elapsed.Round(time.Millisecond), fetches)
	// Retries wait at least 25 ms (half the 50 ms cap).
	require.Greater(t, fetches, int64(1), "failed fetches spend no interval")
	require.LessOrEqual(t, fetches, int64(elapsed/(25*time.Millisecond))+2)
}
