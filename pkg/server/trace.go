package server

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/abc-inc/timesheets/pkg/metrics"
	"github.com/abc-inc/timesheets/pkg/tracing"
)

// startSpan starts the request's server span, named and described as the
// HTTP semantic conventions say (https://opentelemetry.io/docs/specs/semconv/http/http-spans/)
// but only with values from fixed sets: the route pattern, never the raw
// path or query; no header, so no token.
func startSpan(r *http.Request, method, pattern string) (context.Context, trace.Span) {
	ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	if method == "other" {
		method = "_OTHER" // the conventions' name for a method outside the known set
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", method),
		attribute.String("url.scheme", scheme),
		attribute.String("network.protocol.version", strconv.Itoa(r.ProtoMajor)+"."+strconv.Itoa(r.ProtoMinor)),
	}
	name := method // the conventions' name when no route matched
	if route := routeOf(pattern); route != "" {
		name += " " + route
		attrs = append(attrs, attribute.String("http.route", route))
	}
	return tracing.Tracer().Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
}

// routeOf is the path template of a ServeMux pattern ("[METHOD ][HOST]/PATH"),
// or "" for none.
func routeOf(pattern string) string {
	if pattern == metrics.RouteUnmatched {
		return ""
	}
	if _, rest, ok := strings.Cut(pattern, " "); ok {
		pattern = rest
	}
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		return pattern[i:]
	}
	return ""
}

// endSpan records the status; only a 5xx is a server span's error.
func endSpan(span trace.Span, code int) {
	span.SetAttributes(attribute.Int("http.response.status_code", code))
	if code >= 500 {
		span.SetAttributes(attribute.String("error.type", strconv.Itoa(code)))
		span.SetStatus(codes.Error, "")
	}
}

// TraceAuthReason records on the request's span why its authentication or
// authorization failed; reason is one of a small fixed set.
func TraceAuthReason(ctx context.Context, reason string) {
	trace.SpanFromContext(ctx).SetAttributes(attribute.String(tracing.AttrAuthReason, reason))
}
