-- The importer's checkpoints, SQLite flavour: for each client (owner) and
-- source, the newest modification time (the tool's source_updated_at) of a
-- run that read and stored everything it was asked to. An incremental run
-- reads the tool from there (less an overlap). It is written by the run, at
-- its end, only when nothing failed: the newest entry stored is no
-- checkpoint, since a run may store later entries after an earlier batch
-- failed, and the next run would then skip the failed ones.

-- +goose Up
CREATE TABLE upload_checkpoints (
    owner                TEXT NOT NULL CHECK (length(owner) BETWEEN 1 AND 1024),
    source               TEXT NOT NULL CHECK (length(source) <= 64),
    source_updated_at_ns INTEGER NOT NULL,
    PRIMARY KEY (owner, source)
) STRICT;

-- +goose Down
DROP TABLE upload_checkpoints;
