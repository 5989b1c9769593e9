package importer

import (
	"context"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/abc-inc/timesheets/pkg/tracing"
)

// startUploadSpan starts the client span of one upload attempt and puts its
// traceparent on req, so the API's span of the request is its child. Only
// the endpoint's host and template are recorded: no header, no body.
func startUploadSpan(ctx context.Context, req *http.Request) (context.Context, trace.Span) {
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", req.Method),
		attribute.String("url.template", UploadPath),
		attribute.String("server.address", req.URL.Hostname()),
	}
	if p, err := strconv.Atoi(req.URL.Port()); err == nil {
		attrs = append(attrs, attribute.Int("server.port", p))
	}
	ctx, span := tracing.Tracer().Start(ctx, req.Method+" "+UploadPath,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	return ctx, span
}

// traceResponse records the answer's status (nil: no answer), a client
// span's error from 400 on.
func traceResponse(span trace.Span, resp *http.Response) {
	if resp == nil {
		span.SetAttributes(attribute.String("error.type", "transport"))
		span.SetStatus(codes.Error, "no answer")
		return
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 400 {
		span.SetAttributes(attribute.String("error.type", strconv.Itoa(resp.StatusCode)))
		span.SetStatus(codes.Error, "")
	}
}

// traceSummary puts the run's figures on its span.
func traceSummary(span trace.Span, s Summary) {
	span.SetAttributes(
		attribute.Int64("timesheets.import.read", s.Read),
		attribute.Int64("timesheets.import.created", s.Created),
		attribute.Int64("timesheets.import.duplicates", s.Duplicates),
		attribute.Int64("timesheets.import.rejected", s.Rejected),
		attribute.Int64("timesheets.import.failed", s.Failed),
		attribute.Int64("timesheets.import.batches", s.Batches),
		attribute.Int("timesheets.import.exit_code", s.ExitCode()),
	)
	if !s.OK() {
		span.SetStatus(codes.Error, "") // Err may quote the source; the log has it
	}
}
