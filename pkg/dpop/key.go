// Package dpop implements OAuth 2.0 Demonstrating Proof of Possession
// (DPoP, RFC 9449): the client side (a key, its RFC 7638 thumbprint, proofs)
// and the server side (Verify, Bind, a replay Ledger and stateless Nonces).
//
// The package knows nothing of HTTP handlers, policies or Kubernetes: the API
// middleware, the development issuer and the importer wire it.
//
// JOSE: github.com/golang-jwt/jwt/v5 signs and verifies the proof JWTs;
// github.com/go-jose/go-jose/v4 parses the header's JWK and computes
// RFC 7638 thumbprints.
package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// JWTType is the typ header of a DPoP proof (RFC 9449 §4.2).
const JWTType = "dpop+jwt"

// Key is a client's DPoP key pair: the private key that signs proofs, the JWS
// algorithm it signs with, and the public JWK a proof carries in its header.
// A Key is safe for concurrent use.
type Key struct {
	signer     crypto.Signer
	alg        string
	method     jwt.SigningMethod
	jwk        json.RawMessage // public members only
	thumbprint string
}

// NewKey generates a key for alg: "ES256" (P-256, the default when alg is
// ""), "RS256" (RSA 2048 bits); also "ES384", "ES512", "PS256" and "EdDSA"
// (Ed25519).
func NewKey(alg string) (*Key, error) {
	var (
		signer crypto.Signer
		err    error
	)
	switch alg {
	case "", "ES256":
		alg = "ES256"
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		signer, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ES512":
		signer, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "RS256", "PS256":
		signer, err = rsa.GenerateKey(rand.Reader, 2048)
	case "EdDSA":
		_, signer, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("dpop: unsupported key algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("dpop: generate %s key: %w", alg, err)
	}
	return newKey(signer, alg)
}

// ParseKey reads a private key from PEM: PKCS#8 ("PRIVATE KEY"), SEC1
// ("EC PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY"). A P-256 key signs ES256
// (P-384 ES384, P-521 ES512), an RSA key RS256 and an Ed25519 key EdDSA.
// The first PEM block must be the key; RSA keys must have 2048 to 8192 bits.
func ParseKey(pemBytes []byte) (*Key, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("dpop: no PEM block")
	}
	var (
		priv any
		err  error
	)
	switch block.Type {
	case "PRIVATE KEY":
		priv, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		priv, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		priv, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("dpop: PEM block %q is not a private key (want PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("dpop: parse %s: %w", block.Type, err)
	}
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return newKey(k, "ES256")
		case elliptic.P384():
			return newKey(k, "ES384")
		case elliptic.P521():
			return newKey(k, "ES512")
		}
		return nil, errors.New("dpop: unsupported EC curve (want P-256, P-384 or P-521)")
	case *rsa.PrivateKey:
		return newKey(k, "RS256")
	case ed25519.PrivateKey:
		return newKey(k, "EdDSA")
	}
	return nil, fmt.Errorf("dpop: unsupported private key type %T", priv)
}

func newKey(signer crypto.Signer, alg string) (*Key, error) {
	method := jwt.GetSigningMethod(alg)
	if method == nil {
		return nil, fmt.Errorf("dpop: unsupported key algorithm %q", alg)
	}
	if err := checkPublicKey(signer.Public(), alg); err != nil {
		return nil, err
	}
	pub := jose.JSONWebKey{Key: signer.Public()}
	raw, err := pub.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("dpop: public JWK: %w", err)
	}
	tp, err := thumbprint(&pub)
	if err != nil {
		return nil, err
	}
	return &Key{signer: signer, alg: alg, method: method, jwk: raw, thumbprint: tp}, nil
}

// Alg is the JWS algorithm the key signs proofs with.
func (k *Key) Alg() string { return k.alg }

// Thumbprint is the key's JWK SHA-256 thumbprint (RFC 7638 §3), base64url
// without padding: the cnf.jkt of a token bound to this key (RFC 9449 §6.1).
func (k *Key) Thumbprint() string { return k.thumbprint }

