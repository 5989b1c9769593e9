package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"

	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/tracing/tracingtest"
)

// A token under a key rotated in since the last fetch: its verification
// span has a child for the wait on the JWKS refresh, and the refresh is a
// "fetch JWKS" span of its own, by issuer; a failed fetch is an error span.
func TestVerifyAndJWKSSpans(t *testing.T) {
	is := newIssuer(t)
	keys, snap := startKeys(t, is, auth.KeyOptions{UnknownKIDInterval: time.Nanosecond}, nil)
	v := auth.NewVerifier(keys, 0)
	rec := tracingtest.Record(t)
	is.addRSA(t, "rsa-2", "RS256")

	ctx, parent := tracingtest.Tracer().Start(context.Background(), "request")
	_, reason := v.Verify(ctx, snap, is.tokenUnder(t, "rsa-2"))
	parent.End()
	require.Equal(t, auth.Reason(""), reason)

	verify := tracingtest.Named(rec, "verify token")
	require.Len(t, verify, 1)
	require.Equal(t, parent.SpanContext().SpanID(), verify[0].Parent().SpanID())
	iss, _ := tracingtest.Attr(verify[0], "timesheets.token.issuer")
	require.Equal(t, snap.Issuers[0].URL, iss.AsString())
	wait := tracingtest.Named(rec, "wait for JWKS refresh (unknown kid)")
	require.Len(t, wait, 1)
	require.Equal(t, verify[0].SpanContext().SpanID(), wait[0].Parent().SpanID())
	fetches := tracingtest.Named(rec, "fetch JWKS")
	require.Len(t, fetches, 1)
	fi, _ := tracingtest.Attr(fetches[0], "timesheets.issuer")
	require.Equal(t, snap.Issuers[0].URL, fi.AsString())
	require.Equal(t, codes.Unset, fetches[0].Status().Code)

	// An unknown kid while the issuer is down: the reason is on the span.
	rec.Reset()
	is.setDown(true)
	_, reason = v.Verify(context.Background(), snap, is.bogusToken(t, "unknown"))
	require.Equal(t, auth.ReasonUnknownKey, reason)
	verify = tracingtest.Named(rec, "verify token")
	require.Len(t, verify, 1)
	r, _ := tracingtest.Attr(verify[0], "timesheets.auth.reason")
	require.Equal(t, "unknown_key", r.AsString())
	fetches = tracingtest.Named(rec, "fetch JWKS")
	require.Len(t, fetches, 1)
	require.Equal(t, codes.Error, fetches[0].Status().Code)
}
