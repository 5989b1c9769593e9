package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// createLockID is the transaction-level advisory lock every Create takes
// before it assigns ids; see pgStore.Create. An arbitrary constant, distinct
// from migrationLockID.
const createLockID int64 = 0x7473_6372_6561 // "tscrea"

// pgStore keeps entries in PostgreSQL.
type pgStore struct {
	pool      *pgxpool.Pool
	opTimeout time.Duration
	// writes groups Create, Approve and Delete into transactions, one at a
	// time, each on one pooled connection: writers commit one at a time
	// anyway (see Create), and those waiting for the id-order lock must not
	// take every connection from the readers. Each replica groups its own.
	writes *combiner
	pruner proofPruner // of the DPoP replay ledger

	// Test hook, set only by this package's tests.
	unorderedIDs bool // skip the id-order lock, to show what it prevents
}

func openPostgres(ctx context.Context, url string, o Options) (*pgStore, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: parse PostgreSQL URL: %w", err)
	}
	switch {
	case o.MaxConns > 0:
		cfg.MaxConns = int32(o.MaxConns)
	case !strings.Contains(url, "pool_max_conns="):
		cfg.MaxConns = DefaultPostgresMaxConns
	}
	cfg.ConnConfig.ConnectTimeout = o.ConnectTimeout
	// An idle connection is pinged before use (pgxpool's default: after 1s
	// idle), so connections broken by a database restart are replaced
	// transparently; bound that ping too.
	cfg.PingTimeout = o.ConnectTimeout
	cfg.HealthCheckPeriod = 15 * time.Second
	rp := cfg.ConnConfig.RuntimeParams
	// A slow database fails statements instead of piling up requests.
	rp["statement_timeout"] = strconv.FormatInt(o.StatementTimeout.Milliseconds(), 10)
	// A transaction left open by a stuck client does not hold locks forever.
	rp["idle_in_transaction_session_timeout"] = strconv.FormatInt((2 * o.OperationTimeout).Milliseconds(), 10)
	if rp["application_name"] == "" {
		rp["application_name"] = "timesheets"
	}

	// Migrations run on their own connections without the statement timeout
	// (an index build may take longer than a request may).
	mcfg := cfg.ConnConfig.Copy()
	mcfg.RuntimeParams["statement_timeout"] = "0"
	db := stdlib.OpenDB(*mcfg)
	err = migrate(ctx, db, goose.DialectPostgres, o)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, pgError("open", err)
	}

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, pgError("open", err)
	}
	s := &pgStore{pool: pool, opTimeout: o.OperationTimeout}
	s.writes = &combiner{begin: s.begin, mapErr: pgError, opTimeout: o.OperationTimeout,
		createMany: func(ctx context.Context, tx groupTx, entries []timesheets.Entry, res []timesheets.CreateResult) error {
			return pgCreate(ctx, tx.(pgTx).Tx, entries, res)
		},
		upsertMany: func(ctx context.Context, tx groupTx, entries []timesheets.Entry, res []timesheets.UpsertResult) error {
			r, err := upsert(ctx, pgEntryTx{tx.(pgTx).Tx}, entries, false, time.Now().UTC())
			copy(res, r)
			return err
		}}
	return s, nil
}

// begin opens a group's transaction. If any member creates entries, it
// first takes the id-order lock (see Create), outside every member's
// savepoint: a lock taken inside one would be released when that member
// rolls back.
//
// Groups of two replicas that approve or delete the same rows in opposite
// orders can deadlock, which single-statement calls could not: PostgreSQL
// then fails one statement (40P01, ErrUnavailable, retryable) after
// deadlock_timeout; that member is rolled back to its savepoint, which
// releases its row locks, and the rest of both groups commit.
func (s *pgStore) begin(ctx context.Context, g []*member) (groupTx, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	if !s.unorderedIDs && slices.ContainsFunc(g, func(m *member) bool { return m.create }) {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", createLockID); err != nil {
			_ = tx.Rollback(ctx)
			return nil, err
		}
	}
	return pgTx{tx}, nil
}

