package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// TestConformance runs the same behaviour tests against every engine, each
// test on a new database.
func TestConformance(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			for _, tc := range conformance {
				t.Run(tc.name, func(t *testing.T) {
					tc.run(t, newHarness(t, eng))
				})
			}
		})
	}
}

var conformance = []struct {
	name string
	run  func(t *testing.T, h *harness)
}{
	{"CreateGetDayEntry", testCreateGetDay},
	{"CreateGetWeekEntry", testCreateGetWeek},
	{"CreateDefaults", testCreateDefaults},
	{"CreateEmpty", testCreateEmpty},
	{"DuplicatesAcrossCalls", testDuplicatesAcrossCalls},
	{"DuplicatesWithinCall", testDuplicatesWithinCall},
	{"AllOrNothing", testAllOrNothing},
	{"KeysBelongToTheirOwner", testKeysBelongToTheirOwner},
	{"RepeatByAnotherOwnerWithinCall", testRepeatByAnotherOwnerWithinCall},
	{"UnknownOwnerIsNobodys", testUnknownOwnerIsNobodys},
	{"EntriesBeforeOwnersAreNobodys", testEntriesBeforeOwners},
	{"YearRangeRoundTrips", testYearRangeRoundTrips},
	{"ListFilters", testListFilters},
	{"ListPagination", testListPagination},
	{"PaginationWhileWriting", testPaginationWhileWriting},
	{"ConcurrentCreateSameBatch", testConcurrentCreateSameBatch},
	{"Approve", testApprove},
	{"ConcurrentApprove", testConcurrentApprove},
	{"Delete", testDelete},
	{"NotFound", testNotFound},
	{"Reopen", testReopen},
	{"BlockedWritesUnavailable", testBlockedWritesUnavailable},
	{"Ping", testPing},
	{"GroupCommitBurst", testGroupCommitBurst},
	{"GroupCommitLone", testGroupCommitLone},
	{"GroupCommitMerged", testGroupCommitMerged},
}

func testCreateGetDay(t *testing.T, h *harness) {
	d, err := time.Parse(time.RFC3339Nano, "2017-05-10T17:40:20.095123456Z")
	require.NoError(t, err)
	approved := testTime.Add(time.Hour)
	in := timesheets.Entry{
		UserType: timesheets.UserTypeEmployee, UserID: "Kyle", Date: &d, Project: "Auth0 – ünïcode ✓",
		Hours: 7.25, Source: "jira", ExternalID: "JIRA-1", Status: timesheets.StatusApproved,
		CreatedBy: "auth0|abc", CreatedAt: testTime, ApprovedBy: "boss", ApprovedAt: &approved, Owner: testOwner,
		Revision: 1, UpdatedAt: testTime,
	}
	res := mustCreate(t, h.st, in)
	require.False(t, res[0].Duplicate)
	require.Positive(t, res[0].ID)

	got, err := h.st.Get(ctxT(t), res[0].ID)
	require.NoError(t, err)
	want := in
	want.ID = res[0].ID
	assert.Equal(t, want, got)
	// Exact, nanoseconds included, and in UTC.
	assert.Equal(t, "2017-05-10T17:40:20.095123456Z", got.Date.Format(time.RFC3339Nano))
	assert.Equal(t, testTime.Format(time.RFC3339Nano), got.CreatedAt.Format(time.RFC3339Nano))
	assert.Equal(t, time.UTC, got.Date.Location())
}

func testCreateGetWeek(t *testing.T, h *harness) {
	in := weekEntry(0)
	in.Year, in.Week = 2020, 53
	res := mustCreate(t, h.st, in)
	got, err := h.st.Get(ctxT(t), res[0].ID)
	require.NoError(t, err)
	want := in
	want.ID = res[0].ID
	assert.Equal(t, want, got)
	assert.Nil(t, got.Date)
	assert.Nil(t, got.ApprovedAt)
}

func testCreateDefaults(t *testing.T, h *harness) {
	in := dayEntry(1)
	in.Status, in.CreatedAt = "", time.Time{}
	before := time.Now()
	res := mustCreate(t, h.st, in)
	got, err := h.st.Get(ctxT(t), res[0].ID)
	require.NoError(t, err)
	assert.Equal(t, timesheets.StatusPending, got.Status)
	assert.WithinRange(t, got.CreatedAt, before.Add(-time.Second), time.Now().Add(time.Second))
}

