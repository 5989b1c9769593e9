-- The client that owns an entry's (source, external_id) key: auth.Client,
-- "ISSUER#client:CLIENT_ID" or "ISSUER#sub:SUBJECT". An upload of the same
-- key by that client is a duplicate; by any other client a conflict, which
-- stores nothing. Shared by both engines (portable SQL).
--
-- Entries stored before this migration get '' (owner unknown) and nobody
-- may claim their keys: an upload of one is a conflict for every client.
-- That is the safe choice. created_by held the bare subject, not the issuer
-- and client id, so an owner cannot be derived without guessing; and
-- letting the first uploader claim a key would hand it to whoever squats it
-- first, the very attack this column stops. An operator who knows the
-- rightful client of old entries may assign them, for example:
--   UPDATE entries SET owner = 'https://issuer.example/#client:importer'
--   WHERE owner = '' AND source = 'contractor-tool';

-- +goose Up
ALTER TABLE entries ADD COLUMN owner TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE entries DROP COLUMN owner;
