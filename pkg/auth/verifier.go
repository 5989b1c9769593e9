package auth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.opentelemetry.io/otel/attribute"

	"github.com/abc-inc/timesheets/pkg/metrics"
	"github.com/abc-inc/timesheets/pkg/policy"
	"github.com/abc-inc/timesheets/pkg/tracing"
)

// MaxTokenBytes bounds the size of an access token.
const MaxTokenBytes = 8 << 10

// claims are the parts of an access token the API reads. Claim names are
// case-sensitive (RFC 7519 §4), so they are looked up exactly, not with
// encoding/json's case-insensitive field matching.
type claims struct {
	Issuer      string
	Subject     string
	Audience    jwt.ClaimStrings
	ExpiresAt   *numericDate
	NotBefore   *numericDate
	IssuedAt    *numericDate
	Scope       string
	Scp         jwt.ClaimStrings
	Permissions []string
	AZP         string
	ClientID    string
	// All is every claim, for conditions and the employee claim: numbers
	// are int64 when integral and in range, else float64 (see claimValue).
	All map[string]any
}

func (c *claims) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	c.All = make(map[string]any, len(m))
	for name, v := range m {
		d := json.NewDecoder(bytes.NewReader(v))
		d.UseNumber()
		var x any
		if err := d.Decode(&x); err != nil {
			return fmt.Errorf("claim %s: %w", name, err)
		}
		c.All[name] = claimValue(x)
	}
	for name, v := range m {
		var dst any
		switch name {
		case "iss":
			dst = &c.Issuer
		case "sub":
			dst = &c.Subject
		case "aud":
			dst = &c.Audience
		case "exp":
			dst = &c.ExpiresAt
		case "nbf":
			dst = &c.NotBefore
		case "iat":
			dst = &c.IssuedAt
		case "scope":
			dst = &c.Scope
		case "scp":
			dst = &c.Scp
		case "permissions":
			dst = &c.Permissions
		case "azp":
			dst = &c.AZP
		case "client_id":
			dst = &c.ClientID
		default:
			continue
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return fmt.Errorf("claim %s: %w", name, err)
		}
	}
	return nil
}

// claimValue turns json.Numbers into int64 (integral and in range) or
// float64, the number types CEL and a handler expect; the rest of a decoded
// JSON value is kept as it is.
func claimValue(x any) any {
	switch v := x.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64() // out of range: ±Inf, a value no condition matches by accident
		return f
	case []any:
		for i := range v {
			v[i] = claimValue(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = claimValue(v[k])
		}
	}
	return x
}

// The jwt.Claims interface; Verify checks times itself (check), so the
// parser's own claim validation is off.
func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt.jwt(), nil }
func (c *claims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore.jwt(), nil }
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt.jwt(), nil }
func (c *claims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *claims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *claims) GetAudience() (jwt.ClaimStrings, error)       { return c.Audience, nil }

// maxNumericDate is the last second of year 9999: later dates are no real
// token's, and time.Time arithmetic on them overflows.
const maxNumericDate = 253402300799

var errNumericDate = errors.New("not a NumericDate: want a JSON number of seconds from 1970 to 9999")

// numericDate is a NumericDate of RFC 7519 §2: a JSON number. Unlike
// jwt.NumericDate it refuses a string of digits ("exp":"1999999999").
type numericDate struct{ t time.Time }

func (d *numericDate) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		return errNumericDate // a string, true, an object...
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return errNumericDate
	}
	t, ok := secondsToTime(f)
	if !ok {
		return errNumericDate
	}
	d.t = t
	return nil
}