func testCreateEmpty(t *testing.T, h *harness) {
	res, err := h.st.Create(ctxT(t), nil)
	require.NoError(t, err)
	assert.Empty(t, res)
}

func testDuplicatesAcrossCalls(t *testing.T, h *harness) {
	first := mustCreate(t, h.st, ext(dayEntry(1), "jira", "A"), ext(dayEntry(2), "jira", "B"))
	// Same pairs again (other fields differ), plus new ones: the same
	// external id from another source, an entry without external id.
	second := mustCreate(t, h.st,
		ext(weekEntry(3), "jira", "B"),
		ext(dayEntry(4), "github", "A"),
		dayEntry(5),
		ext(dayEntry(6), "jira", "A"),
	)
	assert.Equal(t, timesheets.CreateResult{ID: first[1].ID, Duplicate: true}, second[0])
	assert.False(t, second[1].Duplicate)
	assert.False(t, second[2].Duplicate)
	assert.Equal(t, timesheets.CreateResult{ID: first[0].ID, Duplicate: true}, second[3])

	all := listAll(t, h.st, timesheets.Filter{})
	assert.Len(t, all, 4)
	// The duplicate did not overwrite the stored entry.
	got, err := h.st.Get(ctxT(t), first[1].ID)
	require.NoError(t, err)
	assert.NotNil(t, got.Date)
}

func testDuplicatesWithinCall(t *testing.T, h *harness) {
	res := mustCreate(t, h.st,
		ext(dayEntry(1), "jira", "X"),
		ext(dayEntry(2), "jira", "X"), // repeats the first
		dayEntry(3),                   // no external id: never a duplicate
		dayEntry(3),
		ext(dayEntry(4), "jira", "Y"),
		ext(dayEntry(5), "jira", "X"),
	)
	assert.False(t, res[0].Duplicate)
	assert.Equal(t, timesheets.CreateResult{ID: res[0].ID, Duplicate: true}, res[1])
	assert.False(t, res[2].Duplicate)
	assert.False(t, res[3].Duplicate)
	assert.NotEqual(t, res[2].ID, res[3].ID)
	assert.False(t, res[4].Duplicate)
	assert.Equal(t, timesheets.CreateResult{ID: res[0].ID, Duplicate: true}, res[5])
	// Created ids are ascending in input order.
	created := []int64{res[0].ID, res[2].ID, res[3].ID, res[4].ID}
	assert.True(t, slices.IsSorted(created), "ids %v", created)
	assert.Equal(t, created, ids(listAll(t, h.st, timesheets.Filter{})))
}

func testAllOrNothing(t *testing.T, h *harness) {
	existing := mustCreate(t, h.st, ext(dayEntry(0), "jira", "OLD"))

	tooLong := dayEntry(2)
	tooLong.Project = strings.Repeat("p", 200) // violates the length CHECK
	badShape := dayEntry(3)
	badShape.Year, badShape.Week = 2024, 1 // date and week: violates entries_shape
	noHours := dayEntry(4)
	noHours.Hours = 0 // violates hours > 0
	for name, bad := range map[string]timesheets.Entry{"too long": tooLong, "bad shape": badShape, "no hours": noHours} {
		t.Run(name, func(t *testing.T) {
			_, err := h.st.Create(ctxT(t), []timesheets.Entry{
				ext(dayEntry(1), "jira", "NEW-1"),
				ext(dayEntry(1), "jira", "OLD"),
				bad,
				ext(dayEntry(4), "jira", "NEW-2"),
			})
			require.Error(t, err)
			assert.False(t, errors.Is(err, timesheets.ErrUnavailable), "a constraint violation is not an outage: %v", err)
			all := listAll(t, h.st, timesheets.Filter{})
			assert.Equal(t, []int64{existing[0].ID}, ids(all), "a failed batch left entries behind")
		})
	}
	// The same entries store fine once the bad one is gone.
	res := mustCreate(t, h.st, ext(dayEntry(1), "jira", "NEW-1"), ext(dayEntry(4), "jira", "NEW-2"))
	assert.False(t, res[0].Duplicate)
	assert.False(t, res[1].Duplicate)
	assert.Greater(t, res[0].ID, existing[0].ID)
}

