package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/abc-inc/timesheets/pkg/metrics"
	"github.com/abc-inc/timesheets/pkg/policy"
)

// MaxTokenBytes bounds the size of an access token.
const MaxTokenBytes = 8 << 10

// claims are the parts of an access token the API reads.
type claims struct {
	jwt.RegisteredClaims
	Scope       string           `json:"scope,omitempty"`
	Scp         jwt.ClaimStrings `json:"scp,omitempty"`
	Permissions []string         `json:"permissions,omitempty"`
	AZP         string           `json:"azp,omitempty"`
}

// scope sources, as bits, so a policy's scopeClaims selects them in one AND.
const (
	fromScope uint8 = 1 << iota
	fromScp
	fromPermissions
)

func claimMask(names []string) uint8 {
	var m uint8
	for _, n := range names {
		switch n {
		case "scope":
			m |= fromScope
		case "scp":
			m |= fromScp
		case "permissions":
			m |= fromPermissions
		}
	}
	return m
}

// Token is a verified access token: what checks against a later policy
// still need, and what handlers may read.
type Token struct {
	Subject  string
	ClientID string
	Issuer   string
	Audience []string

	ik       *IssuerKeys
	kid, alg string
	exp      time.Time
	nbf, iat time.Time // zero when absent
	scopes   map[string]uint8
}

// HasScope reports whether the token carries scope in one of the claims named.
func (t *Token) HasScope(scope string, claimNames []string) bool {
	return t.scopes[scope]&claimMask(claimNames) != 0
}

func newToken(c *claims, ik *IssuerKeys, kid, alg string) *Token {
	t := &Token{
		Subject: c.Subject, ClientID: c.AZP, Issuer: c.Issuer, Audience: c.Audience,
		ik: ik, kid: kid, alg: alg, scopes: map[string]uint8{},
	}
	if c.ExpiresAt != nil {
		t.exp = c.ExpiresAt.Time
	}
	if c.NotBefore != nil {
		t.nbf = c.NotBefore.Time
	}
	if c.IssuedAt != nil {
		t.iat = c.IssuedAt.Time
	}
	for _, s := range strings.Fields(c.Scope) {
		t.scopes[s] |= fromScope
	}
	for _, v := range c.Scp { // scp is a string or an array; either may be space-delimited
		for _, s := range strings.Fields(v) {
			t.scopes[s] |= fromScp
		}
	}
	for _, s := range c.Permissions {
		t.scopes[s] |= fromPermissions
	}
	return t
}

// Verifier validates access tokens against a policy snapshot.
type Verifier struct {
	keys  *Keys
	cache *tokenCache
	now   func() time.Time
}

// NewVerifier returns a verifier using keys; cacheSize bounds the verified-token
// cache (0 disables it).
func NewVerifier(keys *Keys, cacheSize int) *Verifier {
	return &Verifier{keys: keys, cache: newTokenCache(cacheSize), now: time.Now}
}

var (
	errDisallowedAlg   = errors.New("algorithm not allowed")
	errIssuer          = errors.New("issuer not accepted")
	errUnknownKey      = errors.New("unknown key")
	errKeysUnavailable = errors.New("keys unavailable")
)