// secondsToTime is a NumericDate's seconds as a time; ok is false outside
// 1970 to 9999 (and for NaN).
func secondsToTime(f float64) (t time.Time, ok bool) {
	if !(f >= 0 && f <= maxNumericDate) {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

func (d *numericDate) jwt() *jwt.NumericDate {
	if d == nil {
		return nil
	}
	return jwt.NewNumericDate(d.t)
}

func (d *numericDate) time() time.Time {
	if d == nil {
		return time.Time{}
	}
	return d.t
}

// numericDateValue is a decoded claim as a NumericDate, or zero when it is
// not a number of seconds from 1970 to 9999.
func numericDateValue(v any) time.Time {
	var f float64
	switch n := v.(type) {
	case int64:
		f = float64(n)
	case float64:
		f = n
	default:
		return time.Time{}
	}
	t, _ := secondsToTime(f)
	return t
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
	ClientID string // azp, else client_id (RFC 9068 §2.2)
	Issuer   string
	Audience []string

	ik       *IssuerKeys
	kid, alg string
	typ      string // normalised by policy.TokenType; "" when absent
	exp      time.Time
	nbf, iat time.Time // zero when absent
	scopes   map[string]uint8
	claims   map[string]any // every claim, never modified after newToken
	acr      string         // "" when absent or not a string
	authTime time.Time      // zero when absent or not a NumericDate
	// jkt is the key the token is bound to (cnf.jkt, RFC 9449 §6.1): ""
	// for a bearer token. boundOtherwise: cnf holds what this API cannot
	// check (a malformed jkt, another confirmation method: RFC 7800, 8705),
	// so the token is refused rather than taken as a bearer one.
	jkt            string
	boundOtherwise bool
}

// Bound tells whether the token is bound to a key (DPoP, cnf.jkt).
func (t *Token) Bound() bool { return t.jkt != "" || t.boundOtherwise }

// HasScope reports whether the token carries scope in one of the claims named.
func (t *Token) HasScope(scope string, claimNames []string) bool {
	return t.scopes[scope]&claimMask(claimNames) != 0
}

func newToken(c *claims, ik *IssuerKeys, kid, alg, typ string) *Token {
	t := &Token{
		Subject: c.Subject, ClientID: c.AZP, Issuer: c.Issuer, Audience: c.Audience,
		ik: ik, kid: kid, alg: alg, typ: typ, scopes: map[string]uint8{},
		exp: c.ExpiresAt.time(), nbf: c.NotBefore.time(), iat: c.IssuedAt.time(),
		claims: c.All,
	}
	// acr and auth_time (OpenID Connect Core §2) matter only on routes that
	// require step-up, so a token with odd ones is refused there, not here.
	t.acr, _ = c.All["acr"].(string)
	t.authTime = numericDateValue(c.All["auth_time"])
	if cnf, ok := c.All["cnf"]; ok {
		m, _ := cnf.(map[string]any)
		jkt, _ := m["jkt"].(string)
		// A SHA-256 thumbprint is 43 base64url characters (RFC 7638 §3).
		if len(m) == 1 && len(jkt) == 43 && strings.Trim(jkt, base64URLAlphabet) == "" {
			t.jkt = jkt
		} else {
			t.boundOtherwise = true
		}
	}
	if t.ClientID == "" {
		t.ClientID = c.ClientID // RFC 9068 §2.2
	}
	addScopes(t.scopes, c.Scope, fromScope)
	for _, v := range c.Scp { // scp is a string or an array; either may be space-delimited
		addScopes(t.scopes, v, fromScp)
	}
	for _, s := range c.Permissions { // one permission per element
		if policy.ScopeToken(s) {
			t.scopes[s] |= fromPermissions
		}
	}
	return t
}

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// addScopes splits a scope string on U+0020 only, as RFC 6749 §3.3
// delimits it, and keeps the elements that are scope tokens: no other
// space (a no-break space, a tab) separates two scopes.
func addScopes(dst map[string]uint8, scope string, from uint8) {
	for _, s := range strings.Split(scope, " ") {
		if policy.ScopeToken(s) {
			dst[s] |= from
		}
	}
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
	errHeader          = errors.New("header not understood")
	errDisallowedAlg   = errors.New("algorithm not allowed")
	errIssuer          = errors.New("issuer not accepted")
	errUnknownKey      = errors.New("unknown key")
	errKeysUnavailable = errors.New("keys unavailable")
)

// Verify checks raw against snap. A token verified before is taken from the
// cache, but every policy-dependent check (issuer, key still published, and
// those of check) runs again, so a policy change applies to cached tokens at
// once.
func (v *Verifier) Verify(ctx context.Context, snap *policy.Snapshot, raw string) (*Token, Reason) {
	ctx, span := tracing.Tracer().Start(ctx, "verify token")
	defer span.End()
	t, reason := v.verify(ctx, snap, raw)
	// Only what the policy vouches for: the issuer of a token that verified
	// (an unverified iss is whatever the sender wrote), the reason enum.
	if t != nil {
		span.SetAttributes(attribute.String("timesheets.token.issuer", t.Issuer))
	} else {
		span.SetAttributes(attribute.String(tracing.AttrAuthReason, string(reason)))
	}
	return t, reason
}

func (v *Verifier) verify(ctx context.Context, snap *policy.Snapshot, raw string) (*Token, Reason) {
	if len(raw) > MaxTokenBytes {
		return nil, ReasonMalformedToken
	}
	if t := v.cache.get(raw); t != nil {
		if reason, keep := v.recheck(snap, t); keep {
			v.keys.opts.Metrics.TokenCache.WithLabelValues(metrics.CacheHit).Inc()
			if reason == "" {
				return t, ""
			}
			if reason == ReasonExpired {
				v.cache.drop(raw) // it will never be valid again
			}
			return nil, reason
		}
		v.cache.drop(raw)
	}
	v.keys.opts.Metrics.TokenCache.WithLabelValues(metrics.CacheMiss).Inc()

	var (
		c             claims
		ik            *IssuerKeys
		kid, alg, typ string
	)
	parser := jwt.NewParser(
		jwt.WithStrictDecoding(),      // one token, one spelling: no malleable base64 tails
		jwt.WithoutClaimsValidation(), // check does it, for fresh and cached tokens alike
	)
	_, err := parser.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		// RFC 7515 §4.1.11: an extension named in crit must be understood,
		// and this API understands none; a malformed crit is refused too.
		if _, ok := t.Header["crit"]; ok {
			return nil, errHeader
		}
		if h, ok := t.Header["typ"]; ok {
			s, ok := h.(string)
			if !ok {
				return nil, errHeader
			}
			typ = policy.TokenType(s)
		}
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
		key, err := ik.key(ctx, kid, alg)
		if err != nil {
			return nil, err
		}
		if !keyFits(alg, key) {
			return nil, errDisallowedAlg
		}
		return key, nil
	})
	if err != nil {
		return nil, classify(err)
	}
	if c.ExpiresAt == nil {
		return nil, ReasonMalformedToken // exp is required
	}
	t := newToken(&c, ik, kid, alg, typ)
	if reason := v.check(snap, t); reason != "" {
		return nil, reason
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
	return v.check(snap, t), true
}

// check runs the checks that depend on the policy and the clock, on a token
// whose signature verified: now, or when it was cached.
func (v *Verifier) check(snap *policy.Snapshot, t *Token) Reason {
	if !snap.AlgorithmAllowed(t.alg) {
		return ReasonDisallowedAlgorithm
	}
	if snap.TokenType != "" && t.typ != snap.TokenType {
		return ReasonWrongTokenType
	}
	now, skew := v.now(), snap.ClockSkew
	if !now.Before(t.exp.Add(skew)) {
		return ReasonExpired
	}
	if t.nbf.After(now.Add(skew)) || t.iat.After(now.Add(skew)) { // zero times are never after
		return ReasonNotYetValid
	}
	// A token valid for longer than the policy allows is refused outright,
	// not just until later: a leaked long-lived token stays dangerous.
	if t.exp.After(now.Add(snap.MaxTokenAge+skew)) || (!t.iat.IsZero() && t.exp.Sub(t.iat) > snap.MaxTokenAge) {
		return ReasonLifetimeTooLong
	}
	if !snap.AudienceAllowed(t.Audience) {
		return ReasonAudienceMismatch
	}
	return ""
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
	case errors.Is(err, errHeader):
		return ReasonMalformedToken
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