// pgTx is a group's transaction on one pooled connection.
type pgTx struct{ pgx.Tx }

func (tx pgTx) exec(ctx context.Context, q string) error {
	_, err := tx.Exec(ctx, q)
	return err
}

func (tx pgTx) commit(ctx context.Context) error { return tx.Commit(ctx) }

func (tx pgTx) rollback() {
	// The group's context may have ended; the rollback gets a moment of
	// its own (pgx closes the connection if it cannot roll back).
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = tx.Rollback(ctx)
}

func (s *pgStore) group() *combiner { return s.writes }

func (s *pgStore) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opTimeout)
}

// Create stores entries in one transaction with set-based statements: a
// few round trips whatever the number of entries. It inserts them all with
// INSERT ... SELECT FROM unnest(...) ON CONFLICT (source, external_id) DO
// NOTHING and then looks up the entries that the conflicting ones
// duplicate.
//
// Ids become visible in ascending order. A PostgreSQL sequence alone does
// not guarantee that: transaction A takes id 10, B takes 11 and commits
// first, a reader pages past 11 with cursor 11, then A commits 10, which the
// reader never sees. So every Create first takes the transaction-level
// advisory lock createLockID, and only then draws its ids from the
// sequence. PostgreSQL releases the lock after the commit has become
// visible, so the next writer draws greater ids and commits later: commit
// order equals id order. A reader whose snapshot holds some id therefore
// also holds every smaller id that will ever be committed, and keyset
// pagination by id (List with AfterID) can neither skip nor repeat an entry
// while others write. The cost is that writers (of all replicas) commit one
// at a time; with set-based batches that is still tens of thousands of
// entries/s. Any other code that inserts into entries must take the same
// lock.
//
// Concurrent calls share transactions (group commit, see combiner); the
// lock is then taken once per group, and the group's members draw their
// ids in order inside it.
func (s *pgStore) Create(ctx context.Context, entries []timesheets.Entry) ([]timesheets.CreateResult, error) {
	res := make([]timesheets.CreateResult, len(entries))
	if len(entries) == 0 {
		return res, nil
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	err := s.writes.create(ctx, entries, res, func(ctx context.Context, tx groupTx) error {
		return pgCreate(ctx, tx.(pgTx).Tx, entries, res)
	})
	if errors.Is(err, timesheets.ErrConflict) {
		return res, err
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// pgCreate inserts entries in tx, which holds the id-order lock, and
// records their results in res. On ErrConflict (res tells which entries
// conflict) and any other error the caller rolls back what it inserted.
func pgCreate(ctx context.Context, tx pgx.Tx, entries []timesheets.Entry, res []timesheets.CreateResult) error {
	insert, firstOf := dedupe(entries)
	now := time.Now().UTC()
	rows := make([]row, len(entries))
	for _, i := range insert {
		rows[i] = newRow(entries[i], now)
	}
	pending := insert
	// One round, unless an entry conflicted with one that was deleted
	// before the lookup: then it is inserted in another round.
	for round := 0; len(pending) > 0; round++ {
		if round == 3 {
			return pgError("create", errors.New("conflicting entries keep changing; retry"))
		}
		ids, err := nextIDs(ctx, tx, len(pending))
		if err != nil {
			return pgError("create", err)
		}
		for k, i := range pending {
			res[i] = timesheets.CreateResult{ID: ids[k]}
		}
		inserted, err := insertRows(ctx, tx, rows, pending, res)
		if err != nil {
			return pgError("create", err)
		}
		var conflicts []int
		for _, i := range pending {
			if !inserted[res[i].ID] {
				conflicts = append(conflicts, i)
			}
		}
		if pending, err = resolveDuplicates(ctx, tx, entries, conflicts, res); err != nil {
			return pgError("create", err)
		}
	}
	if fillRepeats(entries, res, firstOf) {
		return timesheets.ErrConflict
	}
	return nil
}

// nextIDs draws n ascending ids from the sequence.
func nextIDs(ctx context.Context, tx pgx.Tx, n int) ([]int64, error) {
	r, err := tx.Query(ctx, "SELECT nextval('entries_id_seq') FROM generate_series(1, $1)", n)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(r, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	if len(ids) != n {
		return nil, fmt.Errorf("drew %d ids for %d entries", len(ids), n)
	}
	slices.Sort(ids)
	return ids, nil
}

const pgInsert = `INSERT INTO entries (id, user_type, user_id, date_ns, year, week, period_start, project, hours,
	source, external_id, status, created_by, created_at_ns, approved_by, approved_at_ns, owner,
	date_day, revision, updated_at_ns, source_updated_at_ns)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::int[], $6::int[], $7::date[],
	$8::text[], $9::float8[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bigint[], $15::text[], $16::bigint[],
	$17::text[], $18::smallint[], $19::bigint[], $20::bigint[], $21::bigint[])
ON CONFLICT (source, external_id) WHERE external_id <> '' DO NOTHING
RETURNING id`

// insertRows inserts the rows idx (with the ids already in res) and returns
// the ids actually inserted; the others conflicted with an existing entry.
func insertRows(ctx context.Context, tx pgx.Tx, rows []row, idx []int, res []timesheets.CreateResult) (map[int64]bool, error) {
	n := len(idx)
	var (
		id, createdNS                         = make([]int64, n), make([]int64, n)
		dateNS, year, week, approvedNS        = make([]*int64, n), make([]*int64, n), make([]*int64, n), make([]*int64, n)
		periodStart                           = make([]time.Time, n)
		hours                                 = make([]float64, n)
		userType, userID, project, source     = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		externalID, status, createdBy, apprBy = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		owner                                 = make([]string, n)
		day                                   = make([]int16, n)
		revision, updatedNS                   = make([]int64, n), make([]int64, n)
		sourceUpdatedNS                       = make([]*int64, n)
	)
	for k, i := range idx {
		r := &rows[i]
		id[k], createdNS[k] = res[i].ID, r.createdNS
		dateNS[k], year[k], week[k], approvedNS[k] = r.dateNS, r.year, r.week, r.approvedNS
		periodStart[k], hours[k] = r.periodStart, r.e.Hours
		userType[k], userID[k], project[k], source[k] = r.e.UserType, r.e.UserID, r.e.Project, r.e.Source
		externalID[k], status[k], createdBy[k], apprBy[k] = r.e.ExternalID, r.e.Status, r.e.CreatedBy, r.e.ApprovedBy
		owner[k], day[k], revision[k], updatedNS[k], sourceUpdatedNS[k] = r.e.Owner, int16(r.day), r.e.Revision, r.updatedNS, r.sourceUpdatedNS
	}
	out, err := tx.Query(ctx, pgInsert, id, userType, userID, dateNS, year, week, periodStart, project, hours,
		source, externalID, status, createdBy, createdNS, apprBy, approvedNS, owner, day, revision, updatedNS, sourceUpdatedNS)
	if err != nil {
		return nil, err
	}
	inserted := make(map[int64]bool, n)
	var got int64
	_, err = pgx.ForEachRow(out, []any{&got}, func() error {
		inserted[got] = true
		return nil
	})
	return inserted, err
}

// resolveDuplicates looks up the existing entries that the entries idx
// conflicted with and records them in res as duplicates, or as conflicts
// where another owner holds the key. It returns the
// entries whose conflicting entry is gone by now (deleted meanwhile). Under
// READ COMMITTED the lookup, a new statement, sees every entry committed
// before it started, including one that the INSERT had to wait for and then
// conflicted with (which the id-order lock makes impossible between two
// Creates, but not with rows inserted by other means).
func resolveDuplicates(ctx context.Context, tx pgx.Tx, entries []timesheets.Entry, idx []int, res []timesheets.CreateResult) ([]int, error) {
	var sources, extIDs []string
	for _, i := range idx {
		if entries[i].ExternalID != "" {
			sources, extIDs = append(sources, entries[i].Source), append(extIDs, entries[i].ExternalID)
		}
	}
	type key struct{ source, externalID string }
	type holder struct {
		id    int64
		owner string
	}
	found := make(map[key]holder, len(sources))
	if len(sources) > 0 {
		// One probe of the unique index per key. (A plain join is planned,
		// in a cached generic plan, as a hash join over the whole table;
		// LIMIT 1 keeps the LATERAL subquery from being flattened into one.)
		rows, err := tx.Query(ctx, `SELECT e.id, e.owner, k.source, k.external_id
		FROM unnest($1::text[], $2::text[]) AS k(source, external_id)
		CROSS JOIN LATERAL (SELECT id, owner FROM entries
			WHERE source = k.source AND external_id = k.external_id AND external_id <> '' LIMIT 1) e`, sources, extIDs)
		if err != nil {
			return nil, err
		}
		var (
			h        holder
			src, ext string
		)
		if _, err := pgx.ForEachRow(rows, []any{&h.id, &h.owner, &src, &ext}, func() error {
			found[key{src, ext}] = h
			return nil
		}); err != nil {
			return nil, err
		}
	}
	var pending []int
	for _, i := range idx {
		if h, ok := found[key{entries[i].Source, entries[i].ExternalID}]; ok && entries[i].ExternalID != "" {
			res[i] = existing(entries[i], h.id, h.owner)
		} else {
			pending = append(pending, i)
		}
	}
	return pending, nil
}

func (s *pgStore) Get(ctx context.Context, id int64) (timesheets.Entry, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	e, err := scanEntry(s.pool.QueryRow(ctx, "SELECT "+columns+" FROM entries WHERE id = $1", id))
	if err != nil {
		return timesheets.Entry{}, pgError("get", err)
	}
	return e, nil
}

func (s *pgStore) List(ctx context.Context, f timesheets.Filter) ([]timesheets.Entry, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	q, args := listQuery(f, func(t time.Time) any { return t })
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, pgError("list", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (timesheets.Entry, error) { return scanEntry(r) })
	if err != nil {
		return nil, pgError("list", err)
	}
	return out, nil
}

// Delete removes the entry id in its group's transaction.
func (s *pgStore) Delete(ctx context.Context, id int64) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	return s.writes.do(ctx, "delete", 1, false, func(ctx context.Context, tx groupTx) error {
		return pgDelete(ctx, tx.(pgTx).Tx, id)
	})
}

// pgDelete deletes a pending entry. Against a concurrent approval, the
// DELETE waits for its commit, re-checks status, and deletes nothing.
func pgDelete(ctx context.Context, tx pgx.Tx, id int64) error {
	tag, err := tx.Exec(ctx, "DELETE FROM entries WHERE id = $1 AND status = 'pending'", id)
	if err != nil {
		return pgError("delete", err)
	}
	if tag.RowsAffected() == 0 {
		// Not deleted: approved (locked), or not there.
		var status string
		if err := tx.QueryRow(ctx, "SELECT status FROM entries WHERE id = $1", id).Scan(&status); err != nil {
			return pgError("delete", err)
		}
		return timesheets.ErrLocked
	}
	return nil
}

// Approve approves the entry id in its group's transaction.
func (s *pgStore) Approve(ctx context.Context, id int64, approver string, at time.Time) (timesheets.Entry, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var e timesheets.Entry
	err := s.writes.do(ctx, "approve", 1, false, func(ctx context.Context, tx groupTx) (err error) {
		e, err = pgApprove(ctx, tx.(pgTx).Tx, id, approver, at)
		return err
	})
	if err != nil && !errors.Is(err, timesheets.ErrAlreadyApproved) {
		return timesheets.Entry{}, err
	}
	return e, err
}

// pgApprove is one conditional UPDATE: of two concurrent approvals (of two
// replicas) the second waits for the first to commit, re-checks
// status = 'pending', and updates nothing.
func pgApprove(ctx context.Context, tx pgx.Tx, id int64, approver string, at time.Time) (timesheets.Entry, error) {
	e, err := scanEntry(tx.QueryRow(ctx, `UPDATE entries SET status = 'approved', approved_by = $2, approved_at_ns = $3,
		revision = revision + 1, updated_at_ns = $3
		WHERE id = $1 AND status = 'pending' RETURNING `+columns, id, approver, at.UnixNano()))
	if err == nil {
		return e, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return timesheets.Entry{}, pgError("approve", err)
	}
	e, err = scanEntry(tx.QueryRow(ctx, "SELECT "+columns+" FROM entries WHERE id = $1", id))
	if err != nil {
		return timesheets.Entry{}, pgError("approve", err)
	}
	return e, timesheets.ErrAlreadyApproved
}

// Upsert stores entries in its group's transaction (see upsert). As a
// Create, it takes the id-order lock; entries it reads, it locks (FOR
// UPDATE), so that an approval or update of another replica waits for it,
// or it for them.
func (s *pgStore) Upsert(ctx context.Context, entries []timesheets.Entry, allOrNothing bool) (res []timesheets.UpsertResult, err error) {
	if len(entries) == 0 {
		return nil, nil
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	res = make([]timesheets.UpsertResult, len(entries))
	m := &member{ctx: ctx, op: "upsert", entries: len(entries), create: true, fn: func(ctx context.Context, tx groupTx) error {
		r, err := upsert(ctx, pgEntryTx{tx.(pgTx).Tx}, entries, allOrNothing, time.Now().UTC())
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
func (s *pgStore) Update(ctx context.Context, e timesheets.Entry, ifRevision int64) (out timesheets.Entry, err error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	err = s.writes.do(ctx, "update", 1, false, func(ctx context.Context, tx groupTx) (err error) {
		out, err = update(ctx, pgEntryTx{tx.(pgTx).Tx}, e, ifRevision, time.Now().UTC())
		return err
	})
	return out, err
}

// Prune deletes in its group's transaction (see prune).
func (s *pgStore) Prune(ctx context.Context, p timesheets.Prune) (res timesheets.PruneResult, err error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	err = s.writes.do(ctx, "prune", max(p.Limit, 1), false, func(ctx context.Context, tx groupTx) (err error) {
		res, err = prune(ctx, pgEntryTx{tx.(pgTx).Tx}, p)
		return err
	})
	return res, err
}

// Checkpoint reads what owner has of source (index entries_owner_source).
func (s *pgStore) Checkpoint(ctx context.Context, owner, source string) (timesheets.Checkpoint, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var (
		c  timesheets.Checkpoint
		ns *int64
	)
	if err := s.pool.QueryRow(ctx, selectCheckpoint, owner, source).Scan(&c.Entries, &ns); err != nil {
		return timesheets.Checkpoint{}, pgError("checkpoint", err)
	}
	c.SourceUpdatedAt = fromNanos(ns)
	return c, nil
}

// SetCheckpoint records a checkpoint with one statement of its own.
func (s *pgStore) SetCheckpoint(ctx context.Context, owner, source string, at time.Time) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	if _, err := s.pool.Exec(ctx, `INSERT INTO upload_checkpoints (owner, source, source_updated_at_ns) VALUES ($1, $2, $3)
		ON CONFLICT (owner, source) DO UPDATE SET source_updated_at_ns = GREATEST(upload_checkpoints.source_updated_at_ns, excluded.source_updated_at_ns)`,
		owner, source, at.UnixNano()); err != nil {
		return pgError("checkpoint", err)
	}
	return nil
}

// pgEntryTx gives upsert, update and prune the statements they need.
type pgEntryTx struct{ tx pgx.Tx }

func (t pgEntryTx) create(ctx context.Context, entries []timesheets.Entry, res []timesheets.CreateResult) error {
	return pgCreate(ctx, t.tx, entries, res)
}

// lock reads and row-locks the entries, in id order so that two
// transactions locking overlapping sets cannot deadlock.
func (t pgEntryTx) lock(ctx context.Context, ids []int64) (map[int64]timesheets.Entry, error) {
	rows, err := t.tx.Query(ctx, "SELECT "+columns+" FROM entries WHERE id = ANY($1) ORDER BY id FOR UPDATE", ids)
	if err != nil {
		return nil, pgError("read", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (timesheets.Entry, error) { return scanEntry(r) })
	if err != nil {
		return nil, pgError("read", err)
	}
	return byID(out), nil
}

func (t pgEntryTx) rewrite(ctx context.Context, e timesheets.Entry) error {
	r := newRow(e, e.UpdatedAt)
	_, err := t.tx.Exec(ctx, rewriteEntry, e.ID, r.e.UserType, r.e.UserID, r.dateNS, r.year, r.week, r.periodStart,
		r.e.Project, r.e.Hours, int16(r.day), r.e.Revision, r.updatedNS, r.sourceUpdatedNS)
	if err != nil {
		return pgError("update", err)
	}
	return nil
}

func (t pgEntryTx) candidates(ctx context.Context, p timesheets.Prune, locked bool, n int) ([]timesheets.PrunedEntry, error) {
	status := timesheets.StatusPending
	if locked {
		status = timesheets.StatusApproved
	}
	keep := p.Keep
	if keep == nil {
		keep = []string{}
	}
	// FOR UPDATE: an approval racing the prune either commits first (and
	// the entry is kept as approved) or waits for the prune.
	rows, err := t.tx.Query(ctx, `SELECT id, external_id FROM entries
		WHERE owner = $1 AND source = $2 AND external_id <> '' AND period_start BETWEEN $3 AND $4 AND status = $5
		AND external_id NOT IN (SELECT unnest($6::text[])) ORDER BY id LIMIT $7 FOR UPDATE`,
		p.Owner, p.Source, timesheets.Day(p.From), timesheets.Day(p.To), status, keep, n)
	if err != nil {
		return nil, pgError("prune", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (timesheets.PrunedEntry, error) {
		var e timesheets.PrunedEntry
		return e, r.Scan(&e.ID, &e.ExternalID)
	})
	if err != nil {
		return nil, pgError("prune", err)
	}
	return out, nil
}

func (t pgEntryTx) deleteIDs(ctx context.Context, ids []int64) error {
	if _, err := t.tx.Exec(ctx, "DELETE FROM entries WHERE status = 'pending' AND id = ANY($1)", ids); err != nil {
		return pgError("prune", err)
	}
	return nil
}

func (s *pgStore) Ping(ctx context.Context) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		return pgError("ping", err)
	}
	return nil
}

func (s *pgStore) Close() error {
	s.pool.Close()
	return nil
}

// pgError maps err: no rows to ErrNotFound, connection and timeout
// failures to ErrUnavailable.
func pgError(op string, err error) error {
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return timesheets.ErrNotFound
	case pgUnavailable(err):
		return unavailable(op, err)
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// pgUnavailable tells whether err means the database cannot serve now but
// may later: the server is down, restarting, overloaded or too slow.
func pgUnavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch code := pgErr.Code; {
		case strings.HasPrefix(code, "08"), // connection exception
			strings.HasPrefix(code, "53"), // insufficient resources (too many connections, disk full)
			strings.HasPrefix(code, "58"), // system error (I/O)
			code == "57P01",               // admin_shutdown
			code == "57P02",               // crash_shutdown
			code == "57P03",               // cannot_connect_now (starting up, recovering)
			code == "57014",               // query_canceled: statement_timeout
			code == "55P03",               // lock_not_available: lock_timeout
			code == "25P03",               // idle_in_transaction_session_timeout
			code == "40001",               // serialization_failure
			code == "40P01":               // deadlock_detected
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &connectErr) ||
		pgconn.Timeout(err) ||
		pgconn.SafeToRetry(err) ||
		errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		// A connection pgconn closed (after a cancelled query, or a lost
		// socket) says so with ErrConnClosed; a use of a socket closed
		// under it, with net.ErrClosed.
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, net.ErrClosed)
}