// testKeysBelongToTheirOwner: a key created by one client cannot be
// claimed by another: its upload conflicts, and the whole call stores
// nothing; the owner's retries stay duplicates of its entry.
func testKeysBelongToTheirOwner(t *testing.T, h *harness) {
	squat := ext(dayEntry(1), "tool", "77")
	squat.Owner, squat.Hours = otherOwner, 23
	first := mustCreate(t, h.st, squat)

	real := ext(dayEntry(2), "tool", "77")
	res, err := h.st.Create(ctxT(t), []timesheets.Entry{ext(dayEntry(3), "tool", "78"), real, ext(dayEntry(4), "tool", "79")})
	require.ErrorIs(t, err, timesheets.ErrConflict)
	require.Len(t, res, 3)
	assert.Equal(t, timesheets.CreateResult{Conflict: true}, res[1], "a conflict reveals no id")
	assert.False(t, res[0].Conflict)
	assert.False(t, res[2].Conflict)
	assert.Equal(t, []int64{first[0].ID}, ids(listAll(t, h.st, timesheets.Filter{})), "a call with a conflict stores nothing")

	// Without the conflicting entry the rest is stored.
	rest := mustCreate(t, h.st, ext(dayEntry(3), "tool", "78"), ext(dayEntry(4), "tool", "79"))
	assert.False(t, rest[0].Duplicate || rest[0].Conflict)

	// The owner's retry is a duplicate; the stored entry is the owner's.
	again := mustCreate(t, h.st, owned(ext(dayEntry(9), "tool", "77"), otherOwner))
	assert.Equal(t, timesheets.CreateResult{ID: first[0].ID, Duplicate: true}, again[0])
	got, err := h.st.Get(ctxT(t), first[0].ID)
	require.NoError(t, err)
	assert.Equal(t, otherOwner, got.Owner)
	assert.Equal(t, float64(23), got.Hours)
}

func testRepeatByAnotherOwnerWithinCall(t *testing.T, h *harness) {
	res, err := h.st.Create(ctxT(t), []timesheets.Entry{
		ext(dayEntry(1), "tool", "X"),
		owned(ext(dayEntry(2), "tool", "X"), otherOwner),
		ext(dayEntry(3), "tool", "X"), // the first owner's repeat: a duplicate
	})
	require.ErrorIs(t, err, timesheets.ErrConflict)
	assert.Equal(t, []bool{false, true, false}, []bool{res[0].Conflict, res[1].Conflict, res[2].Conflict})
	assert.Empty(t, listAll(t, h.st, timesheets.Filter{}))
}

// testUnknownOwnerIsNobodys: an entry without owner holds its key against
// everyone, itself included.
func testUnknownOwnerIsNobodys(t *testing.T, h *harness) {
	mustCreate(t, h.st, owned(ext(dayEntry(1), "tool", "U"), ""))
	for _, owner := range []string{testOwner, ""} {
		res, err := h.st.Create(ctxT(t), []timesheets.Entry{owned(ext(dayEntry(2), "tool", "U"), owner)})
		require.ErrorIs(t, err, timesheets.ErrConflict, "owner %q", owner)
		assert.True(t, res[0].Conflict)
	}
	// Entries without external id have no key to own.
	mustCreate(t, h.st, owned(dayEntry(3), ""), owned(dayEntry(3), ""))
}

// testEntriesBeforeOwners stores an entry with the schema as it was before
// owners (migration 2), then opens the store, which adds the column: the
// old entry's key is nobody's.
func testEntriesBeforeOwners(t *testing.T, h *harness) {
	h = &harness{eng: h.eng, url: h.eng.newURL(t)} // a database not yet migrated
	db, dialect := h.eng.rawDB(t, h.url)
	migrateTo(t, db, dialect, 2)
	_, err := db.ExecContext(ctxT(t), `INSERT INTO entries (user_type, user_id, date_ns, period_start, project, hours,
		source, external_id, created_at_ns) VALUES ('Employee', 'u', 0, '1970-01-01', 'p', 1, 'tool', 'OLD', 0)`)
	require.NoError(t, err)

	st := h.open(t, Options{})
	old := listAll(t, st, timesheets.Filter{})
	require.Len(t, old, 1)
	assert.Equal(t, "", old[0].Owner)
	res, err := st.Create(ctxT(t), []timesheets.Entry{ext(dayEntry(1), "tool", "OLD")})
	require.ErrorIs(t, err, timesheets.ErrConflict)
	assert.True(t, res[0].Conflict)
}

