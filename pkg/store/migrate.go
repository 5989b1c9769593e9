package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrations holds the schema. Files named NNNNN_name.sql apply to both
// engines; NNNNN_name.postgres.sql and NNNNN_name.sqlite.sql to one engine
// only (a version may have one file per engine where the SQL differs, as the
// table definition does for the id column and types).
//
//go:embed migrations/*.sql
var migrations embed.FS

// Engine-specific migration file suffixes.
const (
	suffixPostgres = ".postgres.sql"
	suffixSQLite   = ".sqlite.sql"
)

// migrationLockID is the PostgreSQL advisory lock that serialises migrations
// of replicas starting at once: an arbitrary constant, distinct from
// createLockID and from goose's default lock id.
const migrationLockID int64 = 0x7473_6d69_6772 // "tsmigr"

// migrate applies all pending migrations for the dialect. On PostgreSQL it
// holds a session-level advisory lock while it does, so that replicas
// starting at the same time migrate one after the other: the first applies
// the migrations, the others then find nothing pending.
func migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, o Options) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	other := suffixPostgres
	if dialect == goose.DialectPostgres {
		other = suffixSQLite
	}
	var exclude []string
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return err
	}
	for _, n := range names {
		if strings.HasSuffix(n, other) {
			exclude = append(exclude, n)
		}
	}
	opts := []goose.ProviderOption{
		goose.WithExcludeNames(exclude),
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(o.Logger),
	}
	if dialect == goose.DialectPostgres {
		// The locker polls pg_try_advisory_lock once a second.
		tries := max(uint64(o.MigrationLockTimeout/time.Second), 1)
		locker, err := lock.NewPostgresSessionLocker(
			lock.WithLockID(migrationLockID),
			lock.WithLockTimeout(1, tries),
			lock.WithUnlockTimeout(1, 10),
		)
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, db, fsys, opts...)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}
