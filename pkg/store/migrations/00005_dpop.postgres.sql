-- What the replicas share to check DPoP proofs (RFC 9449), PostgreSQL flavour.
--
-- dpop_proofs is the replay ledger (RFC 9449 §11.1): one row per proof
-- accepted, keyed by its key's thumbprint and jti (hashed), kept until the
-- proof could no longer be accepted anyway (its iat too old); expired rows
-- are deleted as new ones come. dpop_nonce_secret holds the one secret of
-- the server nonces (§8), created by the first replica that needs it, so
-- that every replica accepts the nonces of the others.

-- +goose Up
CREATE TABLE dpop_proofs (
    proof_key  TEXT COLLATE "C" PRIMARY KEY CHECK (length(proof_key) <= 128),
    expires_ns BIGINT NOT NULL
);
CREATE INDEX dpop_proofs_expires ON dpop_proofs (expires_ns);
CREATE TABLE dpop_nonce_secret (
    id     SMALLINT PRIMARY KEY CHECK (id = 1),
    secret BYTEA NOT NULL CHECK (length(secret) >= 32)
);

-- +goose Down
DROP TABLE dpop_nonce_secret;
DROP TABLE dpop_proofs;
