package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/store/pgtest"
	"github.com/abc-inc/timesheets/pkg/timesheets"
)

func openPG(t testing.TB, url string, o Options) *pgStore {
	t.Helper()
	st, err := Open(ctxT(t), url, o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st.(traced).Store.(*pgStore)
}

// TestPostgresIDsVisibleInOrder shows, deterministically, the race that
// would make keyset pagination skip an entry, and that Create's id-order
// lock prevents it: writer A draws an id and pauses before COMMIT, writer B
// draws the next id; a reader pages to the end, then A commits.
//
// With the lock, B waits for A, so the reader sees neither until both are
// visible in id order. Without it (the control), B commits first, the
// reader's cursor passes B's id, and A's smaller id is never seen.
func TestPostgresIDsVisibleInOrder(t *testing.T) {
	t.Run("with lock", func(t *testing.T) {
		skipped, bWaited := idOrderScenario(t, false)
		assert.Empty(t, skipped, "pagination skipped entries")
		assert.True(t, bWaited, "writer B committed while writer A held the id-order lock")
	})
	t.Run("control without lock", func(t *testing.T) {
		skipped, bWaited := idOrderScenario(t, true)
		assert.False(t, bWaited)
		assert.NotEmpty(t, skipped, "the scenario should skip an entry without the lock; the test would prove nothing")
	})
}

func idOrderScenario(t *testing.T, unordered bool) (skipped []int64, bWaited bool) {
	url := pgtest.Database(t)
	a, b, reader := openPG(t, url, Options{}), openPG(t, url, Options{}), openPG(t, url, Options{})
	a.unorderedIDs, b.unorderedIDs = unordered, unordered
	paused, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	a.writes.beforeCommit = func(context.Context, int) {
		once.Do(func() { close(paused); <-resume })
	}
	ctx := ctxT(t)
	errA, errB := make(chan error, 1), make(chan error, 1)
	go func() { _, err := a.Create(ctx, []timesheets.Entry{dayEntry(1)}); errA <- err }()
	<-paused // A holds its id, uncommitted
	go func() { _, err := b.Create(ctx, []timesheets.Entry{dayEntry(2)}); errB <- err }()
	// B either commits or waits for a lock A holds: poll for whichever
	// comes first, rather than giving B a fixed time.
	bDone := false
	for waiting := false; !bDone && !waiting; {
		select {
		case err := <-errB:
			require.NoError(t, err)
			bDone = true
		case <-time.After(2 * time.Millisecond):
			waiting = lockWaiters(t, reader) > 0
		}
	}

	// Page to the end now, then continue from the cursor once A committed.
	seen := ids(listAll(t, reader, timesheets.Filter{Limit: 1}))
	var cursor int64
	if len(seen) > 0 {
		cursor = seen[len(seen)-1]
	}
	close(resume)
	require.NoError(t, <-errA)
	if !bDone {
		require.NoError(t, <-errB)
	}
	seen = append(seen, ids(listAll(t, reader, timesheets.Filter{AfterID: cursor, Limit: 1}))...)
	for _, id := range ids(listAll(t, reader, timesheets.Filter{})) {
		if !slices.Contains(seen, id) {
			skipped = append(skipped, id)
		}
	}
	return skipped, !bDone
}

// lockWaiters counts the sessions of st's database waiting for a lock.
func lockWaiters(t testing.TB, st *pgStore) int {
	t.Helper()
	var n int
	require.NoError(t, st.pool.QueryRow(ctxT(t),
		"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'").Scan(&n))
	return n
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPostgresDuplicatesWithoutLock uploads the same batch through two
// stores at once with the id-order lock switched off, so that the two
// INSERTs really race: ON CONFLICT makes the second wait for the first, and
// the duplicate lookup that follows sees the row the first committed.
func TestPostgresDuplicatesWithoutLock(t *testing.T) {
	url := pgtest.Database(t)
	a, b := openPG(t, url, Options{}), openPG(t, url, Options{})
	a.unorderedIDs, b.unorderedIDs = true, true
	for round := range 10 {
		batch := make([]timesheets.Entry, 300)
		for i := range batch {
			batch[i] = ext(dayEntry(i), "race", fmt.Sprintf("%d-%d", round, i))
		}
		var ra, rb []timesheets.CreateResult
		var ea, eb error
		var wg sync.WaitGroup
		wg.Go(func() { ra, ea = a.Create(ctxT(t), batch) })
		wg.Go(func() { rb, eb = b.Create(ctxT(t), batch) })
		wg.Wait()
		require.NoError(t, ea)
		require.NoError(t, eb)
		for i := range batch {
			require.Equal(t, ra[i].ID, rb[i].ID, "entry %d", i)
			require.True(t, ra[i].Duplicate != rb[i].Duplicate, "entry %d: created %v/%v", i, !ra[i].Duplicate, !rb[i].Duplicate)
		}
	}
	assert.Len(t, listAll(t, a, timesheets.Filter{Limit: timesheets.MaxPageSize}), 3000)
}

// TestPostgresConcurrentMigrations opens several stores at once on a new
// database, as replicas starting together do: all succeed and each
// migration is applied once.
func TestPostgresConcurrentMigrations(t *testing.T) {
	url := pgtest.Database(t)
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			st, err := Open(ctxT(t), url, Options{MaxConns: 2})
			if err == nil {
				_, err = st.Create(ctxT(t), []timesheets.Entry{dayEntry(i)})
				st.Close()
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "open %d", i)
	}

	c, err := pgx.Connect(ctxT(t), url)
	require.NoError(t, err)
	defer c.Close(context.Background())
	rows, err := c.Query(ctxT(t), "SELECT version_id, count(*) FROM goose_db_version GROUP BY version_id ORDER BY version_id")
	require.NoError(t, err)
	applied := map[int64]int64{}
	var v, cnt int64
	_, err = pgx.ForEachRow(rows, []any{&v, &cnt}, func() error { applied[v] = cnt; return nil })
	require.NoError(t, err)
	assert.Equal(t, map[int64]int64{0: 1, 1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1}, applied)
	var indexes int
	require.NoError(t, c.QueryRow(ctxT(t), "SELECT count(*) FROM pg_indexes WHERE tablename = 'entries'").Scan(&indexes))
	assert.Equal(t, 7, indexes) // the primary key and six of migrations 2 and 4
	var entries int
	require.NoError(t, c.QueryRow(ctxT(t), "SELECT count(*) FROM entries").Scan(&entries))
	assert.Equal(t, n, entries)
}

// TestPostgresOutage stops the database under load: every failing call
// reports ErrUnavailable, and once the database is back the same store
// works again, without being reopened.
func TestPostgresOutage(t *testing.T) {
	srv := pgtest.New(t) // its own server: stopping it must not disturb other tests
	url := srv.NewDatabase(t)
	o := Options{StatementTimeout: time.Second, ConnectTimeout: time.Second}
	st := openPG(t, url, o)
	before := mustCreate(t, st, ext(dayEntry(1), "jira", "O-1"))

	// Background load for the whole test.
	var (
		loadCtx, stopLoad = context.WithCancel(context.Background())
		wg                sync.WaitGroup
		ok, unavail       atomic.Int64
		otherErrs         = make(chan error, 100)
	)
	defer stopLoad()
	for w := range 3 {
		wg.Go(func() {
			for i := 0; loadCtx.Err() == nil; i++ {
				var err error
				switch i % 3 {
				case 0:
					_, err = st.Create(loadCtx, []timesheets.Entry{dayEntry(w*1000 + i)})
				case 1:
					_, err = st.List(loadCtx, timesheets.Filter{Limit: 10})
				case 2:
					_, err = st.Get(loadCtx, before[0].ID)
				}
				switch {
				case err == nil:
					ok.Add(1)
				case isUnavailable(err):
					unavail.Add(1)
				case loadCtx.Err() != nil:
				default:
					select {
					case otherErrs <- err:
					default:
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	waitFor(t, 30*time.Second, "the load succeeds before the outage", func() bool { return ok.Load() >= 10 })

	require.NoError(t, srv.Stop())
	okAtStop := ok.Load()
	ctx := ctxT(t)
	_, err := st.Create(ctx, []timesheets.Entry{dayEntry(2)})
	assert.True(t, isUnavailable(err), "create: %v", err)
	_, err = st.Get(ctx, before[0].ID)
	assert.True(t, isUnavailable(err), "get: %v", err)
	_, err = st.List(ctx, timesheets.Filter{})
	assert.True(t, isUnavailable(err), "list: %v", err)
	_, err = st.Approve(ctx, before[0].ID, "x", testTime)
	assert.True(t, isUnavailable(err), "approve: %v", err)
	assert.True(t, isUnavailable(st.Delete(ctx, before[0].ID)), "delete")
	assert.True(t, isUnavailable(st.Ping(ctx)), "ping")
	_, err = Open(ctx, url, o)
	assert.True(t, isUnavailable(err), "open while down: %v", err)
	waitFor(t, 30*time.Second, "the load sees the outage", func() bool { return unavail.Load() >= 3 })

	require.NoError(t, srv.Start())
	waitFor(t, 30*time.Second, "the store recovers", func() bool { return st.Ping(ctx) == nil })
	res := mustCreate(t, st, ext(dayEntry(3), "jira", "O-1"), dayEntry(4))
	assert.Equal(t, timesheets.CreateResult{ID: before[0].ID, Duplicate: true}, res[0], "data from before the outage")
	okAtRecovery := ok.Load()
	waitFor(t, 30*time.Second, "the load recovers", func() bool { return ok.Load() >= okAtRecovery+10 })
	stopLoad()
	wg.Wait()
	close(otherErrs)
	for err := range otherErrs {
		t.Errorf("load: error that is not ErrUnavailable: %v", err)
	}
	assert.Positive(t, unavail.Load(), "the load saw no outage")
	assert.Greater(t, ok.Load(), okAtStop, "the load did not recover")
	t.Logf("load: %d ok, %d unavailable", ok.Load(), unavail.Load())
}

// TestPostgresSessionSettings checks what every pooled connection is
// configured with.
func TestPostgresSessionSettings(t *testing.T) {
	st := openPG(t, pgtest.Database(t), Options{StatementTimeout: 1234 * time.Millisecond})
	var timeout, app string
	require.NoError(t, st.pool.QueryRow(ctxT(t), "SELECT current_setting('statement_timeout'), current_setting('application_name')").Scan(&timeout, &app))
	assert.Equal(t, "1234ms", timeout)
	assert.Equal(t, "timesheets", app)
	assert.Equal(t, int32(DefaultPostgresMaxConns), st.pool.Config().MaxConns)

	// Pool size: Options, else the URL's pool_max_conns, else the default.
	url := pgtest.Database(t)
	assert.Equal(t, int32(3), openPG(t, url+"&pool_max_conns=3", Options{}).pool.Config().MaxConns)
	assert.Equal(t, int32(5), openPG(t, url+"&pool_max_conns=3", Options{MaxConns: 5}).pool.Config().MaxConns)

	// A statement over the timeout is cancelled and reported unavailable.
	_, err := st.pool.Exec(ctxT(t), "SELECT pg_sleep(3)")
	require.Error(t, err)
	assert.True(t, isUnavailable(pgError("test", err)), "%v", err)
	assert.False(t, errors.Is(pgError("test", errors.New("syntax")), timesheets.ErrUnavailable))
}
