package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// The conformance tests of what keeps the API in sync with a tool:
// Upsert, Update, Prune, Checkpoint, and approved entries locked.
var syncConformance = []struct {
	name string
	run  func(t *testing.T, h *harness)
}{
	{"UpsertOutcomes", testUpsertOutcomes},
	{"UpsertRepeatsApplyInOrder", testUpsertRepeatsApplyInOrder},
	{"UpsertNeverUndoesNewer", testUpsertNeverUndoesNewer},
	{"UpsertAllOrNothing", testUpsertAllOrNothing},
	{"UpsertReplicasRace", testUpsertReplicasRace},
	{"DayRoundTrips", testDayRoundTrips},
	{"Update", testUpdate},
	{"UpdateRacesApproval", testUpdateRacesApproval},
	{"ApprovedCannotBeDeleted", testApprovedCannotBeDeleted},
	{"Prune", testPrune},
	{"PruneInSeveralCalls", testPruneInSeveralCalls},
	{"Checkpoint", testCheckpoint},
}

func init() { conformance = append(conformance, syncConformance...) }

// synced is a day entry of the test owner with key (src, id), the tool's
// modification time at minute m.
func synced(n int, src, id string, m int) timesheets.Entry {
	e := ext(dayEntry(n), src, id)
	at := testTime.Add(time.Duration(m) * time.Minute)
	e.SourceUpdatedAt = &at
	return e
}

func mustUpsert(t testing.TB, st timesheets.Store, entries ...timesheets.Entry) []timesheets.UpsertResult {
	t.Helper()
	res, err := st.Upsert(ctxT(t), entries, false)
	require.NoError(t, err)
	require.Len(t, res, len(entries))
	return res
}

func outcomes(res []timesheets.UpsertResult) []timesheets.UpsertOutcome {
	out := make([]timesheets.UpsertOutcome, len(res))
	for i, r := range res {
		out[i] = r.Outcome
	}
	return out
}

func testUpsertOutcomes(t *testing.T, h *harness) {
	first := mustUpsert(t, h.st, synced(1, "harvest", "1", 1), synced(2, "harvest", "2", 1), synced(3, "harvest", "3", 1), synced(4, "harvest", "4", 1))
	require.Equal(t, []timesheets.UpsertOutcome{timesheets.UpsertCreated, timesheets.UpsertCreated, timesheets.UpsertCreated, timesheets.UpsertCreated}, outcomes(first))
	_, err := h.st.Approve(ctxT(t), first[2].ID, "boss", testTime)
	require.NoError(t, err)
	theirs := mustCreate(t, h.st, owned(ext(dayEntry(5), "harvest", "5"), otherOwner))

	edited := synced(2, "harvest", "2", 2)
	edited.Hours = 6
	edited.CreatedAt = testTime.Add(time.Hour) // when the API received it
	approvedEdit := synced(3, "harvest", "3", 2)
	approvedEdit.Hours = 7
	res := mustUpsert(t, h.st,
		synced(1, "harvest", "1", 1),     // same content
		edited,                           // changed
		approvedEdit,                     // changed, but approved
		synced(3, "harvest", "3", 1),     // approved, unchanged: a duplicate
		ext(dayEntry(5), "harvest", "5"), // another owner's key
		synced(6, "harvest", "6", 1),     // new
		synced(4, "harvest", "4", 1))     // same
	require.Equal(t, []timesheets.UpsertOutcome{timesheets.UpsertDuplicate, timesheets.UpsertUpdated, timesheets.UpsertConflict,
		timesheets.UpsertDuplicate, timesheets.UpsertConflict, timesheets.UpsertCreated, timesheets.UpsertDuplicate}, outcomes(res))
	assert.Equal(t, timesheets.ConflictLocked, res[2].Reason)
	assert.Equal(t, timesheets.ConflictNotOwner, res[4].Reason)
	assert.Zero(t, res[4].ID, "another owner's entry is not named")
	assert.Equal(t, first[1].ID, res[1].ID)
	assert.Equal(t, int64(2), res[1].Revision)
	assert.Equal(t, int64(1), res[0].Revision)

	got, err := h.st.Get(ctxT(t), first[1].ID)
	require.NoError(t, err)
	assert.Equal(t, 6.0, got.Hours)
	assert.Equal(t, int64(2), got.Revision)
	assert.Equal(t, testTime.Add(time.Hour), got.UpdatedAt, "updated at the time of the upload")
	assert.Equal(t, testTime, got.CreatedAt, "created when it was")
	assert.Equal(t, testTime.Add(2*time.Minute), *got.SourceUpdatedAt)
	locked, err := h.st.Get(ctxT(t), first[2].ID)
	require.NoError(t, err)
	assert.Equal(t, dayEntry(3).Hours, locked.Hours, "the approved entry is unchanged")
	assert.Equal(t, int64(2), locked.Revision, "an approval is a change")
	other, err := h.st.Get(ctxT(t), theirs[0].ID)
	require.NoError(t, err)
	assert.Equal(t, otherOwner, other.Owner)
	assert.Equal(t, dayEntry(5).Hours, other.Hours, "another owner's entry is unchanged")
	assert.Len(t, listAll(t, h.st, timesheets.Filter{}), 6)
}

