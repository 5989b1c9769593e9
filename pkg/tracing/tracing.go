// Package tracing sets up OpenTelemetry traces from the standard OTEL_*
// environment (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/).
//
// Tracing is off unless OTEL_TRACES_EXPORTER is "otlp" or an OTLP endpoint
// (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set.
// When on, spans go to an OTLP/HTTP exporter that reads its own settings
// (endpoint, headers, certificate, timeout) from the environment, the
// sampler comes from OTEL_TRACES_SAMPLER (default parentbased_always_on),
// and the W3C Trace Context propagator (traceparent, tracestate) carries a
// trace across processes.
//
// Instrumented packages take their tracer from the global provider at the
// moment they start a span, so Setup (or a test) may install it at any time.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Instrumentation is the instrumentation scope of every tracer of this module.
const Instrumentation = "github.com/abc-inc/timesheets"

// Tracer returns the tracer of the provider installed now.
func Tracer() trace.Tracer { return otel.GetTracerProvider().Tracer(Instrumentation) }

// AttrAuthReason is the span attribute naming why authentication or
// authorization failed (pkg/auth's Reason: a small fixed set).
const AttrAuthReason = "timesheets.auth.reason"

// Enabled reports whether the environment asks for traces, and checks that
// it asks for something this binary can do.
func Enabled(getenv func(string) string) (bool, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false, nil
	}
	exporter := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))
	switch exporter {
	case "none":
		return false, nil
	case "":
		if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
			return false, nil
		}
	case "otlp":
	default:
		return false, fmt.Errorf("OTEL_TRACES_EXPORTER %q: only otlp (or none) is supported", exporter)
	}
	protocol := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	if protocol != "" && protocol != "http/protobuf" {
		// gRPC would add its whole stack to both binaries for what an
		// OTLP/HTTP receiver (port 4318 of the Collector) does as well.
		return false, fmt.Errorf("OTLP protocol %q: only http/protobuf is supported; point OTEL_EXPORTER_OTLP_ENDPOINT at an OTLP/HTTP receiver (port 4318)", protocol)
	}
	return true, nil
}

// Setup installs the tracer provider and propagator the environment asks
// for; service is the default service.name (OTEL_SERVICE_NAME overrides
// it). shutdown flushes the spans still buffered; it is a no-op when
// tracing is off.
func Setup(ctx context.Context, service string) (shutdown func(context.Context) error, err error) {
	noop := func(context.Context) error { return nil }
	on, err := Enabled(os.Getenv)
	if err != nil || !on {
		return noop, err
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return noop, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES win
		resource.WithTelemetrySDK(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return noop, fmt.Errorf("trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	Install(tp)
	return tp.Shutdown, nil
}

// Install makes tp the global tracer provider with the W3C Trace Context
// propagator. Baggage is not propagated: nothing here reads it, and a
// caller's baggage is not ours to forward.
func Install(tp trace.TracerProvider) {
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
}
