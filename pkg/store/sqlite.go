package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// sqliteStore keeps entries in an SQLite file (pure Go driver, no cgo).
//
// It has one write connection and a pool of read-only connections. In WAL
// mode readers never block the writer nor each other and see only committed
// transactions; writes queue for the single connection inside this process
// instead of failing with SQLITE_BUSY, and begin with BEGIN IMMEDIATE so
// that writers of other processes wait (busy_timeout) rather than deadlock.
// Writers commit one at a time, in id order (AUTOINCREMENT), so keyset
// pagination by id never skips or repeats an entry. Concurrent write calls
// share transactions (group commit, see combiner): one WAL append per group
// rather than per call.
type sqliteStore struct {
	w, r      *sql.DB
	opTimeout time.Duration
	lookup    *sql.Stmt // on w

	inserts map[int]*sql.Stmt // on w: multi-row INSERT by number of rows
	// writes groups Create, Approve and Delete into transactions on w.
	writes *combiner
	pruner proofPruner // of the DPoP replay ledger
}

func openSQLite(ctx context.Context, path, query string, o Options) (_ *sqliteStore, err error) {
	// Private files: the database holds everyone's timesheets. SQLite
	// creates the -wal and -shm files with the database file's permissions,
	// so creating that one 0600 here (SQLite would make it 0644) covers all
	// three. An existing file keeps its permissions.
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("store: create database directory: %w", err)
		}
	}
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, fmt.Errorf("store: create database file: %w", err)
	} else if err := f.Close(); err != nil {
		return nil, fmt.Errorf("store: create database file: %w", err)
	}
	params, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("store: SQLite URL parameters: %w", err)
	}
	params.Add("_pragma", "busy_timeout("+strconv.FormatInt(o.StatementTimeout.Milliseconds(), 10)+")")
	params.Add("_pragma", "journal_mode(WAL)")
	// In WAL mode NORMAL syncs at checkpoints, not at every commit: a
	// process crash loses no commit, a power loss may lose the last ones
	// but never corrupts the file. A URL may ask for more
	// (?_pragma=synchronous(FULL): an fsync per commit, i.e. per group).
	if !slices.ContainsFunc(params["_pragma"], func(p string) bool {
		return strings.HasPrefix(strings.ToLower(strings.TrimSpace(p)), "synchronous")
	}) {
		params.Add("_pragma", "synchronous(NORMAL)")
	}
	params.Add("_pragma", "foreign_keys(1)")
	params.Add("_pragma", "temp_store(MEMORY)") // statement journals in memory, not temp files
	wparams := url.Values{"_txlock": {"immediate"}}
	rparams := url.Values{"_pragma": {"query_only(1)"}}
	for k, v := range params {
		wparams[k] = append(wparams[k], v...)
		rparams[k] = append(rparams[k], v...)
	}

	s := &sqliteStore{opTimeout: o.OperationTimeout, inserts: map[int]*sql.Stmt{}}
	s.writes = &combiner{
		begin: func(ctx context.Context, _ []*member) (groupTx, error) {
			tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock)
			return sqliteTx{tx}, err
		},
		mapErr:    sqliteError,
		opTimeout: o.OperationTimeout,
		createMany: func(ctx context.Context, tx groupTx, entries []timesheets.Entry, res []timesheets.CreateResult) error {
			return s.create(ctx, tx.(sqliteTx).Tx, entries, res)
		},
		upsertMany: func(ctx context.Context, tx groupTx, entries []timesheets.Entry, res []timesheets.UpsertResult) error {
			r, err := upsert(ctx, s.entryTx(tx), entries, false, time.Now().UTC())
			copy(res, r)
			return err
		},
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.w, err = sql.Open("sqlite", path+"?"+wparams.Encode()); err != nil {
		return nil, fmt.Errorf("store: open SQLite: %w", err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	// goose reads the applied versions and then applies the missing ones,
	// each in its own transaction, so two processes opening a new file at
	// once could both apply a migration. A lock file next to the database
	// serialises them (SQLite's own locks cannot: goose needs the single
	// write connection for itself). It is never removed, so that two
	// processes cannot lock two different files of the same name.
	unlock, err := lockFile(ctx, path+"-migrate.lock")
	if err != nil {
		return nil, fmt.Errorf("store: lock SQLite migrations: %w", err)
	}
	err = migrate(ctx, s.w, goose.DialectSQLite3, o)
	unlock()
	if err != nil {
		return nil, sqliteError("open", err)
	}
	if err := s.prepareInserts(ctx); err != nil {
		return nil, sqliteError("open", err)
	}
	if s.lookup, err = s.w.PrepareContext(ctx, `SELECT id, owner FROM entries WHERE source = $1 AND external_id = $2 AND external_id <> ''`); err != nil {
		return nil, sqliteError("open", err)
	}
	if s.r, err = sql.Open("sqlite", path+"?"+rparams.Encode()); err != nil {
		return nil, fmt.Errorf("store: open SQLite: %w", err)
	}
	s.r.SetMaxOpenConns(o.MaxConns)
	s.r.SetMaxIdleConns(o.MaxConns)
	return s, nil
}

func (s *sqliteStore) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opTimeout)
}

