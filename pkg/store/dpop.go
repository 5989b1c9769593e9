package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// DPoP is what a store shares among the replicas to check DPoP proofs
// (RFC 9449): the replay ledger (a dpop.Ledger) and the server nonces'
// secret. Both engines implement it.
type DPoP interface {
	// Claim records a proof's key until until; fresh is false when the
	// key was recorded before and has not expired.
	Claim(ctx context.Context, key string, until time.Time) (fresh bool, err error)
	// NonceSecret returns the nonces' secret, creating it on first use.
	NonceSecret(ctx context.Context) ([]byte, error)
}

// DPoPOf returns the DPoP state of a store Open returned.
func DPoPOf(st any) (DPoP, bool) {
	d, ok := st.(DPoP)
	return d, ok
}

// nonceSecretSize is the nonces' HMAC key size: SHA-256's block.
const nonceSecretSize = 64

// pruneEvery is how often a claim also deletes the expired proofs.
const pruneEvery = time.Minute

// proofPruner tells a claim when to delete expired proofs: once per
// pruneEvery, whichever claim comes first.
type proofPruner struct{ last atomic.Int64 }

func (p *proofPruner) due(now time.Time) bool {
	last := p.last.Load()
	return now.UnixNano()-last >= int64(pruneEvery) && p.last.CompareAndSwap(last, now.UnixNano())
}

// The statements, in $n form, which both engines take. A key recorded
// before is taken again only when it has expired (then it is an old
// proof's, which its iat refuses anyway).
const (
	claimProof = `INSERT INTO dpop_proofs (proof_key, expires_ns) VALUES ($1, $2)
		ON CONFLICT (proof_key) DO UPDATE SET expires_ns = excluded.expires_ns WHERE dpop_proofs.expires_ns < $3
		RETURNING proof_key`
	pruneProofs      = `DELETE FROM dpop_proofs WHERE expires_ns < $1`
	createNonceKey   = `INSERT INTO dpop_nonce_secret (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`
	selectNonceKey   = `SELECT secret FROM dpop_nonce_secret WHERE id = 1`
	maxProofKeyBytes = 128
)

var errProofKey = errors.New("store: a DPoP proof key is empty or longer than 128 bytes")

func newNonceSecret() ([]byte, error) {
	b := make([]byte, nonceSecretSize)
	_, err := rand.Read(b)
	return b, err
}

// Claim records a proof in its group's transaction.
func (s *sqliteStore) Claim(ctx context.Context, key string, until time.Time) (fresh bool, err error) {
	if key == "" || len(key) > maxProofKeyBytes {
		return false, errProofKey
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	now := time.Now()
	err = s.writes.do(ctx, "dpop", 1, false, func(ctx context.Context, tx groupTx) error {
		t := tx.(sqliteTx)
		if s.pruner.due(now) {
			if _, err := t.ExecContext(ctx, pruneProofs, now.UnixNano()); err != nil {
				return sqliteError("dpop", err)
			}
		}
		var k string
		switch err := t.QueryRowContext(ctx, claimProof, key, until.UnixNano(), now.UnixNano()).Scan(&k); {
		case err == nil:
			fresh = true
		case errors.Is(err, sql.ErrNoRows):
		default:
			return sqliteError("dpop", err)
		}
		return nil
	})
	return fresh, err
}

// NonceSecret returns the nonces' secret, creating it on first use.
func (s *sqliteStore) NonceSecret(ctx context.Context) (secret []byte, err error) {
	fresh, err := newNonceSecret()
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	err = s.writes.do(ctx, "dpop", 1, false, func(ctx context.Context, tx groupTx) error {
		t := tx.(sqliteTx)
		if _, err := t.ExecContext(ctx, createNonceKey, fresh); err != nil {
			return sqliteError("dpop", err)
		}
		if err := t.QueryRowContext(ctx, selectNonceKey).Scan(&secret); err != nil {
			return sqliteError("dpop", err)
		}
		return nil
	})
	return secret, err
}

// Claim records a proof with one statement of its own, not in a group:
// two replicas' groups claiming the same keys in other orders would wait
// for each other (a deadlock PostgreSQL breaks only after
// deadlock_timeout), while one INSERT is atomic. PostgreSQL flushes the
// WAL of concurrent commits together.
func (s *pgStore) Claim(ctx context.Context, key string, until time.Time) (fresh bool, err error) {
	if key == "" || len(key) > maxProofKeyBytes {
		return false, errProofKey
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	now := time.Now()
	if s.pruner.due(now) {
		if _, err := s.pool.Exec(ctx, pruneProofs, now.UnixNano()); err != nil {
			return false, pgError("dpop", err)
		}
	}
	var k string
	switch err := s.pool.QueryRow(ctx, claimProof, key, until.UnixNano(), now.UnixNano()).Scan(&k); {
	case err == nil:
		return true, nil
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	default:
		return false, pgError("dpop", err)
	}
}

// NonceSecret returns the nonces' secret, creating it on first use, with
// statements of its own, as Claim.
func (s *pgStore) NonceSecret(ctx context.Context) (secret []byte, err error) {
	fresh, err := newNonceSecret()
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	if _, err := s.pool.Exec(ctx, createNonceKey, fresh); err != nil {
		return nil, pgError("dpop", err)
	}
	if err := s.pool.QueryRow(ctx, selectNonceKey).Scan(&secret); err != nil {
		return nil, pgError("dpop", err)
	}
	return secret, nil
}

// Claim and NonceSecret of a traced store pass through, untraced: they
// run with every DPoP request, which is traced already.
func (s traced) Claim(ctx context.Context, key string, until time.Time) (bool, error) {
	return s.Store.(DPoP).Claim(ctx, key, until)
}

func (s traced) NonceSecret(ctx context.Context) ([]byte, error) {
	return s.Store.(DPoP).NonceSecret(ctx)
}