// testYearRangeRoundTrips: the first and last instants the API accepts
// store and read back exactly.
func testYearRangeRoundTrips(t *testing.T, h *harness) {
	first := time.Date(timesheets.MinYear, 1, 1, 0, 0, 0, 0, time.UTC)
	last := time.Date(timesheets.MaxYear, 12, 31, 23, 59, 59, 999999999, time.UTC)
	a, b := dayEntry(1), dayEntry(2)
	a.Date, b.Date = &first, &last
	c, d := weekEntry(1), weekEntry(2)
	c.Year, c.Week = timesheets.MinYear, 1
	d.Year, d.Week = timesheets.MaxYear, 52
	res := mustCreate(t, h.st, a, b, c, d)
	for i, want := range []timesheets.Entry{a, b, c, d} {
		got, err := h.st.Get(ctxT(t), res[i].ID)
		require.NoError(t, err)
		want.ID = res[i].ID
		assert.Equal(t, want, got)
	}
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	got, err := h.st.List(ctxT(t), timesheets.Filter{From: day("1900-01-01"), To: day("1900-01-01")})
	require.NoError(t, err)
	assert.Equal(t, []int64{res[0].ID, res[2].ID}, ids(got), "1900-W01 starts on 1900-01-01")
	got, err = h.st.List(ctxT(t), timesheets.Filter{From: day("2200-12-31")})
	require.NoError(t, err)
	assert.Equal(t, []int64{res[1].ID}, ids(got))
}

func testListFilters(t *testing.T, h *harness) {
	at := func(s string) *time.Time {
		d, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return &d
	}
	mk := func(user, project string, date *time.Time, year, week int) timesheets.Entry {
		e := dayEntry(0)
		e.UserID, e.Project, e.Date, e.Year, e.Week = user, project, date, year, week
		if date == nil {
			e.Hours = 30
		}
		return e
	}
	res := mustCreate(t, h.st,
		mk("alice", "apollo", at("2024-01-01T00:00:00Z"), 0, 0), // 0: Monday of 2024-W01
		mk("alice", "gemini", at("2024-01-07T23:59:59Z"), 0, 0), // 1: Sunday, late
		mk("bob", "apollo", nil, 2024, 1),                       // 2: week starting 2024-01-01
		mk("bob", "apollo", nil, 2024, 2),                       // 3: week starting 2024-01-08
		mk("carol", "gemini", at("2024-01-08T00:00:00Z"), 0, 0), // 4
		mk("alice", "apollo", nil, 2020, 53),                    // 5: week starting 2020-12-28
	)
	id := func(i ...int) []int64 {
		out := make([]int64, len(i))
		for k, v := range i {
			out[k] = res[v].ID
		}
		return out
	}
	_, err := h.st.Approve(ctxT(t), res[1].ID, "boss", testTime)
	require.NoError(t, err)
	_, err = h.st.Approve(ctxT(t), res[3].ID, "boss", testTime)
	require.NoError(t, err)

	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	for _, c := range []struct {
		name string
		f    timesheets.Filter
		want []int64
	}{
		{"none", timesheets.Filter{}, id(0, 1, 2, 3, 4, 5)},
		{"user", timesheets.Filter{UserID: "alice"}, id(0, 1, 5)},
		{"project", timesheets.Filter{Project: "apollo"}, id(0, 2, 3, 5)},
		{"status approved", timesheets.Filter{Status: timesheets.StatusApproved}, id(1, 3)},
		{"status pending", timesheets.Filter{Status: timesheets.StatusPending}, id(0, 2, 4, 5)},
		{"user and project", timesheets.Filter{UserID: "bob", Project: "apollo"}, id(2, 3)},
		{"from inclusive", timesheets.Filter{From: day("2024-01-08")}, id(3, 4)},
		{"to inclusive", timesheets.Filter{To: day("2024-01-07")}, id(0, 1, 2, 5)},
		{"one day", timesheets.Filter{From: day("2024-01-07"), To: day("2024-01-07")}, id(1)},
		{"week start in range", timesheets.Filter{From: day("2024-01-01"), To: day("2024-01-01")}, id(0, 2)},
		{"range ignores time of day", timesheets.Filter{From: *at("2024-01-07T12:00:00Z"), To: *at("2024-01-08T01:00:00Z")}, id(1, 3, 4)},
		{"year boundary week", timesheets.Filter{From: day("2020-12-28"), To: day("2020-12-31")}, id(5)},
		{"all filters", timesheets.Filter{UserID: "alice", Project: "gemini", Status: timesheets.StatusApproved, From: day("2024-01-01"), To: day("2024-01-31")}, id(1)},
		{"after id", timesheets.Filter{AfterID: res[2].ID}, id(3, 4, 5)},
		{"after id and filter", timesheets.Filter{AfterID: res[0].ID, UserID: "alice"}, id(1, 5)},
		{"limit", timesheets.Filter{Limit: 2}, id(0, 1)},
		{"no match", timesheets.Filter{UserID: "nobody"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := h.st.List(ctxT(t), c.f)
			require.NoError(t, err)
			if c.want == nil {
				assert.Empty(t, got)
				return
			}
			assert.Equal(t, c.want, ids(got))
		})
	}
}

