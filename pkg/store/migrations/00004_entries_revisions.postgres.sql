-- Revisions, update times and the tool's modification time; days kept as
-- days. PostgreSQL flavour (BIGINT for nanoseconds and revisions).
--
-- date_day is 1 when date_ns is a calendar day (UTC midnight) that the
-- client gave as 2026-01-05, to be returned the same way. revision is 1 at
-- creation and grows with every change: it is the entry's ETag.
-- source_updated_at_ns is the external tool's modification time of an
-- imported entry; the index serves the importer's checkpoint (the newest
-- of one owner's source) and its prune window (one owner's source).
-- Entries stored before this migration get revision 1 and an update time
-- equal to their creation time.

-- +goose Up
ALTER TABLE entries ADD COLUMN date_day SMALLINT NOT NULL DEFAULT 0 CHECK (date_day IN (0, 1));
ALTER TABLE entries ADD COLUMN revision BIGINT NOT NULL DEFAULT 1 CHECK (revision >= 1);
ALTER TABLE entries ADD COLUMN updated_at_ns BIGINT NOT NULL DEFAULT 0;
ALTER TABLE entries ADD COLUMN source_updated_at_ns BIGINT;
UPDATE entries SET updated_at_ns = coalesce(approved_at_ns, created_at_ns);
CREATE INDEX entries_owner_source ON entries (owner, source, source_updated_at_ns);

-- +goose Down
DROP INDEX entries_owner_source;
ALTER TABLE entries DROP COLUMN source_updated_at_ns;
ALTER TABLE entries DROP COLUMN updated_at_ns;
ALTER TABLE entries DROP COLUMN revision;
ALTER TABLE entries DROP COLUMN date_day;
