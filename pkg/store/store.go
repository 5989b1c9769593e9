// Package store implements timesheets.Store on SQLite (embedded, pure Go,
// for a single replica) and PostgreSQL (for several replicas).
//
// Open picks the engine from the database URL and applies the embedded
// schema migrations before returning.
//
// Writes (Create, Approve, Delete) that arrive while a write transaction
// runs are committed together in the next one (group commit), each under a
// savepoint of its own, each caller getting its own result once the group
// has committed; a lone write commits at once. See Stats.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// Options tune a store. Zero values take the defaults. Concurrent writes
// are group-committed: at most MaxGroupMembers calls and MaxGroupEntries
// entries (or one larger Create alone) per transaction.
type Options struct {
	// StatementTimeout bounds one SQL statement: PostgreSQL's
	// statement_timeout on every pooled connection, SQLite's busy_timeout.
	// Default 5s.
	StatementTimeout time.Duration
	// OperationTimeout bounds one store call on the client side, including
	// the wait for a pooled connection and all statements of the call, so a
	// slow or unreachable database cannot pile up requests. Default twice
	// StatementTimeout.
	OperationTimeout time.Duration
	// ConnectTimeout bounds establishing one PostgreSQL connection.
	// Default 5s.
	ConnectTimeout time.Duration
	// MaxConns is the PostgreSQL pool size (default: pool_max_conns from the
	// URL, else 10) or the number of SQLite read connections (default 4;
	// SQLite always has one writer).
	MaxConns int
	// MigrationLockTimeout bounds how long Open waits for another replica
	// that is applying migrations on PostgreSQL. Default 5 minutes.
	MigrationLockTimeout time.Duration
	// Logger receives migration messages. Default: discarded.
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultStatementTimeout     = 5 * time.Second
	DefaultConnectTimeout       = 5 * time.Second
	DefaultPostgresMaxConns     = 10
	DefaultSQLiteReaders        = 4
	DefaultMigrationLockTimeout = 5 * time.Minute
)

