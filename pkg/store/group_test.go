package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/store/pgtest"
	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// writesOf returns the combiner of a store returned by Open.
func writesOf(t testing.TB, st timesheets.Store) *combiner {
	t.Helper()
	g, ok := st.(traced).Store.(interface{ group() *combiner })
	require.True(t, ok, "store %T has no combiner", st)
	return g.group()
}

// holdFirstGroup makes the next group of st pause just before its COMMIT
// until the returned resume is called; paused is closed when it does.
func holdFirstGroup(t testing.TB, st timesheets.Store) (paused <-chan struct{}, resume func()) {
	c := writesOf(t, st)
	p, r := make(chan struct{}), make(chan struct{})
	var once sync.Once
	c.beforeCommit = func(context.Context, int) {
		once.Do(func() { close(p); <-r })
	}
	var ronce sync.Once
	resume = func() { ronce.Do(func() { close(r) }) }
	t.Cleanup(resume)
	return p, resume
}

// outcome is what one caller of the burst got.
type outcome struct {
	res   []timesheets.CreateResult
	entry timesheets.Entry
	err   error
}

// testGroupCommitBurst holds a first transaction open while 64 write calls
// of every kind queue, then lets it commit: the 64 (less those whose
// context is cancelled while queued) run as one group, and every caller
// gets its own result. The kinds, by k%8:
//
//	0 approve one shared entry (one wins, the others ErrAlreadyApproved)
//	1 delete a missing id (ErrNotFound)
//	2 a two-entry Create: a new key and another owner's key (ErrConflict,
//	  and neither entry stored)
//	3 Create one of three keys, several callers each (one created, the
//	  others duplicates with its id)
//	4 Create an entry the schema refuses (hours 0: an error, not a conflict)
//	5 delete an existing entry
//	6 Create with a context cancelled while queued (ctx.Err, nothing stored)
//	7 Create a new key
func testGroupCommitBurst(t *testing.T, h *harness) {
	const n = 64
	target := mustCreate(t, h.st, dayEntry(0))[0].ID
	mustCreate(t, h.st, owned(ext(dayEntry(1), "grp", "taken"), otherOwner))
	victims := map[int]int64{}
	for k := 5; k < n; k += 8 {
		victims[k] = mustCreate(t, h.st, dayEntry(k))[0].ID
	}
	before, _ := Stats(h.st)

	paused, resume := holdFirstGroup(t, h.st)
	blocker := make(chan error, 1)
	go func() {
		_, err := h.st.Create(ctxT(t), []timesheets.Entry{ext(dayEntry(2), "grp", "blocker")})
		blocker <- err
	}()
	<-paused

	out := make([]outcome, n)
	cancels := map[int]context.CancelFunc{}
	cancelled := make(chan struct{}, n)
	var wg sync.WaitGroup
	for k := range n {
		ctx := ctxT(t)
		if k%8 == 6 {
			ctx, cancels[k] = context.WithCancel(ctx)
		}
		wg.Go(func() {
			o := &out[k]
			switch k % 8 {
			case 0:
				o.entry, o.err = h.st.Approve(ctx, target, fmt.Sprintf("approver-%d", k), testTime)
			case 1:
				o.err = h.st.Delete(ctx, 1_000_000+int64(k))
			case 2:
				o.res, o.err = h.st.Create(ctx, []timesheets.Entry{
					ext(dayEntry(k), "grp", fmt.Sprintf("half-%d", k)), ext(dayEntry(k), "grp", "taken")})
			case 3:
				o.res, o.err = h.st.Create(ctx, []timesheets.Entry{ext(dayEntry(k), "grp", fmt.Sprintf("dup-%d", k%3))})
			case 4:
				e := ext(dayEntry(k), "grp", fmt.Sprintf("bad-%d", k))
				e.Hours = 0
				o.res, o.err = h.st.Create(ctx, []timesheets.Entry{e})
			case 5:
				o.err = h.st.Delete(ctx, victims[k])
			case 6:
				o.res, o.err = h.st.Create(ctx, []timesheets.Entry{ext(dayEntry(k), "grp", fmt.Sprintf("cancel-%d", k))})
				cancelled <- struct{}{}
			case 7:
				o.res, o.err = h.st.Create(ctx, []timesheets.Entry{ext(dayEntry(k), "grp", fmt.Sprintf("new-%d", k))})
			}
		})
	}
	c := writesOf(t, h.st)
	waitFor(t, 30*time.Second, "all calls queued", func() bool { return c.queued() == n })
	for _, cancel := range cancels {
		cancel()
	}
	for range cancels {
		<-cancelled // returned while the first transaction still runs
	}
	resume()
	wg.Wait()
	require.NoError(t, <-blocker)

	after, _ := Stats(h.st)
	assert.Equal(t, uint64(2), after.Groups-before.Groups, "the blocker's transaction and one group of all the others")
	assert.Equal(t, uint64(n-len(cancels)+1), after.Members-before.Members)
	assert.Equal(t, uint64(len(cancels)), after.Dropped-before.Dropped)
	assert.Equal(t, uint64(1), after.Sizes[6]-before.Sizes[6], "one group of 33-64 members")
	// Rolled back to their savepoints: 7 late approvers, 8 missing
	// deletes, 8 conflicts, 8 refused entries.
	assert.Equal(t, uint64(7+8+8+8), after.RolledBack-before.RolledBack)

	stored := map[string]timesheets.Entry{}
	for _, e := range listAll(t, h.st, timesheets.Filter{Limit: timesheets.MaxPageSize}) {
		if e.Source == "grp" {
			_, dup := stored[e.ExternalID]
			require.False(t, dup, "key %s stored twice", e.ExternalID)
			stored[e.ExternalID] = e
		}
	}
	winner := -1
	dupIDs := map[int]int64{}
	dupCreated := map[int]int{}
	for k, o := range out {
		switch k % 8 {
		case 0:
			if o.err == nil {
				require.Equal(t, -1, winner, "approvers %d and %d both won", winner, k)
				winner = k
			} else {
				require.ErrorIs(t, o.err, timesheets.ErrAlreadyApproved, "approver %d", k)
			}
			assert.Equal(t, target, o.entry.ID)
		case 1:
			assert.ErrorIs(t, o.err, timesheets.ErrNotFound, "delete %d", k)
		case 2:
			require.ErrorIs(t, o.err, timesheets.ErrConflict, "create %d", k)
			assert.True(t, o.res[1].Conflict)
			assert.NotContains(t, stored, fmt.Sprintf("half-%d", k), "a conflicting Create stored part of its entries")
		case 3:
			require.NoError(t, o.err, "create %d", k)
			key := k % 3
			if id, ok := dupIDs[key]; ok {
				assert.Equal(t, id, o.res[0].ID, "callers of dup-%d disagree on its id", key)
			}
			dupIDs[key] = o.res[0].ID
			if !o.res[0].Duplicate {
				dupCreated[key]++
			}
			assert.Equal(t, o.res[0].ID, stored[fmt.Sprintf("dup-%d", key)].ID)
		case 4:
			require.Error(t, o.err, "create %d", k)
			assert.NotErrorIs(t, o.err, timesheets.ErrConflict)
			assert.False(t, isUnavailable(o.err), "create %d: %v", k, o.err)
			assert.NotContains(t, stored, fmt.Sprintf("bad-%d", k))
		case 5:
			require.NoError(t, o.err, "delete %d", k)
			_, err := h.st.Get(ctxT(t), victims[k])
			assert.ErrorIs(t, err, timesheets.ErrNotFound)
		case 6:
			require.ErrorIs(t, o.err, context.Canceled, "create %d", k)
			assert.NotContains(t, stored, fmt.Sprintf("cancel-%d", k))
		case 7:
			require.NoError(t, o.err, "create %d", k)
			assert.False(t, o.res[0].Duplicate)
			e, ok := stored[fmt.Sprintf("new-%d", k)]
			require.True(t, ok, "create %d acknowledged but not stored", k)
			assert.Equal(t, o.res[0].ID, e.ID)
			want := ext(dayEntry(k), "grp", fmt.Sprintf("new-%d", k))
			want.ID = e.ID
			assert.Equal(t, want, e)
		}
	}
	for key, created := range dupCreated {
		assert.Equal(t, 1, created, "dup-%d created %d times", key, created)
	}
	require.NotEqual(t, -1, winner, "nobody approved")
	got, err := h.st.Get(ctxT(t), target)
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("approver-%d", winner), got.ApprovedBy)
	// blocker, taken, 3 dup keys, 8 new keys; nothing else.
	assert.Len(t, stored, 1+1+3+8)
}

