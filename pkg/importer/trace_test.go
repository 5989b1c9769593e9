package importer_test

import (
	"path/filepath"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/abc-inc/timesheets/pkg/apitest"
	"github.com/abc-inc/timesheets/pkg/syncbuf"
	"github.com/abc-inc/timesheets/pkg/tracing/tracingtest"
)

// TestImportIsOneTrace runs the importer against the API in process: the
// run's span is the root, each upload attempt (the retried one included) a
// child of it, and the API's span of each upload continues that attempt's
// traceparent, with verification and the store transaction below it.
func TestImportIsOneTrace(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	rec := tracingtest.Record(t)
	api.FailUploads(1, "0") // the retry must carry a traceparent too
	path := writeFile(t, filepath.Join(t.TempDir(), "a.csv"), csvOf(genRows(250, "")))
	cfg := config(t, api, path, &syncbuf.Buffer{})
	cfg.BatchSize = 100
	s := run(t, cfg)
	wantSummary(t, s, 250, 250, 0, 0, 0)

	roots := tracingtest.Named(rec, "import")
	if len(roots) != 1 {
		t.Fatalf("%d import spans, want 1", len(roots))
	}
	root := roots[0]
	if root.Parent().IsValid() {
		t.Errorf("the import span has a parent %v; want a root", root.Parent())
	}
	tid := root.SpanContext().TraceID()
	if v, _ := tracingtest.Attr(root, "timesheets.import.created"); v.AsInt64() != 250 {
		t.Errorf("import span: created = %v, want 250", v.String())
	}

	attempts := map[trace.SpanID]bool{}
	for _, c := range tracingtest.Named(rec, "POST /timesheets/upload") {
		if c.SpanKind() != trace.SpanKindClient {
			continue
		}
		if c.SpanContext().TraceID() != tid || c.Parent().SpanID() != root.SpanContext().SpanID() {
			t.Errorf("upload attempt %v is not a child of the import span", c.SpanContext().SpanID())
		}
		attempts[c.SpanContext().SpanID()] = true
	}
	if got, want := int64(len(attempts)), api.UploadRequests(); got != want || want != 4 {
		t.Fatalf("%d upload attempt spans, %d upload requests; want 4 of each (3 batches, one retried)", got, want)
	}

	var served int
	for _, sv := range rec.Ended() {
		if sv.SpanKind() != trace.SpanKindServer {
			continue
		}
		if sv.Name() != "POST /timesheets/upload" {
			t.Errorf("server span %q; the importer sends only uploads", sv.Name())
			continue
		}
		served++
		if sv.SpanContext().TraceID() != tid || !attempts[sv.Parent().SpanID()] || !sv.Parent().IsRemote() {
			t.Errorf("the API's span %v does not continue an upload attempt's traceparent (parent %v)", sv.SpanContext().SpanID(), sv.Parent().SpanID())
		}
		for _, name := range []string{"verify token", "upsert sqlite"} {
			if len(children(rec, sv, name)) != 1 {
				t.Errorf("the API's upload span has %d %q children, want 1", len(children(rec, sv, name)), name)
			}
		}
	}
	if want := api.UploadRequests() - api.FailedUploads(); int64(served) != want {
		t.Errorf("%d API spans, want %d (the uploads that reached the API)", served, want)
	}
	noTokenIn(t, rec.Ended())
}

func children(rec *tracetest.SpanRecorder, parent sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == name && s.Parent().SpanID() == parent.SpanContext().SpanID() {
			out = append(out, s)
		}
	}
	return out
}

// noTokenIn fails if an attribute, event or status holds something shaped
// like a JWT (its header's base64url always starts with eyJ) or a bearer
// credential.
func noTokenIn(t *testing.T, spans []sdktrace.ReadOnlySpan) {
	t.Helper()
	for _, s := range spans {
		texts := []string{s.Name(), s.Status().Description}
		for _, kv := range s.Attributes() {
			texts = append(texts, kv.Value.String())
		}
		for _, e := range s.Events() {
			for _, kv := range e.Attributes {
				texts = append(texts, kv.Value.String())
			}
		}
		for _, x := range texts {
			if strings.Contains(x, "eyJ") || strings.Contains(strings.ToLower(x), "bearer") {
				t.Errorf("span %q holds %q", s.Name(), x)
			}
		}
	}
}