func (o Options) withDefaults(readers int) Options {
	if o.StatementTimeout <= 0 {
		o.StatementTimeout = DefaultStatementTimeout
	}
	if o.OperationTimeout <= 0 {
		o.OperationTimeout = 2 * o.StatementTimeout
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.MaxConns <= 0 {
		o.MaxConns = readers
	}
	if o.MigrationLockTimeout <= 0 {
		o.MigrationLockTimeout = DefaultMigrationLockTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Open connects to the database named by databaseURL and migrates its
// schema:
//
//   - postgres://... or postgresql://...: PostgreSQL through a pgx pool;
//   - sqlite://PATH, sqlite:PATH, file:PATH or a plain PATH: an SQLite file
//     (its directory is created if missing).
//
// Errors that mean the database cannot be reached wrap
// timesheets.ErrUnavailable.
func Open(ctx context.Context, databaseURL string, opts Options) (timesheets.Store, error) {
	switch {
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		s, err := openPostgres(ctx, databaseURL, opts.withDefaults(0))
		if err != nil {
			return nil, err
		}
		return traced{Store: s, system: "postgresql", kind: trace.SpanKindClient}, nil
	case databaseURL == "":
		return nil, errors.New("store: empty database URL")
	}
	path, query, err := sqlitePath(databaseURL)
	if err != nil {
		return nil, err
	}
	s, err := openSQLite(ctx, path, query, opts.withDefaults(DefaultSQLiteReaders))
	if err != nil {
		return nil, err
	}
	return traced{Store: s, system: "sqlite", kind: trace.SpanKindInternal}, nil // in process
}

// sqlitePath extracts the file path and extra driver parameters from an
// SQLite URL.
func sqlitePath(u string) (path, query string, err error) {
	rest := u
	switch {
	case strings.HasPrefix(u, "sqlite://"):
		rest = strings.TrimPrefix(u, "sqlite://")
	case strings.HasPrefix(u, "sqlite3://"):
		rest = strings.TrimPrefix(u, "sqlite3://")
	case strings.HasPrefix(u, "sqlite:"):
		rest = strings.TrimPrefix(u, "sqlite:")
	case strings.HasPrefix(u, "file://"):
		rest = strings.TrimPrefix(u, "file://")
	case strings.HasPrefix(u, "file:"):
		rest = strings.TrimPrefix(u, "file:")
	default:
		if i := strings.Index(u, "://"); i > 0 && !strings.ContainsAny(u[:i], `/\.`) {
			return "", "", fmt.Errorf("store: unsupported database URL scheme %q; use postgres://, postgresql://, sqlite:// or a file path", u[:i])
		}
	}
	path, query, _ = strings.Cut(rest, "?")
	switch {
	case path == "":
		return "", "", fmt.Errorf("store: database URL %q names no file", u)
	case path == ":memory:" || strings.Contains(query, "mode=memory"):
		return "", "", fmt.Errorf("store: in-memory SQLite is not supported (the store uses separate read and write connections); use a file, e.g. in a temporary directory")
	}
	return path, query, nil
}

// unavailable wraps err so that errors.Is(err, timesheets.ErrUnavailable).
func unavailable(op string, err error) error {
	return fmt.Errorf("store: %s: %w: %w", op, timesheets.ErrUnavailable, err)
}

// columns are the entry columns in the order scanEntry reads them.
const columns = `id, user_type, user_id, date_ns, year, week, project, hours, source, external_id, status, created_by, created_at_ns, approved_by, approved_at_ns, owner, date_day, revision, updated_at_ns, source_updated_at_ns`

// scanner is satisfied by pgx.Row, pgx.Rows, *sql.Row and *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

func scanEntry(r scanner) (timesheets.Entry, error) {
	var (
		e                          timesheets.Entry
		dateNS, year, week, apprNS *int64
		sourceNS                   *int64
		createdNS, updatedNS, day  int64
	)
	if err := r.Scan(&e.ID, &e.UserType, &e.UserID, &dateNS, &year, &week, &e.Project, &e.Hours,
		&e.Source, &e.ExternalID, &e.Status, &e.CreatedBy, &createdNS, &e.ApprovedBy, &apprNS, &e.Owner,
		&day, &e.Revision, &updatedNS, &sourceNS); err != nil {
		return e, err
	}
	e.Date, e.Day = fromNanos(dateNS), day == 1
	e.UpdatedAt = time.Unix(0, updatedNS).UTC()
	e.SourceUpdatedAt = fromNanos(sourceNS)
	if year != nil {
		e.Year = int(*year)
	}
	if week != nil {
		e.Week = int(*week)
	}
	e.CreatedAt = time.Unix(0, createdNS).UTC()
	e.ApprovedAt = fromNanos(apprNS)
	return e, nil
}

func fromNanos(ns *int64) *time.Time {
	if ns == nil {
		return nil
	}
	t := time.Unix(0, *ns).UTC()
	return &t
}

func toNanos(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	ns := t.UnixNano()
	return &ns
}

// row is an entry prepared for insertion: defaults applied, times as Unix
// nanoseconds.
type row struct {
	e               timesheets.Entry
	dateNS          *int64
	year, week      *int64
	periodStart     time.Time
	createdNS       int64
	approvedNS      *int64
	day             int64 // date_day: 1 for a calendar day
	updatedNS       int64
	sourceUpdatedNS *int64
}

func newRow(e timesheets.Entry, now time.Time) row {
	if e.Status == "" {
		e.Status = timesheets.StatusPending
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = now
	}
	if e.Revision == 0 {
		e.Revision = 1
	}
	if e.UpdatedAt.IsZero() {
		e.UpdatedAt = e.CreatedAt
	}
	r := row{e: e, dateNS: toNanos(e.Date), periodStart: e.PeriodStart(), createdNS: e.CreatedAt.UnixNano(), approvedNS: toNanos(e.ApprovedAt),
		updatedNS: e.UpdatedAt.UnixNano(), sourceUpdatedNS: toNanos(e.SourceUpdatedAt)}
	if e.Day && e.Date != nil {
		r.day = 1
	}
	// A day entry has no year and week (NULL). Whatever else is inconsistent
	// is stored as given, for the schema's CHECK constraints to refuse.
	if e.Date == nil || e.Year != 0 || e.Week != 0 {
		y, w := int64(e.Year), int64(e.Week)
		r.year, r.week = &y, &w
	}
	return r
}

// dedupe finds the entries that repeat a (source, external_id) pair seen
// earlier in the same call. It returns the indexes of the entries to insert
// and, for each entry, the index of the earlier one it repeats or -1.
func dedupe(entries []timesheets.Entry) (insert []int, firstOf []int) {
	type key struct{ source, externalID string }
	seen := make(map[key]int, len(entries))
	insert = make([]int, 0, len(entries))
	firstOf = make([]int, len(entries))
	for i, e := range entries {
		firstOf[i] = -1
		if e.ExternalID != "" {
			k := key{e.Source, e.ExternalID}
			if j, ok := seen[k]; ok {
				firstOf[i] = j
				continue
			}
			seen[k] = i
		}
		insert = append(insert, i)
	}
	return insert, firstOf
}

// fillRepeats completes the results of entries that repeat an earlier one
// and tells whether any entry conflicts.
func fillRepeats(entries []timesheets.Entry, res []timesheets.CreateResult, firstOf []int) (conflict bool) {
	for i, j := range firstOf {
		switch {
		case j < 0:
		case res[j].Conflict || !sameOwner(entries[i].Owner, entries[j].Owner):
			res[i] = timesheets.CreateResult{Conflict: true}
		default:
			res[i] = timesheets.CreateResult{ID: res[j].ID, Duplicate: true}
		}
	}
	return slices.ContainsFunc(res, func(r timesheets.CreateResult) bool { return r.Conflict })
}

// sameOwner tells whether an entry of owner a may be a duplicate of one of
// owner b. An unknown owner ("", entries stored before owners were) is
// nobody's: its keys conflict with every entry.
func sameOwner(a, b string) bool { return a != "" && a == b }

// existing is the result for an entry whose key is held by an existing
// entry id of owner.
func existing(e timesheets.Entry, id int64, owner string) timesheets.CreateResult {
	if !sameOwner(e.Owner, owner) {
		return timesheets.CreateResult{Conflict: true}
	}
	return timesheets.CreateResult{ID: id, Duplicate: true}
}

// listQuery builds the List statement with $n placeholders, which both
// engines accept. date converts a period bound to the engine's date type.
func listQuery(f timesheets.Filter, date func(time.Time) any) (string, []any) {
	var (
		b    strings.Builder
		args []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	b.WriteString("SELECT " + columns + " FROM entries WHERE id > " + arg(f.AfterID))
	if f.UserID != "" {
		b.WriteString(" AND user_id = " + arg(f.UserID))
	}
	if f.Project != "" {
		b.WriteString(" AND project = " + arg(f.Project))
	}
	if f.Status != "" {
		b.WriteString(" AND status = " + arg(f.Status))
	}
	if !f.From.IsZero() {
		b.WriteString(" AND period_start >= " + arg(date(timesheets.Day(f.From))))
	}
	if !f.To.IsZero() {
		b.WriteString(" AND period_start <= " + arg(date(timesheets.Day(f.To))))
	}
	b.WriteString(" ORDER BY id LIMIT " + arg(pageSize(f.Limit)))
	return b.String(), args
}

// pageSize normalises a requested page size. The HTTP layer asks for one
// entry more than the page it serves (to tell whether a next page exists),
// so MaxPageSize+1 is allowed.
func pageSize(n int) int64 {
	switch {
	case n <= 0:
		return timesheets.DefaultPageSize
	case n > timesheets.MaxPageSize+1:
		return timesheets.MaxPageSize + 1
	}
	return int64(n)
}

// selectCheckpoint reads an owner's entries of a source and the checkpoint
// its last complete run recorded.
const selectCheckpoint = `SELECT (SELECT count(*) FROM entries WHERE owner = $1 AND source = $2),
	(SELECT source_updated_at_ns FROM upload_checkpoints WHERE owner = $1 AND source = $2)`

// jsonArray encodes values as a JSON array, for SQLite's json_each.
func jsonArray[T int64 | string](values []T) string {
	if len(values) == 0 {
		return "[]"
	}
	b, err := json.Marshal(values)
	if err != nil {
		panic(err) // int64 and string always encode
	}
	return string(b)
}
