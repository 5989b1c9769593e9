package devissuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ClientAssertionType is the client_assertion_type of private_key_jwt
// (RFC 7523 §2.2).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Limits of a client assertion (RFC 7523 §3). Auth0 accepts at most five
// minutes between iat and exp, and so does this server.
const (
	MaxAssertionLifetime = 5 * time.Minute
	AssertionLeeway      = 30 * time.Second // clock skew allowed on exp and iat
)

// AssertionAlgorithms are the client assertion algorithms accepted: RS256
// for an RSA key of at least 2048 bits, ES256 for a P-256 key.
var AssertionAlgorithms = []string{"RS256", "ES256"}

// ClientKey is a public key of a private_key_jwt client: *rsa.PublicKey
// (RS256) or *ecdsa.PublicKey on P-256 (ES256).
type ClientKey struct {
	// KID, if set, is the kid an assertion's header may name to pick this
	// key. An assertion without a kid is tried against every key.
	KID    string
	Public crypto.PublicKey
}

// assertionMethod is the one algorithm a key verifies.
func assertionMethod(pub crypto.PublicKey) (jwt.SigningMethod, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits; use at least 2048", k.N.BitLen())
		}
		return jwt.SigningMethodRS256, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("EC key not on P-256; ES256 needs P-256")
		}
		return jwt.SigningMethodES256, nil
	}
	return nil, fmt.Errorf("key type %T not supported; use RSA (RS256) or P-256 (ES256)", pub)
}

// assertionAudiences are the aud values that name this server: its issuer
// identifier, which the draft update of RFC 7523 (draft-ietf-oauth-rfc7523bis)
// and Auth0 ask for, and its token endpoint, which RFC 7523 §3 allows and
// OpenID Connect Core §9 recommends; the latter both as the discovery
// document names it and on the bound listener.
func (s *Server) assertionAudiences() []string {
	return []string{s.issuer, s.publicURL + TokenPath, s.TokenURL()}
}

// authenticateAssertion checks a private_key_jwt client assertion (RFC 7523
// §3, OpenID Connect Core §9): signed by a key registered for the client,
// iss and sub the client id, aud this server (one value), exp in the future
// but at most MaxAssertionLifetime after iat, and a jti not seen before. A
// client_id in the form must name the same client (RFC 7521 §4.2).
func (s *Server) authenticateAssertion(form map[string][]string, formClientID string) (*client, *oauthError) {
	refuse := func(id, reason string) *oauthError {
		s.log.Info("token request refused", "reason", reason, "client_id", id, "method", "private_key_jwt")
		return &oauthError{status: 401, code: "invalid_client", description: "client authentication failed: " + reason}
	}
	get := func(name string) string {
		if vs := form[name]; len(vs) > 0 {
			return vs[0]
		}
		return ""
	}
	if t := get("client_assertion_type"); t != ClientAssertionType {
		if t == "" {
			return nil, badRequest("invalid_request", "client_assertion without client_assertion_type")
		}
		return nil, refuse(formClientID, "unsupported client_assertion_type")
	}
	raw := get("client_assertion")
	if raw == "" {
		return nil, badRequest("invalid_request", "client_assertion_type without client_assertion")
	}

	// Who claims to be speaking, before any signature is checked: the key
	// to check it with is that client's.
	var unverified jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &unverified); err != nil {
		return nil, refuse(formClientID, "malformed client assertion")
	}
	id := unverified.Issuer
	switch {
	case id == "":
		return nil, refuse(formClientID, "client assertion without iss")
	case formClientID != "" && formClientID != id:
		return nil, badRequest("invalid_request", "client_id differs from the client assertion's iss")
	}
	cl := s.clients[id]
	if cl == nil || len(cl.Keys) == 0 {
		return nil, refuse(id, "no private_key_jwt client with this id")
	}

	var claims jwt.RegisteredClaims
	tok, err := jwt.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		kid, hasKID := t.Header["kid"].(string)
		var set jwt.VerificationKeySet
		for _, k := range cl.Keys {
			if m, _ := assertionMethod(k.Public); m == nil || m.Alg() != t.Method.Alg() {
				continue
			}
			if hasKID && k.KID != "" && k.KID != kid {
				continue
			}
			set.Keys = append(set.Keys, k.Public)
		}
		if len(set.Keys) == 0 {
			return nil, errUnknownKey
		}
		return set, nil
	}, jwt.WithValidMethods(AssertionAlgorithms), jwt.WithIssuer(id), jwt.WithSubject(id),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(AssertionLeeway),
		jwt.WithTimeFunc(s.now))
	switch {
	case errors.Is(err, errUnknownKey):
		return nil, refuse(id, "no key of the client matches the assertion's kid and alg")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return nil, refuse(id, "bad signature")
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, refuse(id, "client assertion expired")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return nil, refuse(id, "client assertion issued in the future")
	case errors.Is(err, jwt.ErrTokenInvalidSubject):
		return nil, refuse(id, "sub must be the client id, as iss")
	case err != nil:
		return nil, refuse(id, "invalid client assertion")
	case !tok.Valid:
		return nil, refuse(id, "invalid client assertion")
	}
	if len(claims.Audience) != 1 || !slices.Contains(s.assertionAudiences(), claims.Audience[0]) {
		return nil, refuse(id, "aud must be this server's issuer "+s.issuer+" (or its token endpoint)")
	}
	if claims.IssuedAt == nil {
		return nil, refuse(id, "client assertion without iat")
	}
	if claims.ExpiresAt.Sub(claims.IssuedAt.Time) > MaxAssertionLifetime {
		return nil, refuse(id, fmt.Sprintf("exp is more than %s after iat", MaxAssertionLifetime))
	}
	if claims.ID == "" {
		return nil, refuse(id, "client assertion without jti")
	}
	if !s.assertions.claim(id+"\x00"+claims.ID, claims.ExpiresAt.Add(AssertionLeeway), s.now()) {
		return nil, refuse(id, "client assertion replayed (jti seen before)")
	}
	return cl, nil
}

var errUnknownKey = errors.New("no matching client key")

// jtiSet remembers keys until they expire: a replay ledger for one server.
type jtiSet struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func newJTISet() *jtiSet { return &jtiSet{seen: map[string]time.Time{}} }

// claim records key until until; false when it is already recorded and
// has not expired. Expired keys are dropped on the way.
func (j *jtiSet) claim(key string, until, now time.Time) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	for k, exp := range j.seen {
		if now.After(exp) {
			delete(j.seen, k)
		}
	}
	if _, dup := j.seen[key]; dup {
		return false
	}
	j.seen[key] = until
	return true
}

// hasAssertion reports whether a token request uses private_key_jwt.
func hasAssertion(form url.Values) bool {
	return form.Has("client_assertion") || form.Has("client_assertion_type")
}