// testGroupCommitMerged queues one-entry Creates behind a held transaction
// and shows they are inserted together (one merged insert) with each caller
// getting what it would have got alone, in arrival order: new keys created
// with their own ids, repeats of a key by the same owner its duplicates,
// another owner's key a conflict, whether stored before or created earlier
// in the group. Then a group with an entry the schema refuses: the merged
// insert fails, its members run one by one, and only the bad one fails.
func testGroupCommitMerged(t *testing.T, h *harness) {
	mustCreate(t, h.st, owned(ext(dayEntry(1), "mrg", "taken"), otherOwner))
	burst := func(entries []timesheets.Entry) []outcome {
		t.Helper()
		paused, resume := holdFirstGroup(t, h.st)
		blocker := make(chan error, 1)
		go func() {
			_, err := h.st.Create(ctxT(t), []timesheets.Entry{ext(dayEntry(2), "mrg", fmt.Sprintf("blocker-%d", len(entries)))})
			blocker <- err
		}()
		<-paused
		out := make([]outcome, len(entries))
		var wg sync.WaitGroup
		c := writesOf(t, h.st)
		for k, e := range entries {
			// One at a time into the queue, so arrival order is k's.
			wg.Go(func() { out[k].res, out[k].err = h.st.Create(ctxT(t), []timesheets.Entry{e}) })
			waitFor(t, 10*time.Second, "call queued", func() bool { return c.queued() == k+1 })
		}
		resume()
		wg.Wait()
		require.NoError(t, <-blocker)
		return out
	}

	var entries []timesheets.Entry
	for k := range 6 {
		entries = append(entries, ext(dayEntry(10+k), "mrg", fmt.Sprintf("new-%d", k))) // 0-5
	}
	entries = append(entries,
		ext(dayEntry(20), "mrg", "same"), ext(dayEntry(21), "mrg", "same"), // 6, 7: created, then its duplicate
		ext(dayEntry(22), "mrg", "taken"),                                                     // 8: another owner's, stored before
		ext(dayEntry(23), "mrg", "mine"), owned(ext(dayEntry(24), "mrg", "mine"), otherOwner)) // 9, 10: created, then a conflict
	before, _ := Stats(h.st)
	out := burst(entries)
	after, _ := Stats(h.st)
	assert.Equal(t, uint64(len(entries)), after.Merged-before.Merged, "every one-entry Create in one insert")
	assert.Zero(t, after.Unmerged-before.Unmerged)
	assert.Zero(t, after.RolledBack-before.RolledBack)

	ids := map[int64]bool{}
	for k := range 6 {
		require.NoError(t, out[k].err, "create %d", k)
		require.False(t, out[k].res[0].Duplicate || out[k].res[0].Conflict)
		require.False(t, ids[out[k].res[0].ID], "id %d given twice", out[k].res[0].ID)
		ids[out[k].res[0].ID] = true
		got, err := h.st.Get(ctxT(t), out[k].res[0].ID)
		require.NoError(t, err)
		want := entries[k]
		want.ID = got.ID
		assert.Equal(t, want, got)
	}
	require.NoError(t, out[6].err)
	require.False(t, out[6].res[0].Duplicate)
	require.NoError(t, out[7].err)
	assert.Equal(t, timesheets.CreateResult{ID: out[6].res[0].ID, Duplicate: true}, out[7].res[0])
	require.ErrorIs(t, out[8].err, timesheets.ErrConflict)
	assert.True(t, out[8].res[0].Conflict)
	require.NoError(t, out[9].err)
	require.ErrorIs(t, out[10].err, timesheets.ErrConflict)
	assert.True(t, out[10].res[0].Conflict)
	mine, err := h.st.Get(ctxT(t), out[9].res[0].ID)
	require.NoError(t, err)
	assert.Equal(t, testOwner, mine.Owner, "the first Create of the key won")

	bad := ext(dayEntry(30), "mrg", "bad")
	bad.Hours = 0
	before, _ = Stats(h.st)
	out = burst([]timesheets.Entry{ext(dayEntry(31), "mrg", "good-0"), bad, ext(dayEntry(32), "mrg", "good-1")})
	after, _ = Stats(h.st)
	assert.Equal(t, uint64(1), after.Unmerged-before.Unmerged, "the refused entry failed the merged insert")
	require.NoError(t, out[0].err)
	require.Error(t, out[1].err)
	assert.NotErrorIs(t, out[1].err, timesheets.ErrConflict)
	require.NoError(t, out[2].err)
	for _, k := range []int{0, 2} {
		_, err := h.st.Get(ctxT(t), out[k].res[0].ID)
		require.NoError(t, err, "good entry %d stored", k)
	}
}

