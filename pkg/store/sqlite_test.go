package store

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/timesheets"
)

func TestSQLitePath(t *testing.T) {
	for _, c := range []struct {
		url, path, query, err string
	}{
		{url: "sqlite://./data/timesheets.db", path: "./data/timesheets.db"},
		{url: "sqlite:///var/lib/ts.db", path: "/var/lib/ts.db"},
		{url: "sqlite:ts.db", path: "ts.db"},
		{url: "file:./data/timesheets.db", path: "./data/timesheets.db"},
		{url: "file:///tmp/x.db", path: "/tmp/x.db"},
		{url: "./data/timesheets.db", path: "./data/timesheets.db"},
		{url: "/abs/ts.db?_pragma=cache_size(-20000)", path: "/abs/ts.db", query: "_pragma=cache_size(-20000)"},
		{url: "mysql://db/x", err: "unsupported database URL scheme"},
		{url: "sqlite://", err: "names no file"},
		{url: "sqlite://:memory:", err: "in-memory"},
		{url: "file:x.db?mode=memory", err: "in-memory"},
	} {
		t.Run(c.url, func(t *testing.T) {
			path, query, err := sqlitePath(c.url)
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.path, path)
			assert.Equal(t, c.query, query)
		})
	}
}

func TestSQLiteOpenForms(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, u := range []string{"file:./a/b/ts.db", "./c/ts.db", "sqlite://" + filepath.Join(dir, "d", "ts.db")} {
		t.Run(u, func(t *testing.T) {
			st, err := Open(ctxT(t), u, Options{})
			require.NoError(t, err)
			defer st.Close()
			mustCreate(t, st, dayEntry(1))
			path, _, _ := sqlitePath(u)
			_, err = os.Stat(path)
			assert.NoError(t, err)
		})
	}
}

func TestSQLitePragmas(t *testing.T) {
	h := newHarness(t, engines[0])
	s := h.st.(traced).Store.(*sqliteStore)
	get := func(which string, name string) string {
		db := s.w
		if which == "r" {
			db = s.r
		}
		var v string
		require.NoError(t, db.QueryRowContext(ctxT(t), "PRAGMA "+name).Scan(&v))
		return v
	}
	assert.Equal(t, "wal", get("w", "journal_mode"))
	assert.Equal(t, "1", get("w", "synchronous")) // NORMAL
	assert.Equal(t, "1", get("w", "foreign_keys"))
	assert.Equal(t, "5000", get("w", "busy_timeout"))
	assert.Equal(t, "0", get("w", "query_only"))
	assert.Equal(t, "1", get("r", "query_only"))
	assert.Equal(t, "1", get("r", "synchronous"))
	assert.Equal(t, "5000", get("r", "busy_timeout"))

	// The URL's own synchronous setting is kept.
	full := &harness{eng: engines[0], url: h.url + "?_pragma=synchronous(FULL)"}
	st := full.open(t, Options{}).(traced).Store.(*sqliteStore)
	var v string
	require.NoError(t, st.w.QueryRowContext(ctxT(t), "PRAGMA synchronous").Scan(&v))
	assert.Equal(t, "2", v) // FULL
}

// TestSQLiteConcurrentMigrations opens several stores at once on a new file,
// as processes starting together would: all succeed, each migration is
// applied once.
func TestSQLiteConcurrentMigrations(t *testing.T) {
	for round := range 5 {
		url := "sqlite://" + filepath.Join(t.TempDir(), "new", "ts.db")
		const n = 6
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				st, err := Open(ctxT(t), url, Options{})
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
			require.NoError(t, err, "round %d, open %d", round, i)
		}
		st, err := Open(ctxT(t), url, Options{})
		require.NoError(t, err)
		var versions, applied int
		require.NoError(t, st.(traced).Store.(*sqliteStore).r.QueryRowContext(ctxT(t),
			"SELECT count(DISTINCT version_id), count(*) FROM goose_db_version").Scan(&versions, &applied))
		assert.Equal(t, 7, versions) // goose's version 0 and migrations 1 to 6
		assert.Equal(t, 7, applied)
		assert.Len(t, listAll(t, st, timesheets.Filter{}), n)
		st.Close()
	}
}

// TestSQLiteFilesPrivate: the database, its WAL and shared-memory files and
// the directory the store creates are the process user's alone.
func TestSQLiteFilesPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "data")
	path := filepath.Join(dir, "ts.db")
	st, err := Open(ctxT(t), "sqlite://"+path, Options{})
	require.NoError(t, err)
	defer st.Close()
	mustCreate(t, st, dayEntry(1)) // the WAL and SHM exist while the store is open
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-migrate.lock"} {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), p)
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		fi, err := os.Stat(d)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), d)
	}
}