func testUpsertRepeatsApplyInOrder(t *testing.T, h *harness) {
	a, b := synced(1, "t", "k", 1), synced(1, "t", "k", 2)
	b.Hours = 3
	res := mustUpsert(t, h.st, a, b, b)
	require.Equal(t, []timesheets.UpsertOutcome{timesheets.UpsertCreated, timesheets.UpsertUpdated, timesheets.UpsertDuplicate}, outcomes(res))
	require.Equal(t, res[0].ID, res[1].ID)
	got, err := h.st.Get(ctxT(t), res[0].ID)
	require.NoError(t, err)
	assert.Equal(t, 3.0, got.Hours)
	assert.Equal(t, int64(2), got.Revision)
}

// Two overlapping runs: the one that read the older version of the tool
// uploads last, and changes nothing.
func testUpsertNeverUndoesNewer(t *testing.T, h *harness) {
	older, newer := synced(1, "t", "k", 1), synced(1, "t", "k", 5)
	older.Hours, newer.Hours = 2, 4
	mustUpsert(t, h.st, synced(1, "t", "k", 0))
	require.Equal(t, timesheets.UpsertUpdated, mustUpsert(t, h.st, newer)[0].Outcome)
	res := mustUpsert(t, h.st, older)
	require.Equal(t, timesheets.UpsertStale, res[0].Outcome)
	got, err := h.st.Get(ctxT(t), res[0].ID)
	require.NoError(t, err)
	assert.Equal(t, 4.0, got.Hours)
	assert.Equal(t, int64(2), got.Revision)
	// Without a modification time, a change is applied.
	plain := ext(dayEntry(1), "t", "k")
	plain.Hours = 1
	require.Equal(t, timesheets.UpsertUpdated, mustUpsert(t, h.st, plain)[0].Outcome)
	got, err = h.st.Get(ctxT(t), res[0].ID)
	require.NoError(t, err)
	assert.Equal(t, testTime.Add(5*time.Minute), *got.SourceUpdatedAt, "the newest known time stays")
}

func testUpsertAllOrNothing(t *testing.T, h *harness) {
	mustCreate(t, h.st, owned(ext(dayEntry(1), "t", "theirs"), otherOwner))
	mine := mustUpsert(t, h.st, synced(2, "t", "mine", 1))
	edit := synced(2, "t", "mine", 2)
	edit.Hours = 5
	res, err := h.st.Upsert(ctxT(t), []timesheets.Entry{synced(3, "t", "new", 1), edit, ext(dayEntry(1), "t", "theirs")}, true)
	require.ErrorIs(t, err, timesheets.ErrConflict)
	require.Equal(t, timesheets.UpsertConflict, res[2].Outcome)
	assert.Len(t, listAll(t, h.st, timesheets.Filter{}), 2, "nothing of the batch is stored")
	got, err := h.st.Get(ctxT(t), mine[0].ID)
	require.NoError(t, err)
	assert.Equal(t, int64(1), got.Revision, "nor updated")
}

