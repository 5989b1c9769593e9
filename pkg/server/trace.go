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

// spanRoute is what a server span says of its route and method, the same
// for every request of them: worked out once per route (Instrument).
type spanRoute struct {
	name   string
	method attribute.KeyValue
	route  attribute.KeyValue // http.route; a zero KeyValue when no route matched
}

func newSpanRoute(method, pattern string) spanRoute {
	if method == "other" {
		method = "_OTHER" // the conventions' name for a method outside the known set
	}
	sr := spanRoute{name: method, method: attribute.String("http.request.method", method)} // the name when no route matched
	if route := routeOf(pattern); route != "" {
		sr.name += " " + route
		sr.route = attribute.String("http.route", route)
	}
	return sr
}

// startSpan starts the request's server span, named and described as the
// HTTP semantic conventions say (https://opentelemetry.io/docs/specs/semconv/http/http-spans/)
// but only with values from fixed sets: the route pattern, never the raw
// path or query; no header, so no token.
func startSpan(r *http.Request, sr spanRoute) (context.Context, trace.Span) {
	ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	attrs := make([]attribute.KeyValue, 0, 4)
	attrs = append(attrs, sr.method,
		attribute.String("url.scheme", scheme),
		attribute.String("network.protocol.version", strconv.Itoa(r.ProtoMajor)+"."+strconv.Itoa(r.ProtoMinor)))
	if sr.route.Key != "" {
		attrs = append(attrs, sr.route)
	}
	return tracing.Tracer().Start(ctx, sr.name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
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
