package pgtest_test

import (
	"context"
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
