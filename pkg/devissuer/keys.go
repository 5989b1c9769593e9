package devissuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/golang-jwt/jwt/v5"
)

// SupportedAlgorithms are the values Config.Algorithm accepts.
var SupportedAlgorithms = []string{"RS256", "ES256", "EdDSA"}

// JWK is one public key as the JWKS publishes it (RFC 7517, RFC 7518,
// RFC 8037).
type JWK struct {
	KTY string `json:"kty"`
	KID string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	// RSA
	N string `json:"n,omitempty"`
	E string `json:"e,omitempty"`
	// EC and OKP
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

type signingKey struct {
	kid    string
	alg    string
	method jwt.SigningMethod
	priv   crypto.Signer
	jwk    JWK
}

var b64 = base64.RawURLEncoding

func newSigningKey(alg string) (*signingKey, error) {
	k := &signingKey{alg: alg}
	switch alg {
	case "RS256":
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("generate RSA key: %w", err)
		}
		k.priv, k.method = priv, jwt.SigningMethodRS256
		k.jwk = JWK{KTY: "RSA", N: b64.EncodeToString(priv.N.Bytes()),
			E: b64.EncodeToString(big.NewInt(int64(priv.E)).Bytes())}
	case "ES256":
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate EC key: %w", err)
		}
		pub, err := priv.PublicKey.ECDH()
		if err != nil {
			return nil, fmt.Errorf("EC public key: %w", err)
		}
		raw := pub.Bytes() // 0x04 || X || Y, each 32 bytes
		k.priv, k.method = priv, jwt.SigningMethodES256
		k.jwk = JWK{KTY: "EC", Crv: "P-256", X: b64.EncodeToString(raw[1:33]), Y: b64.EncodeToString(raw[33:])}
	case "EdDSA":
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate Ed25519 key: %w", err)
		}
		k.priv, k.method = priv, jwt.SigningMethodEdDSA
		k.jwk = JWK{KTY: "OKP", Crv: "Ed25519", X: b64.EncodeToString(pub)}
	default:
		return nil, fmt.Errorf("algorithm %q not supported", alg)
	}
	k.kid = thumbprint(k.jwk)
	k.jwk.KID, k.jwk.Use, k.jwk.Alg = k.kid, "sig", alg
	return k, nil
}

// thumbprint is the RFC 7638 JWK thumbprint (SHA-256, base64url): a kid
// that names the key itself.
func thumbprint(j JWK) string {
	var m map[string]string
	switch j.KTY {
	case "RSA":
		m = map[string]string{"e": j.E, "kty": j.KTY, "n": j.N}
	case "EC":
		m = map[string]string{"crv": j.Crv, "kty": j.KTY, "x": j.X, "y": j.Y}
	default: // OKP
		m = map[string]string{"crv": j.Crv, "kty": j.KTY, "x": j.X}
	}
	b, _ := json.Marshal(m) // encoding/json sorts map keys, no whitespace: RFC 7638 form
	sum := sha256.Sum256(b)
	return b64.EncodeToString(sum[:])
}

func (k *signingKey) sign(claims jwt.Claims) (string, error) {
	t := jwt.NewWithClaims(k.method, claims)
	t.Header["kid"] = k.kid
	t.Header["typ"] = "JWT"
	return t.SignedString(k.priv)
}

// current is the signing key, or nil when every key was removed.
func (s *Server) current() *signingKey {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.keys) == 0 {
		return nil
	}
	return s.keys[len(s.keys)-1]
}

var errNoKey = errors.New("devissuer: no signing key (all removed)")

// Mint signs claims as they are with the current key, setting the kid
// header. Tests use it for tokens the token endpoint would never issue:
// expired, for another audience, another issuer, and so on.
func (s *Server) Mint(claims jwt.MapClaims) (string, error) {
	k := s.current()
	if k == nil {
		return "", errNoKey
	}
	return k.sign(claims)
}

// Claims returns the claims the token endpoint would issue now to clientID
// for audience and scopes, for a test to alter and Mint. The client need
// not be configured.
func (s *Server) Claims(clientID, audience string, scopes []string) jwt.MapClaims {
	return s.claims(clientID, audience, scopes, s.now())
}

// KID is the kid of the current signing key, or "" when every key was
// removed.
func (s *Server) KID() string {
	if k := s.current(); k != nil {
		return k.kid
	}
	return ""
}

// KIDs lists the published kids, oldest first; the last one signs.
func (s *Server) KIDs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	kids := make([]string, len(s.keys))
	for i, k := range s.keys {
		kids[i] = k.kid
	}
	return kids
}

// PublicKey returns the public key of a published kid.
func (s *Server) PublicKey(kid string) (crypto.PublicKey, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, k := range s.keys {
		if k.kid == kid {
			return k.priv.Public(), true
		}
	}
	return nil, false
}

// RotateKey generates a key of the configured algorithm, publishes it and
// signs with it from now on; older keys stay published until RemoveKey.
func (s *Server) RotateKey() (string, error) {
	k, err := newSigningKey(s.cfg.Algorithm)
	if err != nil {
		return "", fmt.Errorf("devissuer: %w", err)
	}
	s.mu.Lock()
	s.keys = append(s.keys, k)
	s.mu.Unlock()
	s.log.Info("development issuer rotated its signing key", "kid", k.kid)
	return k.kid, nil
}

// RemoveKey unpublishes a key and forgets it. Removing the current key makes
// the newest remaining key current; with no key left, Mint and the token
// endpoint fail until RotateKey. An unknown kid is ignored.
func (s *Server) RemoveKey(kid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = slices.DeleteFunc(s.keys, func(k *signingKey) bool { return k.kid == kid })
}

// jwks is the published key set, public parts only.
func (s *Server) jwks() []JWK {
	s.mu.RLock()
	defer s.mu.RUnlock()
	set := make([]JWK, 0, len(s.keys))
	for i := len(s.keys) - 1; i >= 0; i-- { // current key first
		set = append(set, s.keys[i].jwk)
	}
	return set
}
