package store

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/abc-inc/timesheets/pkg/timesheets"
	"github.com/abc-inc/timesheets/pkg/tracing"
)

// traced makes a span of each store call (each is one transaction or one
// statement), named as the database conventions say
// (https://opentelemetry.io/docs/specs/semconv/database/database-spans/).
// No query text or value is recorded: entries are personal data. Ping is
// not traced: probes would drown the requests.
type traced struct {
	timesheets.Store
	system string // db.system.name: sqlite or postgresql
	kind   trace.SpanKind
}

func (s traced) start(ctx context.Context, op string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return tracing.Tracer().Start(ctx, op+" "+s.system, trace.WithSpanKind(s.kind), trace.WithAttributes(
		append(attrs, attribute.String("db.system.name", s.system), attribute.String("db.operation.name", op))...))
}

// end records the outcome as a fixed word: an error's text may quote values.
func end(span trace.Span, err error) {
	switch {
	case err == nil:
	case errors.Is(err, timesheets.ErrNotFound):
		span.SetAttributes(attribute.String("timesheets.store.outcome", "not_found"))
	case errors.Is(err, timesheets.ErrConflict):
		span.SetAttributes(attribute.String("timesheets.store.outcome", "conflict"))
	case errors.Is(err, timesheets.ErrAlreadyApproved):
		span.SetAttributes(attribute.String("timesheets.store.outcome", "already_approved"))
	case errors.Is(err, timesheets.ErrLocked):
		span.SetAttributes(attribute.String("timesheets.store.outcome", "locked"))
	case errors.Is(err, timesheets.ErrRevisionMismatch):
		span.SetAttributes(attribute.String("timesheets.store.outcome", "revision_mismatch"))
	case errors.Is(err, timesheets.ErrUnavailable):
		span.SetAttributes(attribute.String("error.type", "unavailable"))
		span.SetStatus(codes.Error, "database unavailable")
	default:
		span.SetAttributes(attribute.String("error.type", "_OTHER"))
		span.SetStatus(codes.Error, "")
	}
	span.End()
}

func (s traced) Create(ctx context.Context, entries []timesheets.Entry) (_ []timesheets.CreateResult, err error) {
	ctx, span := s.start(ctx, "create", attribute.Int("db.operation.batch.size", len(entries)))
	defer func() { end(span, err) }()
	return s.Store.Create(ctx, entries)
}

func (s traced) Get(ctx context.Context, id int64) (_ timesheets.Entry, err error) {
	ctx, span := s.start(ctx, "get")
	defer func() { end(span, err) }()
	return s.Store.Get(ctx, id)
}

func (s traced) List(ctx context.Context, f timesheets.Filter) (_ []timesheets.Entry, err error) {
	ctx, span := s.start(ctx, "list")
	defer func() { end(span, err) }()
	return s.Store.List(ctx, f)
}

func (s traced) Delete(ctx context.Context, id int64) (err error) {
	ctx, span := s.start(ctx, "delete")
	defer func() { end(span, err) }()
	return s.Store.Delete(ctx, id)
}

func (s traced) Approve(ctx context.Context, id int64, approver string, at time.Time) (_ timesheets.Entry, err error) {
	ctx, span := s.start(ctx, "approve")
	defer func() { end(span, err) }()
	return s.Store.Approve(ctx, id, approver, at)
}

func (s traced) Upsert(ctx context.Context, entries []timesheets.Entry, allOrNothing bool) (_ []timesheets.UpsertResult, err error) {
	ctx, span := s.start(ctx, "upsert", attribute.Int("db.operation.batch.size", len(entries)))
	defer func() { end(span, err) }()
	return s.Store.Upsert(ctx, entries, allOrNothing)
}

func (s traced) Update(ctx context.Context, e timesheets.Entry, ifRevision int64) (_ timesheets.Entry, err error) {
	ctx, span := s.start(ctx, "update")
	defer func() { end(span, err) }()
	return s.Store.Update(ctx, e, ifRevision)
}

func (s traced) Prune(ctx context.Context, p timesheets.Prune) (_ timesheets.PruneResult, err error) {
	ctx, span := s.start(ctx, "prune", attribute.Int("db.operation.batch.size", len(p.Keep)))
	defer func() { end(span, err) }()
	return s.Store.Prune(ctx, p)
}

func (s traced) Checkpoint(ctx context.Context, owner, source string) (_ timesheets.Checkpoint, err error) {
	ctx, span := s.start(ctx, "checkpoint")
	defer func() { end(span, err) }()
	return s.Store.Checkpoint(ctx, owner, source)
}

func (s traced) SetCheckpoint(ctx context.Context, owner, source string, at time.Time) (err error) {
	ctx, span := s.start(ctx, "checkpoint")
	defer func() { end(span, err) }()
	return s.Store.SetCheckpoint(ctx, owner, source, at)
}
