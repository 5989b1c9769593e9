package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/abc-inc/timesheets/pkg/tracing"
	"github.com/abc-inc/timesheets/pkg/tracing/tracingtest"
)

// TestTraces sends requests through the API as served and reads the spans
// the SDK recorded: one server span per request, named by the route
// pattern, with status and auth reason, continuing the caller's W3C
// traceparent, and child spans for token verification and the store.
func TestTraces(t *testing.T) {
	s := newStack(t, true)
	rec := tracingtest.Record(t)
	admin, importer := s.token(t, "admin"), s.token(t, "importer")
	forged := admin[:len(admin)-4] + "AAAA" // the signature no longer fits

	const (
		callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
		callerSpan  = "00f067aa0ba902b7"
	)
	cases := []struct {
		name, method, path, token, body string
		traceparent                     string
		wantName, wantRoute             string
		wantStatus                      int
		wantReason                      string // "": no auth reason recorded
		wantChildren                    []string
		wantStoreOutcome                string // of the store span: a fixed word, "" on success
	}{
		{name: "created, caller's trace continued", method: "POST", path: "/timesheets", token: admin, body: dayEntry,
			traceparent: "00-" + callerTrace + "-" + callerSpan + "-01",
			wantName:    "POST /timesheets", wantRoute: "/timesheets", wantStatus: 201,
			wantChildren: []string{"verify token", "create sqlite"}},
		{name: "route pattern, not the path", method: "GET", path: "/timesheets/987654", token: admin,
			wantName: "GET /timesheets/{id}", wantRoute: "/timesheets/{id}", wantStatus: 404,
			wantChildren: []string{"verify token", "get sqlite"}, wantStoreOutcome: "not_found"},
		{name: "missing token", method: "GET", path: "/timesheets", wantName: "GET /timesheets", wantRoute: "/timesheets",
			wantStatus: 401, wantReason: "missing_token"},
		{name: "insufficient scope", method: "GET", path: "/timesheets/1", token: importer,
			wantName: "GET /timesheets/{id}", wantRoute: "/timesheets/{id}", wantStatus: 403, wantReason: "insufficient_scope",
			wantChildren: []string{"verify token"}},
		{name: "forged signature", method: "GET", path: "/timesheets", token: forged,
			wantName: "GET /timesheets", wantRoute: "/timesheets", wantStatus: 401, wantReason: "bad_signature",
			wantChildren: []string{"verify token"}},
		{name: "no route", method: "GET", path: "/nowhere/secret-path", token: admin,
			wantName: "GET", wantStatus: 403, wantReason: "insufficient_scope", wantChildren: []string{"verify token"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec.Reset()
			req, err := http.NewRequest(tc.method, s.srv.URL+tc.path, strings.NewReader(tc.body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", jsonType)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			if tc.traceparent != "" {
				req.Header.Set("traceparent", tc.traceparent)
			}
			resp, err := s.srv.Client().Do(req)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			require.Equal(t, tc.wantStatus, resp.StatusCode)

			sv := serverSpans(rec)
			require.Len(t, sv, 1, "server spans")
			span := sv[0]
			require.Equal(t, tc.wantName, span.Name())
			route, ok := tracingtest.Attr(span, "http.route")
			require.Equal(t, tc.wantRoute != "", ok, "http.route set")
			require.Equal(t, tc.wantRoute, route.AsString())
			code, _ := tracingtest.Attr(span, "http.response.status_code")
			require.EqualValues(t, tc.wantStatus, code.AsInt64())
			reason, _ := tracingtest.Attr(span, tracing.AttrAuthReason)
			require.Equal(t, tc.wantReason, reason.AsString())

			if tc.traceparent != "" {
				require.Equal(t, callerTrace, span.SpanContext().TraceID().String())
				require.Equal(t, callerSpan, span.Parent().SpanID().String())
				require.True(t, span.Parent().IsRemote())
			} else {
				require.False(t, span.Parent().IsValid(), "a request without traceparent starts a trace")
			}
			var kids []string
			for _, c := range rec.Ended() {
				if c.Parent().SpanID() == span.SpanContext().SpanID() {
					require.Equal(t, span.SpanContext().TraceID(), c.SpanContext().TraceID())
					kids = append(kids, c.Name())
					if strings.HasSuffix(c.Name(), " sqlite") {
						out, _ := tracingtest.Attr(c, "timesheets.store.outcome")
						require.Equal(t, tc.wantStoreOutcome, out.AsString())
						require.Equal(t, "sqlite", attr(c, "db.system.name"))
					}
				}
			}
			require.ElementsMatch(t, tc.wantChildren, kids)

			for _, sp := range rec.Ended() {
				for _, x := range spanTexts(sp) {
					require.NotContains(t, x, "eyJ", "span %q holds a token", sp.Name()) // a JWT's header starts so
					require.NotContains(t, x, "987654", "span %q holds the raw path", sp.Name())
					require.NotContains(t, x, "secret-path", "span %q holds the raw path", sp.Name())
				}
			}
		})
	}
}

func serverSpans(rec *tracetest.SpanRecorder) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.SpanKind() == trace.SpanKindServer {
			out = append(out, s)
		}
	}
	return out
}

// spanTexts is every string a span exports: name, status, attributes, events.
func spanTexts(s sdktrace.ReadOnlySpan) []string {
	texts := []string{s.Name(), s.Status().Description}
	for _, kv := range s.Attributes() {
		texts = append(texts, kv.Value.String())
	}
	for _, e := range s.Events() {
		texts = append(texts, e.Name)
		for _, kv := range e.Attributes {
			texts = append(texts, kv.Value.String())
		}
	}
	return texts
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	v, _ := tracingtest.Attr(s, key)
	return v.String()
}