// PublicJWK is the key's public JWK as it appears in a proof's header.
func (k *Key) PublicJWK() json.RawMessage { return append(json.RawMessage(nil), k.jwk...) }

// Public is the key's public key.
func (k *Key) Public() crypto.PublicKey { return k.signer.Public() }

// Signer is the private key, for callers that sign other JWTs with it (a
// private_key_jwt client assertion, RFC 7523).
func (k *Key) Signer() crypto.Signer { return k.signer }

// Proof makes a DPoP proof (RFC 9449 §4.2) for a request with method to htu,
// issued at now: header typ dpop+jwt, alg and the public jwk; claims jti (128
// random bits), htm, htu (without query and fragment), iat, ath (RFC 9449
// §4.2, the base64url SHA-256 of accessToken) when accessToken is not empty,
// and nonce (RFC 9449 §8) when nonce is not empty.
func (k *Key) Proof(method, htu, accessToken, nonce string, now time.Time) (string, error) {
	if method == "" {
		return "", errors.New("dpop: proof without an HTTP method")
	}
	u, err := url.Parse(htu)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "", errors.New("dpop: htu is not an absolute URI")
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", fmt.Errorf("dpop: jti: %w", err)
	}
	claims := jwt.MapClaims{
		"jti": base64.RawURLEncoding.EncodeToString(id[:]),
		"htm": method,
		"htu": u.String(),
		"iat": now.Unix(),
	}
	if accessToken != "" {
		claims["ath"] = AccessTokenHash(accessToken)
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	t := jwt.NewWithClaims(k.method, claims)
	t.Header["typ"] = JWTType
	t.Header["jwk"] = k.jwk
	s, err := t.SignedString(k.signer)
	if err != nil {
		return "", fmt.Errorf("dpop: sign proof: %w", err)
	}
	return s, nil
}

// AccessTokenHash is a proof's ath for accessToken (RFC 9449 §4.2): the
// base64url (no padding) SHA-256 of its ASCII value.
func AccessTokenHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// JWKThumbprint is the RFC 7638 SHA-256 thumbprint of a public key (RSA,
// EC or Ed25519), base64url without padding: what a token's cnf.jkt holds.
func JWKThumbprint(pub crypto.PublicKey) (string, error) {
	return thumbprint(&jose.JSONWebKey{Key: pub})
}

// thumbprint is the RFC 7638 §3 SHA-256 thumbprint of k, base64url without
// padding. go-jose builds the hash input from the required members only (RSA:
// e, kty, n; EC: crv, kty, x, y; OKP: crv, kty, x, RFC 8037 §2), in
// lexicographic order, without whitespace, from the key's values (§3.2, §3.3).
func thumbprint(k *jose.JSONWebKey) (string, error) {
	sum, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("dpop: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// Bounds on the keys a proof may carry: they bound the work of a verify.
const (
	MinRSABits = 2048
	MaxRSABits = 8192
)

// checkPublicKey refuses keys that do not fit alg, RSA keys outside
// [MinRSABits, MaxRSABits] and curves other than P-256, P-384, P-521 and
// Ed25519.
func checkPublicKey(pub crypto.PublicKey, alg string) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		want := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
		if want == nil || k.Curve != want {
			return errors.New("dpop: the EC key's curve does not fit the algorithm")
		}
	case *rsa.PublicKey:
		if !strings.HasPrefix(alg, "RS") && !strings.HasPrefix(alg, "PS") {
			return errors.New("dpop: an RSA key does not fit the algorithm")
		}
		if bits := k.N.BitLen(); bits < MinRSABits || bits > MaxRSABits {
			return fmt.Errorf("dpop: RSA key of %d bits (want %d to %d)", bits, MinRSABits, MaxRSABits)
		}
	case ed25519.PublicKey:
		if alg != "EdDSA" {
			return errors.New("dpop: an Ed25519 key does not fit the algorithm")
		}
	default:
		return fmt.Errorf("dpop: unsupported public key type %T", pub)
	}
	return nil
}