func testListPagination(t *testing.T, h *harness) {
	var batch []timesheets.Entry
	for i := range 25 {
		batch = append(batch, dayEntry(i))
	}
	res := mustCreate(t, h.st, batch...)
	var want []int64
	for _, r := range res {
		want = append(want, r.ID)
	}
	assert.Equal(t, want, ids(listAll(t, h.st, timesheets.Filter{Limit: 7})))
	assert.Equal(t, want, ids(listAll(t, h.st, timesheets.Filter{Limit: 1})))

	// Default page size and the cap (MaxPageSize+1, the HTTP layer's probe).
	assert.Equal(t, int64(timesheets.DefaultPageSize), pageSize(0))
	assert.Equal(t, int64(timesheets.MaxPageSize+1), pageSize(1<<20))
	more := make([]timesheets.Entry, timesheets.MaxPageSize+100)
	for i := range more {
		more[i] = dayEntry(i)
	}
	mustCreate(t, h.st, more...)
	page, err := h.st.List(ctxT(t), timesheets.Filter{})
	require.NoError(t, err)
	assert.Len(t, page, timesheets.DefaultPageSize)
	page, err = h.st.List(ctxT(t), timesheets.Filter{Limit: timesheets.MaxPageSize + 1})
	require.NoError(t, err)
	assert.Len(t, page, timesheets.MaxPageSize+1)
}

// testPaginationWhileWriting pages through the entries while several writers
// insert: every pass must return strictly ascending ids (no repeats), and
// must not skip an id: every entry with an id up to the last one a pass saw
// must have been seen by it.
func testPaginationWhileWriting(t *testing.T, h *harness) {
	const writers = 4
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	var (
		wg      sync.WaitGroup
		created atomic.Int64
		werr    = make(chan error, writers)
	)
	for w := range writers {
		st := h.st
		if w%2 == 1 {
			st = h.open(t, Options{}) // other pool, as another replica
		}
		wg.Go(func() {
			for i := 0; ctx.Err() == nil && i < 400; i++ {
				n := 1 + (i*7+w)%13
				batch := make([]timesheets.Entry, n)
				for k := range batch {
					batch[k] = ext(dayEntry(i+k), "w", fmt.Sprintf("%d-%d-%d", w, i, k))
				}
				if _, err := st.Create(ctx, batch); err != nil {
					if ctx.Err() == nil {
						werr <- err
					}
					return
				}
				created.Add(int64(n))
			}
		})
	}

	type pass struct{ seen []int64 }
	var passes []pass
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		var p pass
		f := timesheets.Filter{Limit: 5}
		for {
			page, err := h.st.List(ctxT(t), f)
			require.NoError(t, err)
			p.seen = append(p.seen, ids(page)...)
			if len(page) < 5 {
				break
			}
			f.AfterID = page[len(page)-1].ID
		}
		passes = append(passes, p)
	}
	cancel()
	wg.Wait()
	close(werr)
	for err := range werr {
		t.Fatalf("writer: %v", err)
	}

	all := ids(listAll(t, h.st, timesheets.Filter{Limit: timesheets.MaxPageSize}))
	require.True(t, slices.IsSorted(all))
	require.Positive(t, created.Load())
	for i, p := range passes {
		if len(p.seen) == 0 {
			continue
		}
		require.True(t, slices.IsSorted(p.seen) && len(slices.Compact(slices.Clone(p.seen))) == len(p.seen),
			"pass %d repeated or reordered ids", i)
		last := p.seen[len(p.seen)-1]
		n, _ := slices.BinarySearch(all, last)
		require.Equal(t, all[:n+1], p.seen, "pass %d skipped ids up to %d", i, last)
	}
	t.Logf("%d passes over up to %d entries written concurrently", len(passes), created.Load())
}

