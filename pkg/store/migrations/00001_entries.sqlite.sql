-- The entries table, SQLite flavour (a STRICT table, so types are enforced).
-- It differs from the PostgreSQL one only in column types: AUTOINCREMENT so
-- that ids are never reused after a delete, and period_start as ISO-8601 text
-- (YYYY-MM-DD), which sorts and compares like a date.
-- Times are stored as Unix nanoseconds (UTC) so that they round-trip exactly.

-- +goose Up
CREATE TABLE entries (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_type      TEXT NOT NULL CHECK (user_type IN ('Employee', 'Contractor')),
    user_id        TEXT NOT NULL CHECK (length(user_id) BETWEEN 1 AND 64),
    date_ns        INTEGER,
    year           INTEGER CHECK (year BETWEEN 1 AND 9999),
    week           INTEGER CHECK (week BETWEEN 1 AND 53),
    period_start   TEXT NOT NULL CHECK (length(period_start) = 10),
    project        TEXT NOT NULL CHECK (length(project) BETWEEN 1 AND 128),
    hours          REAL NOT NULL CHECK (hours > 0 AND hours <= 168),
    source         TEXT NOT NULL DEFAULT '' CHECK (length(source) <= 64),
    external_id    TEXT NOT NULL DEFAULT '' CHECK (length(external_id) <= 256),
    status         TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved')),
    created_by     TEXT NOT NULL DEFAULT '',
    created_at_ns  INTEGER NOT NULL,
    approved_by    TEXT NOT NULL DEFAULT '',
    approved_at_ns INTEGER,
    CONSTRAINT entries_shape CHECK (
        (date_ns IS NOT NULL AND year IS NULL AND week IS NULL) OR
        (date_ns IS NULL AND year IS NOT NULL AND week IS NOT NULL))
) STRICT;

-- +goose Down
DROP TABLE entries;