// Two replicas (two stores on one database) upsert the same keys with
// different content at once: every key ends with one of the versions,
// whole, its revision counting exactly the updates reported.
func testUpsertReplicasRace(t *testing.T, h *harness) {
	const keys = 50
	base := make([]timesheets.Entry, keys)
	for i := range base {
		base[i] = synced(i, "race", fmt.Sprint(i), 0)
	}
	mustUpsert(t, h.st, base...)
	replicas := []timesheets.Store{h.st, h.open(t, Options{})}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		updates = map[int64]int{}
	)
	for r, st := range replicas {
		for round := range 5 {
			wg.Go(func() {
				batch := make([]timesheets.Entry, keys)
				for i := range batch {
					batch[i] = synced(i, "race", fmt.Sprint(i), 1+round)
					batch[i].Hours = float64(1 + r + 2*round)
				}
				res, err := st.Upsert(ctxT(t), batch, false)
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, u := range res {
					if u.Outcome == timesheets.UpsertUpdated {
						updates[u.ID]++
					}
				}
			})
		}
	}
	wg.Wait()
	all := listAll(t, h.st, timesheets.Filter{})
	require.Len(t, all, keys)
	for _, e := range all {
		assert.Equal(t, int64(1+updates[e.ID]), e.Revision, "entry %d: one revision per update reported", e.ID)
		// The newest round wins whoever uploads it last: hours 9 or 10.
		assert.Equal(t, testTime.Add(5*time.Minute), *e.SourceUpdatedAt)
		assert.Contains(t, []float64{9, 10}, e.Hours)
	}
}

func testDayRoundTrips(t *testing.T, h *harness) {
	d := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	e := dayEntry(1)
	e.Date, e.Day = &d, true
	res := mustCreate(t, h.st, e)
	got, err := h.st.Get(ctxT(t), res[0].ID)
	require.NoError(t, err)
	assert.True(t, got.Day)
	assert.True(t, got.Date.Equal(d))
	assert.Len(t, listAll(t, h.st, timesheets.Filter{From: d, To: d}), 1)
	// The same instant as a timestamp is other content.
	ts := got
	ts.Day = false
	assert.False(t, ts.SameContent(got))
}

func testUpdate(t *testing.T, h *harness) {
	id := mustCreate(t, h.st, dayEntry(1))[0].ID
	next := dayEntry(1)
	next.ID, next.Hours = id, 2
	_, err := h.st.Update(ctxT(t), next, 2)
	require.ErrorIs(t, err, timesheets.ErrRevisionMismatch)
	next.UpdatedAt = testTime.Add(time.Minute)
	got, err := h.st.Update(ctxT(t), next, 1)
	require.NoError(t, err)
	assert.Equal(t, int64(2), got.Revision)
	assert.Equal(t, testTime.Add(time.Minute), got.UpdatedAt)
	assert.Equal(t, 2.0, got.Hours)
	stale, err := h.st.Update(ctxT(t), next, 1)
	require.ErrorIs(t, err, timesheets.ErrRevisionMismatch, "a second writer of the same revision loses")
	assert.Equal(t, int64(2), stale.Revision, "and learns the current one")

	// To the other shape: a week.
	week := weekEntry(3)
	week.ID = id
	got, err = h.st.Update(ctxT(t), week, 2)
	require.NoError(t, err)
	stored, err := h.st.Get(ctxT(t), id)
	require.NoError(t, err)
	assert.Equal(t, got, stored)
	assert.Nil(t, stored.Date)
	assert.Equal(t, week.Week, stored.Week)
	assert.Len(t, listAll(t, h.st, timesheets.Filter{From: week.PeriodStart(), To: week.PeriodStart()}), 1, "period_start follows")

	week.ID = 999
	_, err = h.st.Update(ctxT(t), week, 1)
	require.ErrorIs(t, err, timesheets.ErrNotFound)
	_, err = h.st.Approve(ctxT(t), id, "boss", testTime)
	require.NoError(t, err)
	week.ID = id
	_, err = h.st.Update(ctxT(t), week, 4)
	require.ErrorIs(t, err, timesheets.ErrLocked)
}

// An update and an approval of the same revision race: either the update
// lands and the approval approves it, or the approval lands and the
// update is locked out; never an approved entry with other content.
func testUpdateRacesApproval(t *testing.T, h *harness) {
	other := h.open(t, Options{})
	for i := range 10 {
		id := mustCreate(t, h.st, dayEntry(i))[0].ID
		next := dayEntry(i)
		next.ID, next.Hours = id, 23
		var (
			wg        sync.WaitGroup
			updateErr error
		)
		wg.Go(func() { _, updateErr = h.st.Update(ctxT(t), next, 1) })
		wg.Go(func() {
			_, err := other.Approve(ctxT(t), id, "boss", testTime)
			assert.NoError(t, err)
		})
		wg.Wait()
		got, err := h.st.Get(ctxT(t), id)
		require.NoError(t, err)
		require.True(t, got.Locked())
		switch {
		case updateErr == nil:
			assert.Equal(t, 23.0, got.Hours)
			assert.Equal(t, int64(3), got.Revision)
		case errors.Is(updateErr, timesheets.ErrLocked):
			assert.Equal(t, dayEntry(i).Hours, got.Hours)
			assert.Equal(t, int64(2), got.Revision)
		default:
			t.Fatalf("update: %v", updateErr)
		}
	}
}