// testGroupCommitLone shows that a call arriving when no transaction runs
// commits at once in a group of its own, and that a group of one whose
// member fails is rolled back whole.
func testGroupCommitLone(t *testing.T, h *harness) {
	before, _ := Stats(h.st)
	mustCreate(t, h.st, dayEntry(1))
	bad := dayEntry(2)
	bad.Hours = 0
	_, err := h.st.Create(ctxT(t), []timesheets.Entry{dayEntry(3), bad})
	require.Error(t, err)
	assert.ErrorIs(t, h.st.Delete(ctxT(t), 12345), timesheets.ErrNotFound)
	after, _ := Stats(h.st)
	assert.Equal(t, uint64(3), after.Groups-before.Groups)
	assert.Equal(t, uint64(3), after.Sizes[0]-before.Sizes[0])
	assert.Zero(t, after.RolledBack-before.RolledBack, "a group of one needs no savepoint")
	assert.Len(t, listAll(t, h.st, timesheets.Filter{}), 1)
}

// TestPostgresGroupCommitFails kills the connection of a group just before
// its COMMIT: every member gets ErrUnavailable, none is stored, and the
// store goes on with the next group.
func TestPostgresGroupCommitFails(t *testing.T) {
	url := pgtest.Database(t)
	st, err := Open(ctxT(t), url, Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	admin := openPG(t, url, Options{})
	c := writesOf(t, st)

	paused, resume := holdFirstGroup(t, st)
	first := make(chan error, 1)
	go func() { _, err := st.Create(ctxT(t), []timesheets.Entry{dayEntry(0)}); first <- err }()
	<-paused
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for k := range n {
		wg.Go(func() {
			_, errs[k] = st.Create(ctxT(t), []timesheets.Entry{ext(dayEntry(k), "doomed", fmt.Sprint(k))})
		})
	}
	waitFor(t, 30*time.Second, "all calls queued", func() bool { return c.queued() == n })
	killed := false
	c.beforeCommit = func(_ context.Context, members int) {
		if members != n || killed {
			return
		}
		killed = true
		var pids int
		require.NoError(t, admin.pool.QueryRow(ctxT(t), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND state = 'idle in transaction'`).Scan(&pids))
		require.Equal(t, 1, pids)
	}
	resume() // the first group was paused in the hook it replaced
	require.NoError(t, <-first)
	wg.Wait()
	require.True(t, killed)
	for k, err := range errs {
		assert.True(t, isUnavailable(err), "member %d: want ErrUnavailable, got %v", k, err)
	}
	for _, e := range listAll(t, admin, timesheets.Filter{}) {
		assert.NotEqual(t, "doomed", e.Source, "an entry of the failed group was stored")
	}
	mustCreate(t, st, dayEntry(99)) // the pool replaces the connection
}