// testConcurrentCreateSameBatch uploads the same batches through two stores
// (two pools, as two replicas would) at once: each entry is created once,
// the other upload reports it as a duplicate with the same id.
func testConcurrentCreateSameBatch(t *testing.T, h *harness) {
	stores := []timesheets.Store{h.st, h.open(t, Options{})}
	total := 0
	for round := range 5 {
		batch := make([]timesheets.Entry, 200)
		for i := range batch {
			batch[i] = ext(dayEntry(i), "sync", fmt.Sprintf("r%d-%d", round, i))
		}
		results := make([][]timesheets.CreateResult, 4)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for k := range results {
			wg.Go(func() {
				<-start
				var err error
				results[k], err = stores[k%2].Create(ctxT(t), batch)
				assert.NoError(t, err)
			})
		}
		close(start)
		wg.Wait()
		require.False(t, t.Failed())
		for i := range batch {
			created := 0
			for k := range results {
				if !results[k][i].Duplicate {
					created++
				}
				assert.Equal(t, results[0][i].ID, results[k][i].ID, "entry %d: uploads disagree on the id", i)
			}
			assert.Equal(t, 1, created, "entry %d created %d times", i, created)
		}
		total += len(batch)
		assert.Len(t, listAll(t, h.st, timesheets.Filter{Limit: timesheets.MaxPageSize}), total)
	}
}

func testApprove(t *testing.T, h *harness) {
	res := mustCreate(t, h.st, dayEntry(1))
	at := testTime.Add(90 * time.Minute)
	e, err := h.st.Approve(ctxT(t), res[0].ID, "alice", at)
	require.NoError(t, err)
	assert.Equal(t, timesheets.StatusApproved, e.Status)
	assert.Equal(t, "alice", e.ApprovedBy)
	require.NotNil(t, e.ApprovedAt)
	assert.True(t, e.ApprovedAt.Equal(at))
	got, err := h.st.Get(ctxT(t), res[0].ID)
	require.NoError(t, err)
	assert.Equal(t, e, got)

	e2, err := h.st.Approve(ctxT(t), res[0].ID, "bob", at.Add(time.Hour))
	assert.ErrorIs(t, err, timesheets.ErrAlreadyApproved)
	assert.Equal(t, "alice", e2.ApprovedBy, "the first approver stays")
	got, err = h.st.Get(ctxT(t), res[0].ID)
	require.NoError(t, err)
	assert.Equal(t, e, got)

	_, err = h.st.Approve(ctxT(t), res[0].ID+1000, "bob", at)
	assert.ErrorIs(t, err, timesheets.ErrNotFound)
}

