-- Indexes, shared by both engines (portable SQL).
--
-- (source, external_id) identifies an entry imported from another system;
-- it is unique only when external_id is set. Both engines accept
--   INSERT ... ON CONFLICT (source, external_id) WHERE external_id <> '' DO NOTHING
-- against this partial index.
--
-- The list filters page by ascending id, so each filter index ends in id:
-- an equality filter then reads its rows already in cursor order.

-- +goose Up
CREATE UNIQUE INDEX entries_source_external_id ON entries (source, external_id) WHERE external_id <> '';
CREATE INDEX entries_user_id ON entries (user_id, id);
CREATE INDEX entries_project ON entries (project, id);
CREATE INDEX entries_status ON entries (status, id);
CREATE INDEX entries_period_start ON entries (period_start, id);

-- +goose Down
DROP INDEX entries_period_start;
DROP INDEX entries_status;
DROP INDEX entries_project;
DROP INDEX entries_user_id;
DROP INDEX entries_source_external_id;