// Verify checks raw against snap. A token verified before is taken from the
// cache, but every policy-dependent check (issuer, key still published,
// algorithm, time with skew, audience) runs again, so a policy change applies
// to cached tokens at once.
func (v *Verifier) Verify(ctx context.Context, snap *policy.Snapshot, raw string) (*Token, Reason) {
	if len(raw) > MaxTokenBytes {
		return nil, ReasonMalformedToken
	}
	if t := v.cache.get(raw); t != nil {
		if reason, keep := v.recheck(snap, t); keep {
			metrics.TokenCache.WithLabelValues("hit").Inc()
			if reason == ReasonExpired {
				v.cache.drop(raw) // it will never be valid again
			}
			return t, reason
		}
		v.cache.drop(raw)
	}
	metrics.TokenCache.WithLabelValues("miss").Inc()

	var (
		c        claims
		ik       *IssuerKeys
		kid, alg string
	)
	parser := jwt.NewParser(
		jwt.WithExpirationRequired(),
		jwt.WithStrictDecoding(), // one token, one spelling: no malleable base64 tails
		jwt.WithIssuedAt(),
		jwt.WithLeeway(snap.ClockSkew),
		jwt.WithTimeFunc(v.now),
	)
	_, err := parser.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		alg = t.Method.Alg()
		if !snap.AlgorithmAllowed(alg) {
			return nil, errDisallowedAlg
		}
		is, ok := snap.Issuer(c.Issuer)
		if !ok {
			return nil, errIssuer
		}
		ik = v.keys.For(is)
		if ik == nil || ik.Status().KeyCount == 0 {
			return nil, errKeysUnavailable
		}
		kid, _ = t.Header["kid"].(string)
		if kid == "" {
			return nil, errUnknownKey
		}
		if !ik.HasKID(kid) && !(ik.refreshUnknownKID(ctx) && ik.HasKID(kid)) {
			return nil, errUnknownKey
		}
		key, err := ik.kf.KeyfuncCtx(ctx)(t)
		if err != nil {
			if strings.Contains(err.Error(), `"alg"`) { // the JWK names another algorithm
				return nil, errDisallowedAlg
			}
			return nil, errUnknownKey
		}
		if !keyFits(alg, key) {
			return nil, errDisallowedAlg
		}
		return key, nil
	})
	if err != nil {
		return nil, classify(err)
	}
	t := newToken(&c, ik, kid, alg)
	if !snap.AudienceAllowed(t.Audience) {
		return nil, ReasonAudienceMismatch
	}
	v.cache.put(raw, t)
	return t, ""
}

// recheck runs the policy-dependent checks on a cached token. keep is false
// when the token must be verified from scratch (its key set changed).
func (v *Verifier) recheck(snap *policy.Snapshot, t *Token) (reason Reason, keep bool) {
	is, ok := snap.Issuer(t.Issuer)
	if !ok {
		return ReasonIssuerMismatch, true
	}
	if v.keys.For(is) != t.ik || !t.ik.HasKID(t.kid) {
		return "", false
	}
	if !snap.AlgorithmAllowed(t.alg) {
		return ReasonDisallowedAlgorithm, true
	}
	now := v.now()
	if now.After(t.exp.Add(snap.ClockSkew)) {
		return ReasonExpired, true
	}
	if (!t.nbf.IsZero() && t.nbf.After(now.Add(snap.ClockSkew))) ||
		(!t.iat.IsZero() && t.iat.After(now.Add(snap.ClockSkew))) {
		return ReasonNotYetValid, true
	}
	if !snap.AudienceAllowed(t.Audience) {
		return ReasonAudienceMismatch, true
	}
	return "", true
}

// keyFits reports whether key is the kind alg needs, so a token cannot pick
// an algorithm its key was not made for.
func keyFits(alg string, key any) bool {
	switch {
	case strings.HasPrefix(alg, "RS"), strings.HasPrefix(alg, "PS"):
		k, ok := key.(*rsa.PublicKey)
		return ok && k.N.BitLen() >= 2048
	case alg == "ES256", alg == "ES384", alg == "ES512":
		k, ok := key.(*ecdsa.PublicKey)
		if !ok {
			return false
		}
		want := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
		return k.Curve == want
	case alg == "EdDSA":
		_, ok := key.(ed25519.PublicKey)
		return ok
	}
	return false
}

func classify(err error) Reason {
	switch {
	case errors.Is(err, errDisallowedAlg), errors.Is(err, jwt.ErrInvalidKeyType):
		return ReasonDisallowedAlgorithm
	case errors.Is(err, errIssuer):
		return ReasonIssuerMismatch
	case errors.Is(err, errKeysUnavailable):
		return ReasonKeysUnavailable
	case errors.Is(err, errUnknownKey):
		return ReasonUnknownKey
	case errors.Is(err, jwt.ErrTokenMalformed), errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return ReasonMalformedToken
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return ReasonBadSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return ReasonExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ReasonNotYetValid
	}
	return ReasonMalformedToken
}
