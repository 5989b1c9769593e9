package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/metrics"
	"github.com/abc-inc/timesheets/pkg/store/pgtest"
	"github.com/abc-inc/timesheets/pkg/syncbuf"
	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// TestReplicasShareOnePostgres runs two API replicas, each with its own
// connection pool, on one PostgreSQL database and races them.
func TestReplicasShareOnePostgres(t *testing.T) {
	dbURL := pgtest.Database(t)
	is := newDevIssuer(t)
	a, b := newStackWith(t, true, dbURL, is), newStackWith(t, true, dbURL, is)
	importer, admin := a.token(t, "importer"), a.token(t, "admin")

	var entries []string
	for i := range 300 {
		entries = append(entries, fmt.Sprintf(`{"user_id":"r-%d","date":"2021-03-%02dT08:00:00Z","project":"P","hours":4,"source":"tool","external_id":"e-%d"}`, i%7, i%28+1, i))
	}
	batch := "[" + strings.Join(entries, ",") + "]"

	t.Run("the same batch through both at once creates each entry once", func(t *testing.T) {
		var wg sync.WaitGroup
		created := make([]float64, 2)
		for i, s := range []*stack{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := s.do(t, "POST", "/timesheets/upload", importer, jsonType, batch)
				require.Equal(t, 200, r.status, r.raw)
				created[i] = r.body["created"].(float64)
				require.Equal(t, float64(300), r.body["created"].(float64)+r.body["duplicates"].(float64))
			}()
		}
		wg.Wait()
		require.Equal(t, float64(300), created[0]+created[1], "each entry created by exactly one replica")
	})

	t.Run("two approvals record one approver", func(t *testing.T) {
		r := a.do(t, "POST", "/timesheets/upload", importer, jsonType, dayEntry) // not admin: nobody approves their own
		loc := r.header.Get("Location")
		statuses := make([]int, 2)
		var wg sync.WaitGroup
		for i, s := range []*stack{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = s.do(t, "POST", loc+"/approve", admin, "", "").status
			}()
		}
		wg.Wait()
		require.ElementsMatch(t, []int{200, 409}, statuses)
	})

	t.Run("pages read through one replica while the other writes skip and repeat nothing", func(t *testing.T) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range 20 {
				var more []string
				for j := range 50 {
					more = append(more, fmt.Sprintf(`{"user_id":"w","date":"2021-04-01T08:00:00Z","project":"P","hours":1,"source":"w","external_id":"%d-%d"}`, i, j))
				}
				b.do(t, "POST", "/timesheets/upload", importer, jsonType, "["+strings.Join(more, ",")+"]")
			}
		}()
		seen := map[float64]bool{}
		last, cursor, rereading := 0.0, "", false
		for {
			writerDone := false
			select {
			case <-done:
				writerDone = true
			default:
			}
			r := a.do(t, "GET", "/timesheets?limit=37&cursor="+cursor, admin, "", "")
			require.Equal(t, 200, r.status, r.raw)
			for _, it := range r.body["items"].([]any) {
				id := it.(map[string]any)["id"].(float64)
				if rereading && id <= last {
					continue // the last page again, read from the same cursor
				}
				require.False(t, seen[id], "entry %v seen twice", id)
				require.Greater(t, id, last, "ids ascend across pages")
				seen[id], last = true, id
			}
			next, _ := r.body["next_cursor"].(string)
			if next != "" {
				cursor, rereading = next, false
				continue
			}
			if writerDone {
				break
			}
			rereading = true
		}
		require.Equal(t, 300+1+1000, len(seen), "every entry seen exactly once")
	})
}

// TestDatabaseDownAtStart: the store of an API whose database is not up yet
// answers ErrUnavailable (503) and fails readiness, then opens by itself;
// an outage mid-run answers 503 with Retry-After, and the same process
// recovers when the database is back.
func TestDatabaseDownAtStart(t *testing.T) {
	pg := pgtest.New(t) // its own server: the test stops it
	dbURL := pg.NewDatabase(t)
	require.NoError(t, pg.Stop())

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var log syncbuf.Buffer
	st, fatal, err := openStore(ctx, dbURL, slog.New(slog.NewJSONHandler(&log, nil)), metrics.Discard())
	require.NoError(t, err, "an unavailable database is waited for, not an error")
	defer st.Close()
	require.ErrorIs(t, st.Ping(ctx), timesheets.ErrUnavailable)
	require.ErrorContains(t, st.Ping(ctx), "database not open yet")
	_, err = st.Get(ctx, 1)
	require.ErrorIs(t, err, timesheets.ErrUnavailable)
	// Past the first retry (its failure logs attempt 2): still waiting.
	require.Eventually(t, func() bool { return strings.Contains(log.String(), `"attempt":2`) }, 20*time.Second, 10*time.Millisecond,
		"no second attempt logged:\n%s", &log)
	require.ErrorIs(t, st.Ping(ctx), timesheets.ErrUnavailable)
	require.NoError(t, pg.Start())
	require.Eventually(t, func() bool { return st.Ping(ctx) == nil }, 20*time.Second, 50*time.Millisecond)
	_, err = st.Get(ctx, 1)
	require.ErrorIs(t, err, timesheets.ErrNotFound, "the opened store serves")
	select {
	case err := <-fatal:
		t.Fatalf("fatal: %v", err)
	default:
	}

	s := newStackWith(t, true, dbURL, newDevIssuer(t))
	admin := s.token(t, "admin")
	require.Equal(t, 201, s.do(t, "POST", "/timesheets", admin, jsonType, dayEntry).status)
	require.NoError(t, pg.Stop())
	r := s.do(t, "GET", "/timesheets/1", admin, "", "")
	require.Equal(t, 503, r.status, r.raw)
	require.NotEmpty(t, r.header.Get("Retry-After"))
	require.Error(t, s.store.Ping(ctx), "readiness fails while the database is down")
	require.NoError(t, pg.Start())
	require.Eventually(t, func() bool { return s.do(t, "GET", "/timesheets/1", admin, "", "").status == 200 },
		20*time.Second, 100*time.Millisecond, "the same process recovers without a restart")
}