func testApprovedCannotBeDeleted(t *testing.T, h *harness) {
	res := mustCreate(t, h.st, dayEntry(1), dayEntry(2))
	_, err := h.st.Approve(ctxT(t), res[0].ID, "boss", testTime)
	require.NoError(t, err)
	require.ErrorIs(t, h.st.Delete(ctxT(t), res[0].ID), timesheets.ErrLocked)
	require.NoError(t, h.st.Delete(ctxT(t), res[1].ID))
	require.ErrorIs(t, h.st.Delete(ctxT(t), res[1].ID), timesheets.ErrNotFound)
	_, err = h.st.Get(ctxT(t), res[0].ID)
	require.NoError(t, err)
}

// window is [from, to] of dayEntry(n)'s days n in [lo, hi].
func window(lo, hi int) (time.Time, time.Time) {
	return *dayEntry(lo).Date, *dayEntry(hi).Date
}

func testPrune(t *testing.T, h *harness) {
	var mine []timesheets.Entry
	for i := range 6 {
		mine = append(mine, synced(i, "harvest", fmt.Sprint(i), 1))
	}
	res := mustUpsert(t, h.st, mine...)
	_, err := h.st.Approve(ctxT(t), res[2].ID, "boss", testTime)
	require.NoError(t, err)
	mustCreate(t, h.st,
		owned(ext(dayEntry(3), "harvest", "theirs"), otherOwner), // another owner's, in the window
		ext(dayEntry(3), "tempo", "other-source"),                // another source
		dayEntry(3)) // no key
	from, to := window(1, 4)
	p := timesheets.Prune{Owner: testOwner, Source: "harvest", From: from, To: to, Keep: []string{"1", "4"}, Limit: 100}

	dry := p
	dry.DryRun = true
	out, err := h.st.Prune(ctxT(t), dry)
	require.NoError(t, err)
	require.Len(t, out.Entries, 2)
	assert.Len(t, listAll(t, h.st, timesheets.Filter{}), 9, "a dry run deletes nothing")

	out, err = h.st.Prune(ctxT(t), p)
	require.NoError(t, err)
	assert.True(t, out.Complete)
	assert.Equal(t, []timesheets.PrunedEntry{
		{ID: res[3].ID, ExternalID: "3"},
		{ID: res[2].ID, ExternalID: "2", Reason: timesheets.ConflictLocked},
	}, out.Entries, "3 is deleted, 2 is approved and kept; 1 and 4 are kept, 0 and 5 are outside the window")
	left := listAll(t, h.st, timesheets.Filter{})
	assert.Len(t, left, 8)
	assert.NotContains(t, ids(left), res[3].ID)

	// Nobody's prune prunes nothing.
	p.Owner = ""
	out, err = h.st.Prune(ctxT(t), p)
	require.NoError(t, err)
	assert.Empty(t, out.Entries)
}

func testPruneInSeveralCalls(t *testing.T, h *harness) {
	var mine []timesheets.Entry
	for i := range 7 {
		mine = append(mine, synced(1, "t", fmt.Sprint(i), 1))
	}
	res := mustUpsert(t, h.st, mine...)
	_, err := h.st.Approve(ctxT(t), res[6].ID, "boss", testTime)
	require.NoError(t, err)
	from, to := window(1, 1)
	p := timesheets.Prune{Owner: testOwner, Source: "t", From: from, To: to, Keep: []string{}, Limit: 2}
	var deleted, kept, calls int
	for {
		out, err := h.st.Prune(ctxT(t), p)
		require.NoError(t, err)
		calls++
		for _, e := range out.Entries {
			if e.Reason == "" {
				deleted++
			} else {
				kept++
			}
		}
		if out.Complete || calls > 10 {
			break
		}
	}
	assert.Equal(t, []int{6, 1, 3}, []int{deleted, kept, calls}, "two per call, the approved one reported once, by the last call")
	assert.Len(t, listAll(t, h.st, timesheets.Filter{}), 1)
}