func testConcurrentApprove(t *testing.T, h *harness) {
	other := h.open(t, Options{})
	for round := range 5 {
		res := mustCreate(t, h.st, dayEntry(round))
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for k := range n {
			st := h.st
			if k%2 == 1 {
				st = other
			}
			wg.Go(func() {
				<-start
				_, errs[k] = st.Approve(ctxT(t), res[0].ID, fmt.Sprintf("approver-%d", k), testTime.Add(time.Duration(k)*time.Minute))
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for k, err := range errs {
			if err == nil {
				require.Equal(t, -1, winner, "approvers %d and %d both won", winner, k)
				winner = k
				continue
			}
			require.ErrorIs(t, err, timesheets.ErrAlreadyApproved)
		}
		require.NotEqual(t, -1, winner, "nobody approved")
		got, err := h.st.Get(ctxT(t), res[0].ID)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("approver-%d", winner), got.ApprovedBy)
		assert.True(t, got.ApprovedAt.Equal(testTime.Add(time.Duration(winner)*time.Minute)))
	}
}

func testDelete(t *testing.T, h *harness) {
	res := mustCreate(t, h.st, ext(dayEntry(1), "jira", "D-1"), dayEntry(2))
	require.NoError(t, h.st.Delete(ctxT(t), res[0].ID))
	_, err := h.st.Get(ctxT(t), res[0].ID)
	assert.ErrorIs(t, err, timesheets.ErrNotFound)
	assert.ErrorIs(t, h.st.Delete(ctxT(t), res[0].ID), timesheets.ErrNotFound)
	assert.ErrorIs(t, h.st.Delete(ctxT(t), res[1].ID+1000), timesheets.ErrNotFound)
	assert.Equal(t, []int64{res[1].ID}, ids(listAll(t, h.st, timesheets.Filter{})))

	// The external id is free again; ids are never reused, even of the
	// newest entry.
	require.NoError(t, h.st.Delete(ctxT(t), res[1].ID))
	again := mustCreate(t, h.st, ext(dayEntry(1), "jira", "D-1"))
	assert.False(t, again[0].Duplicate)
	assert.Greater(t, again[0].ID, res[1].ID)
}

func testNotFound(t *testing.T, h *harness) {
	_, err := h.st.Get(ctxT(t), 12345)
	assert.ErrorIs(t, err, timesheets.ErrNotFound)
	_, err = h.st.Get(ctxT(t), 0)
	assert.ErrorIs(t, err, timesheets.ErrNotFound)
	_, err = h.st.Approve(ctxT(t), 12345, "x", testTime)
	assert.ErrorIs(t, err, timesheets.ErrNotFound)
	assert.ErrorIs(t, h.st.Delete(ctxT(t), 12345), timesheets.ErrNotFound)
	got, err := h.st.List(ctxT(t), timesheets.Filter{})
	require.NoError(t, err)
	assert.Empty(t, got)
}

func testReopen(t *testing.T, h *harness) {
	res := mustCreate(t, h.st, ext(dayEntry(1), "jira", "R-1"))
	require.NoError(t, h.st.Close())
	st := h.open(t, Options{}) // migrations find nothing to do
	got, err := st.Get(ctxT(t), res[0].ID)
	require.NoError(t, err)
	assert.Equal(t, "R-1", got.ExternalID)
	again := mustCreate(t, st, ext(dayEntry(1), "jira", "R-1"))
	assert.Equal(t, timesheets.CreateResult{ID: res[0].ID, Duplicate: true}, again[0])
}

// testBlockedWritesUnavailable holds the write lock from another connection:
// a write then times out (statement timeout, busy timeout) with
// ErrUnavailable, reads go on, and writes work again once the lock is gone.
func testBlockedWritesUnavailable(t *testing.T, h *harness) {
	st := h.open(t, Options{StatementTimeout: 300 * time.Millisecond})
	res := mustCreate(t, st, dayEntry(1))

	release := h.eng.blockWrites(t, h.url)
	start := time.Now()
	_, err := st.Create(ctxT(t), []timesheets.Entry{dayEntry(2)})
	elapsed := time.Since(start)
	require.Error(t, err)
	assert.True(t, isUnavailable(err), "want ErrUnavailable, got %v", err)
	assert.Less(t, elapsed, 5*time.Second, "the statement timeout did not cut the wait short")
	_, err = st.Approve(ctxT(t), res[0].ID, "x", testTime)
	assert.True(t, isUnavailable(err), "want ErrUnavailable, got %v", err)

	got, err := st.Get(ctxT(t), res[0].ID)
	assert.NoError(t, err, "reads must go on while writes are blocked")
	assert.Equal(t, timesheets.StatusPending, got.Status)

	release()
	mustCreate(t, st, dayEntry(2))
	_, err = st.Approve(ctxT(t), res[0].ID, "x", testTime)
	assert.NoError(t, err)
}

func testPing(t *testing.T, h *harness) {
	require.NoError(t, h.st.Ping(ctxT(t)))
	require.NoError(t, h.st.Close())
	assert.Error(t, h.st.Ping(ctxT(t)))
}
