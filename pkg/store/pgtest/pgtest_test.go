package pgtest_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/abc-inc/timesheets/pkg/store/pgtest"
)

func query(t *testing.T, url string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", err
	}
	defer c.Close(ctx)
	var v string
	err = c.QueryRow(ctx, "SELECT current_database()").Scan(&v)
	return v, err
}

func TestServerStopStart(t *testing.T) {
	s := pgtest.New(t)
	if db, err := query(t, s.URL()); err != nil || db != "postgres" {
		t.Fatalf("query: %q, %v", db, err)
	}
	u := s.NewDatabase(t)
	if db, err := query(t, u); err != nil || db == "postgres" {
		t.Fatalf("new database: %q, %v", db, err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := query(t, u); err == nil {
		t.Fatal("query succeeded on a stopped server")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := query(t, u); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func TestStart(t *testing.T) {
	url, stop := pgtest.Start(t)
	if _, err := query(t, url); err != nil {
		t.Fatal(err)
	}
	stop()
	if _, err := query(t, url); err == nil {
		t.Fatal("query succeeded after stop")
	}
	stop() // idempotent
}

func TestMain(m *testing.M) {
	code := m.Run()
	if err := pgtest.CloseShared(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		code = 1
	}
	os.Exit(code)
}

// TestShared: tests of one binary share one server, each with a database
// of its own, dropped when the test ends; the shared server cannot be
// stopped from under the other tests.
func TestShared(t *testing.T) {
	var first string
	t.Run("first", func(t *testing.T) {
		first = pgtest.Database(t)
		if db, err := query(t, first); err != nil || db == "postgres" {
			t.Fatalf("database: %q, %v", db, err)
		}
	})
	if _, err := query(t, first); err == nil {
		t.Fatal("the first test's database outlived the test")
	}
	second := pgtest.Database(t)
	if second == first {
		t.Fatal("two tests got the same database")
	}
	if _, err := query(t, second); err != nil {
		t.Fatal(err)
	}
	if first, again := pgtest.Shared(t), pgtest.Shared(t); first != again {
		t.Fatal("two shared servers")
	}
	if err := pgtest.Shared(t).Stop(); err == nil {
		t.Fatal("the shared server stopped")
	}
	if _, err := query(t, second); err != nil {
		t.Fatalf("after the refused stop: %v", err)
	}
}
