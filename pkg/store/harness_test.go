package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3"

	"github.com/abc-inc/timesheets/pkg/store/pgtest"
	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// One PostgreSQL server serves all tests of the package (pgtest.Database:
// each test gets its own database); tests that stop the server start their
// own.
func TestMain(m *testing.M) {
	code := m.Run()
	if err := pgtest.CloseShared(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
	}
	os.Exit(code)
}

// engine is one storage engine the conformance suite runs against.
type engine struct {
	name string
	// newURL returns the URL of a new, empty database.
	newURL func(t testing.TB) string
	// blockWrites holds the database's write lock from another connection
	// until release is called, so that writes wait.
	blockWrites func(t testing.TB, url string) (release func())
	// rawDB opens the database without the store, and names its dialect.
	rawDB func(t testing.TB, url string) (*sql.DB, goose.Dialect)
}

var engines = []engine{
	{
		name: "sqlite",
		newURL: func(t testing.TB) string {
			// A directory that does not exist yet: Open creates it.
			return "sqlite://" + filepath.Join(t.TempDir(), "data", "timesheets.db")
		},
		blockWrites: func(t testing.TB, url string) func() {
			path, _, err := sqlitePath(url)
			if err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("sqlite", path+"?_txlock=immediate")
			if err != nil {
				t.Fatal(err)
			}
			tx, err := db.Begin() // BEGIN IMMEDIATE: takes the write lock
			if err != nil {
				t.Fatal(err)
			}
			return func() { _ = tx.Rollback(); _ = db.Close() }
		},
		rawDB: func(t testing.TB, url string) (*sql.DB, goose.Dialect) {
			path, _, err := sqlitePath(url)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			return db, goose.DialectSQLite3
		},
	},
	{
		name:   "postgres",
		newURL: pgtest.Database,
		blockWrites: func(t testing.TB, url string) func() {
			ctx := context.Background()
			c, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			tx, err := c.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// EXCLUSIVE mode blocks writers but not readers.
			if _, err := tx.Exec(ctx, "LOCK TABLE entries IN EXCLUSIVE MODE"); err != nil {
				t.Fatal(err)
			}
			return func() { _ = tx.Rollback(ctx); _ = c.Close(ctx) }
		},
		rawDB: func(t testing.TB, url string) (*sql.DB, goose.Dialect) {
			db, err := sql.Open("pgx", url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			return db, goose.DialectPostgres
		},
	},
}

// harness is one conformance test's database and store.
type harness struct {
	eng engine
	url string
	st  timesheets.Store
}

func newHarness(t *testing.T, eng engine) *harness {
	h := &harness{eng: eng, url: eng.newURL(t)}
	h.st = h.open(t, Options{})
	return h
}

// open opens another store on the harness's database.
func (h *harness) open(t testing.TB, o Options) timesheets.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := Open(ctx, h.url, o)
	if err != nil {
		t.Fatalf("open %s: %v", h.eng.name, err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// mustCreate stores entries and fails the test on error.
func mustCreate(t testing.TB, st timesheets.Store, entries ...timesheets.Entry) []timesheets.CreateResult {
	t.Helper()
	res, err := st.Create(ctxT(t), entries)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if len(res) != len(entries) {
		t.Fatalf("create: %d results for %d entries", len(res), len(entries))
	}
	return res
}

// listAll pages through all entries matching f.
func listAll(t testing.TB, st timesheets.Store, f timesheets.Filter) []timesheets.Entry {
	t.Helper()
	var out []timesheets.Entry
	for {
		page, err := st.List(ctxT(t), f)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		out = append(out, page...)
		if len(page) < int(pageSize(f.Limit)) {
			return out
		}
		f.AfterID = page[len(page)-1].ID
	}
}

func ids(entries []timesheets.Entry) []int64 {
	out := make([]int64, len(entries))
	for i, e := range entries {
		out[i] = e.ID
	}
	return out
}

var testTime = time.Date(2024, 3, 4, 10, 11, 12, 123456789, time.UTC)

// Owners of test entries, as auth.Client names clients.
const (
	testOwner  = "https://issuer.test/#client:tester"
	otherOwner = "https://issuer.test/#client:squatter"
)

// dayEntry is a valid day entry; n makes it distinct.
func dayEntry(n int) timesheets.Entry {
	d := testTime.AddDate(0, 0, n%30)
	return timesheets.Entry{
		UserType: timesheets.UserTypeEmployee, UserID: fmt.Sprintf("user-%d", n%7), Date: &d,
		Project: fmt.Sprintf("project-%d", n%5), Hours: float64(n%8) + 0.5,
		Status: timesheets.StatusPending, CreatedBy: "tester", CreatedAt: testTime, Owner: testOwner,
		Revision: 1, UpdatedAt: testTime,
	}
}

// weekEntry is a valid week entry.
func weekEntry(n int) timesheets.Entry {
	return timesheets.Entry{
		UserType: timesheets.UserTypeContractor, UserID: fmt.Sprintf("user-%d", n%7),
		Year: 2024, Week: 1 + n%52, Project: fmt.Sprintf("project-%d", n%5), Hours: 40,
		Status: timesheets.StatusPending, CreatedBy: "tester", CreatedAt: testTime, Owner: testOwner,
		Revision: 1, UpdatedAt: testTime,
	}
}

// owned gives e another owner.
func owned(e timesheets.Entry, owner string) timesheets.Entry {
	e.Owner = owner
	return e
}

// ext gives e an external id.
func ext(e timesheets.Entry, source, id string) timesheets.Entry {
	e.Source, e.ExternalID = source, id
	return e
}

// migrateTo applies the migrations of dialect up to version, as an older
// release of the store would have.
func migrateTo(t testing.TB, db *sql.DB, dialect goose.Dialect, version int64) {
	t.Helper()
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	other := suffixPostgres
	if dialect == goose.DialectPostgres {
		other = suffixSQLite
	}
	names, err := fs.Glob(fsys, "*"+other)
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(dialect, db, fsys, goose.WithExcludeNames(names), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctxT(t), version); err != nil {
		t.Fatal(err)
	}
}

func isUnavailable(err error) bool { return errors.Is(err, timesheets.ErrUnavailable) }
