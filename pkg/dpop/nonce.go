package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// Nonces issues and checks server nonces (RFC 9449 §8, §9) without state:
// a nonce is base64url(time || HMAC-SHA256(Secret, label || time)), so any
// replica holding the same Secret accepts the others' nonces, and a nonce
// bounds a proof's age by the server's clock rather than the client's
// (§11.1). Nonces are unpredictable to whoever lacks the Secret (§8). The
// zero Lifetime, Skew and Now take defaults; a Nonces is safe for
// concurrent use once set up.
type Nonces struct {
	Secret   []byte        // >= MinNonceSecret bytes, shared by the replicas
	Lifetime time.Duration // default 5m
	Now      func() time.Time
	Skew     time.Duration // how far in the future a nonce's time may be (replicas' clocks); default 30s
}

// MinNonceSecret is the shortest Nonces.Secret.
const MinNonceSecret = 32

// Defaults of Nonces.
const (
	DefaultNonceLifetime = 5 * time.Minute
	DefaultNonceSkew     = 30 * time.Second
)

// nonceLabel separates these MACs from any other use of the secret.
const nonceLabel = "timesheets dpop nonce v1\x00"

const (
	nonceRawLen = 8 + sha256.Size
	nonceLen    = (nonceRawLen*8 + 5) / 6 // base64url without padding: 54
)

func (n *Nonces) now() time.Time {
	if n.Now == nil {
		return time.Now()
	}
	return n.Now()
}

func (n *Nonces) mac(ts []byte) []byte {
	m := hmac.New(sha256.New, n.Secret)
	m.Write([]byte(nonceLabel))
	m.Write(ts)
	return m.Sum(nil)
}

// Issue returns a new nonce for the DPoP-Nonce header: base64url of the
// time (Unix seconds, 8 bytes big-endian) and its HMAC. The value fits the
// nonce syntax of RFC 9449 §8.1 (NQCHAR). It panics when Secret is shorter
// than MinNonceSecret, a configuration error.
func (n *Nonces) Issue() string {
	if len(n.Secret) < MinNonceSecret {
		panic("dpop: Nonces.Secret is shorter than 32 bytes")
	}
	b := make([]byte, 8, nonceRawLen)
	binary.BigEndian.PutUint64(b, uint64(n.now().Unix()))
	return base64.RawURLEncoding.EncodeToString(append(b, n.mac(b)...))
}

// Valid reports whether nonce is one that a Nonces with this Secret issued
// no longer than Lifetime ago (nor more than Skew in the future). The MAC is
// compared in constant time. A Secret shorter than MinNonceSecret accepts
// nothing.
func (n *Nonces) Valid(nonce string) bool {
	if len(n.Secret) < MinNonceSecret || len(nonce) != nonceLen {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(nonce)
	if err != nil || len(b) != nonceRawLen {
		return false
	}
	if !hmac.Equal(b[8:], n.mac(b[:8])) {
		return false
	}
	ts := binary.BigEndian.Uint64(b[:8])
	if ts > 1<<40 { // far beyond any clock: keeps the conversion below exact
		return false
	}
	issued := time.Unix(int64(ts), 0)
	lifetime, skew := n.Lifetime, n.Skew
	if lifetime <= 0 {
		lifetime = DefaultNonceLifetime
	}
	if skew <= 0 {
		skew = DefaultNonceSkew
	}
	now := n.now()
	return !issued.Before(now.Add(-lifetime)) && !issued.After(now.Add(skew))
}

// Check is Valid as an *Error with ReasonNonce, for a proof's nonce claim:
// nil when the nonce is valid.
func (n *Nonces) Check(nonce string) error {
	if nonce == "" {
		return errNonceMissing
	}
	if !n.Valid(nonce) {
		return errNonce
	}
	return nil
}