// insertChunk is the most rows one INSERT statement carries (insertParams
// each; SQLite allows 32766). Statements for every power of two up to it are
// prepared at Open, so any number of rows takes few statements.
const insertChunk = 64

// insertParams is the number of columns an INSERT sets.
const insertParams = 21

// prepareInserts prepares the INSERT of n rows for each power of two n up
// to insertChunk. Each row has an id chosen by Create; RETURNING says which
// rows were inserted, the others conflicted with an existing
// (source, external_id).
func (s *sqliteStore) prepareInserts(ctx context.Context) error {
	for n := 1; n <= insertChunk; n *= 2 {
		var b strings.Builder
		b.WriteString(`INSERT INTO entries (id, user_type, user_id, date_ns, year, week, period_start, project, hours,
	source, external_id, status, created_by, created_at_ns, approved_by, approved_at_ns, owner,
	date_day, revision, updated_at_ns, source_updated_at_ns) VALUES `)
		for r := range n {
			if r > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(")
			for c := range insertParams {
				if c > 0 {
					b.WriteString(", ")
				}
				// Anonymous parameters: SQLite looks a named one ($n) up by
				// a linear scan, quadratic over a statement this long.
				b.WriteString("?")
			}
			b.WriteString(")")
		}
		b.WriteString(" ON CONFLICT (source, external_id) WHERE external_id <> '' DO NOTHING RETURNING id")
		st, err := s.w.PrepareContext(ctx, b.String())
		if err != nil {
			return err
		}
		s.inserts[n] = st
	}
	return nil
}

// Create inserts the entries with multi-row INSERTs in an IMMEDIATE
// transaction on the write connection, the transaction of its group (see
// combiner): all of them or none. The transaction holds the database's
// write lock from its start, so no other writer (of this or another
// process) can come between choosing the ids, inserting, and looking up the
// entries that the duplicates collided with.
func (s *sqliteStore) Create(ctx context.Context, entries []timesheets.Entry) ([]timesheets.CreateResult, error) {
	res := make([]timesheets.CreateResult, len(entries))
	if len(entries) == 0 {
		return res, nil
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	err := s.writes.create(ctx, entries, res, func(ctx context.Context, tx groupTx) error {
		return s.create(ctx, tx.(sqliteTx).Tx, entries, res)
	})
	if errors.Is(err, timesheets.ErrConflict) {
		return res, err
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// create inserts entries in tx and records their results in res. On
// ErrConflict (res tells which entries conflict) and any other error the
// caller rolls back what it inserted.
func (s *sqliteStore) create(ctx context.Context, tx *sql.Tx, entries []timesheets.Entry, res []timesheets.CreateResult) error {
	insert, firstOf := dedupe(entries)
	now := time.Now().UTC()
	// The next ids, as AUTOINCREMENT would choose them: above both the
	// largest id ever used and the largest present. Ids chosen for
	// duplicates stay unused, and may be chosen again by a later Create.
	var last int64
	if err := tx.QueryRowContext(ctx, `SELECT max(
		coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'entries'), 0),
		coalesce((SELECT max(id) FROM entries), 0))`).Scan(&last); err != nil {
		return sqliteError("create", err)
	}
	inserted := make(map[int64]bool, len(insert))
	args := make([]any, 0, insertParams*min(insertChunk, len(insert)))
	for lo := 0; lo < len(insert); {
		n := insertChunk
		for n > len(insert)-lo {
			n /= 2
		}
		chunk := insert[lo : lo+n]
		lo += n
		args = args[:0]
		for _, i := range chunk {
			last++
			res[i].ID = last
			r := newRow(entries[i], now)
			args = append(args, last, r.e.UserType, r.e.UserID, r.dateNS, r.year, r.week,
				r.periodStart.Format(time.DateOnly), r.e.Project, r.e.Hours, r.e.Source, r.e.ExternalID,
				r.e.Status, r.e.CreatedBy, r.createdNS, r.e.ApprovedBy, r.approvedNS, r.e.Owner,
				r.day, r.e.Revision, r.updatedNS, r.sourceUpdatedNS)
		}
		if err := collectIDs(tx.StmtContext(ctx, s.inserts[n]).QueryContext(ctx, args...))(inserted); err != nil {
			return sqliteError("create", err)
		}
	}
	look := tx.StmtContext(ctx, s.lookup)
	for _, i := range insert {
		if inserted[res[i].ID] {
			continue
		}
		// An entry with this (source, external_id) exists.
		var (
			id    int64
			owner string
		)
		if err := look.QueryRowContext(ctx, entries[i].Source, entries[i].ExternalID).Scan(&id, &owner); err != nil {
			return sqliteError("create", fmt.Errorf("entry %d was not inserted and duplicates nothing: %w", i, err))
		}
		res[i] = existing(entries[i], id, owner)
	}
	if fillRepeats(entries, res, firstOf) {
		return timesheets.ErrConflict
	}
	return nil
}

// collectIDs adds the ids that rows returns to a set.
func collectIDs(rows *sql.Rows, err error) func(map[int64]bool) error {
	return func(set map[int64]bool) error {
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			set[id] = true
		}
		return rows.Err()
	}
}

func (s *sqliteStore) Get(ctx context.Context, id int64) (timesheets.Entry, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	e, err := scanEntry(s.r.QueryRowContext(ctx, "SELECT "+columns+" FROM entries WHERE id = $1", id))
	if err != nil {
		return timesheets.Entry{}, sqliteError("get", err)
	}
	return e, nil
}

func (s *sqliteStore) List(ctx context.Context, f timesheets.Filter) (_ []timesheets.Entry, err error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	q, args := listQuery(f, func(t time.Time) any { return t.Format(time.DateOnly) })
	out, err := sqliteEntries(s.r.QueryContext(ctx, q, args...))
	if err != nil {
		return nil, sqliteError("list", err)
	}
	return out, nil
}

// sqliteEntries reads the entries of a query's rows.
func sqliteEntries(rows *sql.Rows, err error) ([]timesheets.Entry, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []timesheets.Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Delete removes the entry id in its group's transaction.
func (s *sqliteStore) Delete(ctx context.Context, id int64) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	return s.writes.do(ctx, "delete", 1, false, func(ctx context.Context, tx groupTx) error {
		return sqliteDelete(ctx, tx.(sqliteTx).Tx, id)
	})
}

func sqliteDelete(ctx context.Context, tx *sql.Tx, id int64) error {
	var status string
	err := tx.QueryRowContext(ctx, "DELETE FROM entries WHERE id = $1 AND status = 'pending' RETURNING status", id).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		// Not deleted: approved (locked), or not there.
		if err = tx.QueryRowContext(ctx, "SELECT status FROM entries WHERE id = $1", id).Scan(&status); err == nil {
			return timesheets.ErrLocked
		}
	}
	if err != nil {
		return sqliteError("delete", err)
	}
	return nil
}

// Approve approves the entry id in its group's transaction.
func (s *sqliteStore) Approve(ctx context.Context, id int64, approver string, at time.Time) (timesheets.Entry, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var e timesheets.Entry
	err := s.writes.do(ctx, "approve", 1, false, func(ctx context.Context, tx groupTx) (err error) {
		e, err = sqliteApprove(ctx, tx.(sqliteTx).Tx, id, approver, at)
		return err
	})
	if err != nil && !errors.Is(err, timesheets.ErrAlreadyApproved) {
		return timesheets.Entry{}, err
	}
	return e, err
}

func sqliteApprove(ctx context.Context, tx *sql.Tx, id int64, approver string, at time.Time) (timesheets.Entry, error) {
	e, err := scanEntry(tx.QueryRowContext(ctx, `UPDATE entries SET status = 'approved', approved_by = $2, approved_at_ns = $3,
		revision = revision + 1, updated_at_ns = $3
		WHERE id = $1 AND status = 'pending' RETURNING `+columns, id, approver, at.UnixNano()))
	if err == nil {
		return e, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return timesheets.Entry{}, sqliteError("approve", err)
	}
	e, err = scanEntry(tx.QueryRowContext(ctx, "SELECT "+columns+" FROM entries WHERE id = $1", id))
	if err != nil {
		return timesheets.Entry{}, sqliteError("approve", err)
	}
	return e, timesheets.ErrAlreadyApproved
}

// Upsert stores entries in its group's transaction (see upsert).
func (s *sqliteStore) Upsert(ctx context.Context, entries []timesheets.Entry, allOrNothing bool) (res []timesheets.UpsertResult, err error) {
	if len(entries) == 0 {
		return nil, nil
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	res = make([]timesheets.UpsertResult, len(entries))
	m := &member{ctx: ctx, op: "upsert", entries: len(entries), create: true, fn: func(ctx context.Context, tx groupTx) error {
		r, err := upsert(ctx, s.entryTx(tx), entries, allOrNothing, time.Now().UTC())
		copy(res, r)
		return err
	}}
	if len(entries) == 1 && !allOrNothing {
		m.uentry, m.ures = &entries[0], res // mergeable with the group's others
	}
	err = s.writes.run1(m)
	return res, err
}

// Update replaces an entry's content in its group's transaction.
func (s *sqliteStore) Update(ctx context.Context, e timesheets.Entry, ifRevision int64) (out timesheets.Entry, err error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	err = s.writes.do(ctx, "update", 1, false, func(ctx context.Context, tx groupTx) (err error) {
		out, err = update(ctx, s.entryTx(tx), e, ifRevision, time.Now().UTC())
		return err
	})
	return out, err
}

// Prune deletes in its group's transaction (see prune).
func (s *sqliteStore) Prune(ctx context.Context, p timesheets.Prune) (res timesheets.PruneResult, err error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	err = s.writes.do(ctx, "prune", max(p.Limit, 1), false, func(ctx context.Context, tx groupTx) (err error) {
		res, err = prune(ctx, s.entryTx(tx), p)
		return err
	})
	return res, err
}

// Checkpoint reads what owner has of source, on a read connection.
func (s *sqliteStore) Checkpoint(ctx context.Context, owner, source string) (timesheets.Checkpoint, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var (
		c  timesheets.Checkpoint
		ns *int64
	)
	err := s.r.QueryRowContext(ctx, selectCheckpoint, owner, source).Scan(&c.Entries, &ns)
	if err != nil {
		return timesheets.Checkpoint{}, sqliteError("checkpoint", err)
	}
	c.SourceUpdatedAt = fromNanos(ns)
	return c, nil
}

// SetCheckpoint records a checkpoint in its group's transaction.
func (s *sqliteStore) SetCheckpoint(ctx context.Context, owner, source string, at time.Time) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	return s.writes.do(ctx, "checkpoint", 1, false, func(ctx context.Context, tx groupTx) error {
		if _, err := tx.(sqliteTx).ExecContext(ctx, `INSERT INTO upload_checkpoints (owner, source, source_updated_at_ns) VALUES ($1, $2, $3)
			ON CONFLICT (owner, source) DO UPDATE SET source_updated_at_ns = max(source_updated_at_ns, excluded.source_updated_at_ns)`,
			owner, source, at.UnixNano()); err != nil {
			return sqliteError("checkpoint", err)
		}
		return nil
	})
}

func (s *sqliteStore) entryTx(tx groupTx) sqliteEntryTx {
	return sqliteEntryTx{s: s, tx: tx.(sqliteTx).Tx}
}

// sqliteEntryTx gives upsert, update and prune the statements they need.
// The write transaction holds the database's write lock from its start,
// so what lock reads stays as read until the commit.
type sqliteEntryTx struct {
	s  *sqliteStore
	tx *sql.Tx
}

func (t sqliteEntryTx) create(ctx context.Context, entries []timesheets.Entry, res []timesheets.CreateResult) error {
	return t.s.create(ctx, t.tx, entries, res)
}

func (t sqliteEntryTx) lock(ctx context.Context, ids []int64) (map[int64]timesheets.Entry, error) {
	out, err := sqliteEntries(t.tx.QueryContext(ctx, "SELECT "+columns+" FROM entries WHERE id IN (SELECT value FROM json_each($1))", jsonArray(ids)))
	if err != nil {
		return nil, sqliteError("read", err)
	}
	return byID(out), nil
}

func (t sqliteEntryTx) rewrite(ctx context.Context, e timesheets.Entry) error {
	r := newRow(e, e.UpdatedAt)
	_, err := t.tx.ExecContext(ctx, rewriteEntry, e.ID, r.e.UserType, r.e.UserID, r.dateNS, r.year, r.week, r.periodStart.Format(time.DateOnly),
		r.e.Project, r.e.Hours, r.day, r.e.Revision, r.updatedNS, r.sourceUpdatedNS)
	if err != nil {
		return sqliteError("update", err)
	}
	return nil
}

func (t sqliteEntryTx) candidates(ctx context.Context, p timesheets.Prune, locked bool, n int) ([]timesheets.PrunedEntry, error) {
	status := timesheets.StatusPending
	if locked {
		status = timesheets.StatusApproved
	}
	rows, err := t.tx.QueryContext(ctx, `SELECT id, external_id FROM entries
		WHERE owner = $1 AND source = $2 AND external_id <> '' AND period_start BETWEEN $3 AND $4 AND status = $5
		AND external_id NOT IN (SELECT value FROM json_each($6)) ORDER BY id LIMIT $7`,
		p.Owner, p.Source, timesheets.Day(p.From).Format(time.DateOnly), timesheets.Day(p.To).Format(time.DateOnly), status, jsonArray(p.Keep), n)
	if err != nil {
		return nil, sqliteError("prune", err)
	}
	defer rows.Close()
	var out []timesheets.PrunedEntry
	for rows.Next() {
		var e timesheets.PrunedEntry
		if err := rows.Scan(&e.ID, &e.ExternalID); err != nil {
			return nil, sqliteError("prune", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, sqliteError("prune", err)
	}
	return out, nil
}

func (t sqliteEntryTx) deleteIDs(ctx context.Context, ids []int64) error {
	if _, err := t.tx.ExecContext(ctx, "DELETE FROM entries WHERE status = 'pending' AND id IN (SELECT value FROM json_each($1))", jsonArray(ids)); err != nil {
		return sqliteError("prune", err)
	}
	return nil
}

// sqliteTx is a group's transaction on the write connection.
type sqliteTx struct{ *sql.Tx }

func (tx sqliteTx) exec(ctx context.Context, q string) error {
	_, err := tx.ExecContext(ctx, q)
	return err
}

func (tx sqliteTx) commit(context.Context) error { return tx.Commit() }
func (tx sqliteTx) rollback()                    { _ = tx.Rollback() }

func (s *sqliteStore) group() *combiner { return s.writes }

func (s *sqliteStore) Ping(ctx context.Context) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var one int
	if err := s.r.QueryRowContext(ctx, "SELECT 1 FROM sqlite_schema LIMIT 1").Scan(&one); err != nil {
		return sqliteError("ping", err)
	}
	return nil
}

func (s *sqliteStore) Close() error {
	var errs []error
	for _, st := range s.inserts {
		errs = append(errs, st.Close())
	}
	if s.lookup != nil {
		errs = append(errs, s.lookup.Close())
	}
	for _, db := range []*sql.DB{s.r, s.w} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	return errors.Join(errs...)
}

// sqliteError maps err: no rows to ErrNotFound; a locked database (past
// busy_timeout), I/O failures and timeouts to ErrUnavailable.
func sqliteError(op string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return timesheets.ErrNotFound
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return unavailable(op, err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL,
			sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_INTERRUPT:
			return unavailable(op, err)
		}
	}
	return fmt.Errorf("store: %s: %w", op, err)
}