func testCheckpoint(t *testing.T, h *harness) {
	c, err := h.st.Checkpoint(ctxT(t), testOwner, "harvest")
	require.NoError(t, err)
	assert.Equal(t, timesheets.Checkpoint{}, c)
	mustUpsert(t, h.st, synced(1, "harvest", "1", 3), synced(2, "harvest", "2", 7), ext(dayEntry(3), "harvest", "3"))
	mustCreate(t, h.st, owned(synced(4, "harvest", "4", 60), otherOwner), synced(5, "tempo", "5", 90))
	c, err = h.st.Checkpoint(ctxT(t), testOwner, "harvest")
	require.NoError(t, err)
	assert.Equal(t, int64(3), c.Entries, "only the owner's entries of that source count")
	assert.Nil(t, c.SourceUpdatedAt, "storing entries records no checkpoint: a run does, when it is complete")

	require.NoError(t, h.st.SetCheckpoint(ctxT(t), testOwner, "harvest", testTime.Add(7*time.Minute)))
	require.NoError(t, h.st.SetCheckpoint(ctxT(t), testOwner, "harvest", testTime.Add(2*time.Minute)))
	require.NoError(t, h.st.SetCheckpoint(ctxT(t), otherOwner, "harvest", testTime.Add(time.Hour)))
	c, err = h.st.Checkpoint(ctxT(t), testOwner, "harvest")
	require.NoError(t, err)
	require.NotNil(t, c.SourceUpdatedAt)
	assert.Equal(t, testTime.Add(7*time.Minute), *c.SourceUpdatedAt, "a checkpoint never goes back, and is the owner's own")
	c, err = h.st.Checkpoint(ctxT(t), testOwner, "tempo")
	require.NoError(t, err)
	assert.Nil(t, c.SourceUpdatedAt)
}

func init() {
	conformance = append(conformance, struct {
		name string
		run  func(t *testing.T, h *harness)
	}{"GroupCommitMergedUpserts", testGroupCommitMergedUpserts})
}

// testGroupCommitMergedUpserts: one-entry Upserts queued together (the
// seed's one-entry uploads) are upserted in one call, each getting what it
// would have alone, in arrival order.
func testGroupCommitMergedUpserts(t *testing.T, h *harness) {
	mustCreate(t, h.st, owned(ext(dayEntry(1), "mrg", "theirs"), otherOwner))
	stored := mustUpsert(t, h.st, synced(2, "mrg", "stored", 1))
	edit := synced(2, "mrg", "stored", 2)
	edit.Hours = 7
	same1, same2 := synced(3, "mrg", "same", 1), synced(3, "mrg", "same", 2)
	same2.Hours = 2
	entries := []timesheets.Entry{
		synced(4, "mrg", "new", 1), // 0: created
		edit,                       // 1: updated
		same1, same2,               // 2, 3: created, then updated by the later call
		ext(dayEntry(5), "mrg", "theirs"), // 4: another owner's key
	}

	paused, resume := holdFirstGroup(t, h.st)
	blocker := make(chan error, 1)
	go func() {
		_, err := h.st.Create(ctxT(t), []timesheets.Entry{ext(dayEntry(6), "mrg", "blocker")})
		blocker <- err
	}()
	<-paused
	out := make([][]timesheets.UpsertResult, len(entries))
	errs := make([]error, len(entries))
	var wg sync.WaitGroup
	c := writesOf(t, h.st)
	before, _ := Stats(h.st)
	for k, e := range entries {
		wg.Go(func() { out[k], errs[k] = h.st.Upsert(ctxT(t), []timesheets.Entry{e}, false) })
		waitFor(t, 10*time.Second, "call queued", func() bool { return c.queued() == k+1 })
	}
	resume()
	wg.Wait()
	require.NoError(t, <-blocker)
	after, _ := Stats(h.st)
	assert.Equal(t, uint64(len(entries)), after.Merged-before.Merged, "every one-entry Upsert in one call")
	for k := range entries {
		require.NoError(t, errs[k], "upsert %d", k)
	}
	got := []timesheets.UpsertOutcome{out[0][0].Outcome, out[1][0].Outcome, out[2][0].Outcome, out[3][0].Outcome, out[4][0].Outcome}
	assert.Equal(t, []timesheets.UpsertOutcome{timesheets.UpsertCreated, timesheets.UpsertUpdated, timesheets.UpsertCreated,
		timesheets.UpsertUpdated, timesheets.UpsertConflict}, got)
	assert.Equal(t, stored[0].ID, out[1][0].ID)
	assert.Equal(t, out[2][0].ID, out[3][0].ID)
	e, err := h.st.Get(ctxT(t), out[3][0].ID)
	require.NoError(t, err)
	assert.Equal(t, 2.0, e.Hours)
	assert.Equal(t, int64(2), e.Revision)
}
