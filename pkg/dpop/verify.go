package dpop

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// Bounds on the work one proof can cause.
const (
	// MaxProofLength bounds a DPoP header value; a longer one is refused
	// before it is decoded. An RSA-8192 jwk and signature fit in it.
	MaxProofLength = 8 << 10
	// MaxJTILength bounds a proof's jti (RFC 9449 §11.1: "reject DPoP proof
	// JWTs with unnecessarily large jti values").
	MaxJTILength = 256
)

// asymmetric are the JWS algorithms (RFC 7518 §3.1, RFC 8037 §3.1) a proof
// may use (RFC 9449 §4.2: "MUST NOT be none or an identifier for a symmetric
// algorithm (MAC)"); golang-jwt/jwt/v5 implements each.
var asymmetric = []string{"ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "EdDSA"}

// SupportedAlgorithms lists the JWS algorithms Verify can accept, the most
// preferred first.
func SupportedAlgorithms() []string { return slices.Clone(asymmetric) }

// Options are the server's policy for Verify.
type Options struct {
	Algorithms []string      // allowed proof algorithms; only asymmetric ones are ever accepted (RS*, PS*, ES*, EdDSA); empty: all of SupportedAlgorithms
	MaxAge     time.Duration // iat window, default 5m
	Skew       time.Duration // clock skew either way (zero: none)
	Now        func() time.Time
}

// DefaultMaxAge is Options.MaxAge when it is not set.
const DefaultMaxAge = 5 * time.Minute

// AllowedAlgorithms are the algorithms Verify accepts under o: the
// asymmetric ones among o.Algorithms, in their order, or all of
// SupportedAlgorithms when o.Algorithms is empty. This is the algs parameter
// of a WWW-Authenticate: DPoP challenge (RFC 9449 §7.1) and the
// dpop_signing_alg_values_supported of metadata (§5.1).
func (o Options) AllowedAlgorithms() []string {
	if len(o.Algorithms) == 0 {
		return SupportedAlgorithms()
	}
	var algs []string
	for _, a := range o.Algorithms {
		if slices.Contains(asymmetric, a) && !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	return algs
}

func (o Options) maxAge() time.Duration {
	if o.MaxAge <= 0 {
		return DefaultMaxAge
	}
	return o.MaxAge
}

func (o Options) skew() time.Duration { return max(o.Skew, 0) }

func (o Options) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

// ReplayUntil is when Verify under o stops accepting p for its iat: how long a
// Ledger must remember p's jti (RFC 9449 §11.1).
func (o Options) ReplayUntil(p *Proof) time.Time {
	return p.IssuedAt.Add(o.maxAge() + o.skew())
}

// Proof is a verified DPoP proof's content.
type Proof struct {
	JTI, HTM, HTU, ATH, Nonce string
	IssuedAt                  time.Time
	JKT                       string // RFC 7638 thumbprint of the header's jwk
}

// Fixed refusals: Descriptions never quote the proof.
var (
	errEmpty        = refuse(ReasonMalformed, "no DPoP proof")
	errTooLong      = refuse(ReasonMalformed, "the DPoP proof is too long")
	errNotCompact   = refuse(ReasonMalformed, "the DPoP proof is not one JWS in compact serialization")
	errHeader       = refuse(ReasonMalformed, "the DPoP proof's header is not a base64url JSON object")
	errCrit         = refuse(ReasonMalformed, "the DPoP proof's header has critical extensions")
	errPayload      = refuse(ReasonMalformed, "the DPoP proof's claims are not a base64url JSON object, or its signature is not base64url")
	errJTI          = refuse(ReasonMalformed, "the DPoP proof has no jti, or one that is not a string or too long")
	errHTMClaim     = refuse(ReasonMalformed, "the DPoP proof has no htm string")
	errHTUClaim     = refuse(ReasonMalformed, "the DPoP proof has no htu string")
	errATHClaim     = refuse(ReasonMalformed, "the DPoP proof's ath is not a string")
	errNonceClaim   = refuse(ReasonMalformed, "the DPoP proof's nonce is not a string")
	errType         = refuse(ReasonType, "the DPoP proof's typ is not dpop+jwt")
	errAlgNone      = refuse(ReasonAlgorithm, "the DPoP proof is not signed (alg none)")
	errAlgMAC       = refuse(ReasonAlgorithm, "the DPoP proof uses a symmetric algorithm")
	errAlg          = refuse(ReasonAlgorithm, "the DPoP proof's alg is not allowed")
	errNoJWK        = refuse(ReasonKey, "the DPoP proof's header has no jwk")
	errJWKObject    = refuse(ReasonKey, "the DPoP proof's jwk is not a JSON object")
	errJWKPrivate   = refuse(ReasonKey, "the DPoP proof's jwk contains a private key")
	errJWKSymmetric = refuse(ReasonKey, "the DPoP proof's jwk is a symmetric key")
	errJWKType      = refuse(ReasonKey, "the DPoP proof's jwk has an unsupported kty or crv")
	errJWKInvalid   = refuse(ReasonKey, "the DPoP proof's jwk is not a valid public key")
	errJWKWeak      = refuse(ReasonKey, "the DPoP proof's RSA jwk is smaller than 2048 or larger than 8192 bits, or has a bad exponent")
	errJWKAlg       = refuse(ReasonKey, "the DPoP proof's jwk does not fit its alg")
	errSignature    = refuse(ReasonSignature, "the DPoP proof's signature does not verify with its jwk")
	errMethod       = refuse(ReasonMethod, "the DPoP proof's htm is not the request's method")
	errURI          = refuse(ReasonURI, "the DPoP proof's htu is not the request's URI")
	errRequestURI   = refuse(ReasonURI, "the request's URI is not an absolute http(s) URI")
	errIATMissing   = refuse(ReasonIssuedAt, "the DPoP proof has no iat")
	errIATNumber    = refuse(ReasonIssuedAt, "the DPoP proof's iat is not a number")
	errIATOld       = refuse(ReasonIssuedAt, "the DPoP proof's iat is too old")
	errIATFuture    = refuse(ReasonIssuedAt, "the DPoP proof's iat is in the future")
	errATH          = refuse(ReasonAccessTokenHash, "the DPoP proof's ath is not the access token's hash")
	errATHMissing   = refuse(ReasonAccessTokenHash, "the DPoP proof has no ath")
	errJKTMissing   = refuse(ReasonKeyBinding, "the access token is not bound to a key")
	errJKT          = refuse(ReasonKeyBinding, "the DPoP proof's key is not the one the access token is bound to")
	errReplay       = refuse(ReasonReplay, "the DPoP proof was used before")
	errNonceMissing = refuse(ReasonNonce, "the DPoP proof has no nonce")
	errNonce        = refuse(ReasonNonce, "the DPoP proof's nonce is not valid")
)

// privateMembers are the JWK members that hold private or symmetric key
// material (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// header is a proof's JOSE header, decoded member by member.
type header map[string]json.RawMessage

func (h header) str(name string) (string, bool) {
	raw, ok := h[name]
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// Verify checks a DPoP header value against the request, as RFC 9449 §4.3
// lists: exactly one JWS in compact form, typ "dpop+jwt", an allowed
// asymmetric alg (never none/HS*), a public jwk (no private members "d", "p",
// "q", "dp", "dq", "qi", "oth", "k"), the signature by that jwk, htm ==
// method, htu == htu (compared with NormalizeHTU on both sides), iat within
// [now-MaxAge-Skew, now+Skew], jti present. It does NOT check ath, cnf.jkt,
// jti replay or nonce: Bind, a Ledger and Nonces do.
//
// The caller checks that the request has one DPoP header field (§4.3 (1));
// a proxy's joining of several into one value ("a, b") is refused here. A
// refusal is an *Error.
func Verify(proof, method, htu string, o Options) (*Proof, error) {
	// Bound the work before decoding anything.
	if proof == "" {
		return nil, errEmpty
	}
	if len(proof) > MaxProofLength {
		return nil, errTooLong
	}
	// §4.3 (1) and (2): one well-formed JWT. Several DPoP header fields
	// joined by a proxy ("a, b"), whitespace, padding or a JWS JSON
	// serialization are refused here: only the base64url alphabet and
	// exactly two dots, with a header and a payload. (An empty signature,
	// as alg none has, is refused below for its alg or its signature.)
	if strings.Count(proof, ".") != 2 || !base64url(proof) {
		return nil, errNotCompact
	}
	parts := strings.SplitN(proof, ".", 3)
	if parts[0] == "" || parts[1] == "" {
		return nil, errNotCompact
	}
	hb, err := base64.RawURLEncoding.Strict().DecodeString(parts[0])
	if err != nil {
		return nil, errHeader
	}
	var h header
	if err := json.Unmarshal(hb, &h); err != nil || h == nil {
		return nil, errHeader
	}
	// RFC 7515 §4.1.11: no extension is understood, so none may be critical.
	if _, ok := h["crit"]; ok {
		return nil, errCrit
	}
	// §4.2, §4.3 (4): explicit typing (RFC 8725 §3.11), compared exactly.
	if typ, _ := h.str("typ"); typ != JWTType {
		return nil, errType
	}
	// §4.2, §4.3 (5): an asymmetric algorithm the policy allows.
	alg, _ := h.str("alg")
	allowed := o.AllowedAlgorithms()
	switch {
	case strings.EqualFold(alg, "none"):
		return nil, errAlgNone
	case strings.HasPrefix(alg, "HS"):
		return nil, errAlgMAC
	case !slices.Contains(allowed, alg):
		return nil, errAlg
	}
	// §4.2, §4.3 (7): a public key in jwk.
	pub, jkt, err := parseJWK(h, alg)
	if err != nil {
		return nil, err
	}
	// §4.3 (6): the signature by that key. Strict base64url decoding, so a
	// proof has one encoding; claims are validated below, not by jwt.
	claims := jwt.MapClaims{}
	_, err = jwt.NewParser(
		jwt.WithValidMethods(allowed),
		jwt.WithJSONNumber(),
		jwt.WithStrictDecoding(),
		jwt.WithoutClaimsValidation(),
	).ParseWithClaims(proof, claims, func(*jwt.Token) (any, error) { return pub, nil })
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenMalformed):
		return nil, errPayload
	default:
		return nil, errSignature
	}
	p := &Proof{JKT: jkt}
	// §4.2, §4.3 (3): the required claims.
	var ok bool
	if p.JTI, ok = claims["jti"].(string); !ok || p.JTI == "" || len(p.JTI) > MaxJTILength {
		return nil, errJTI
	}
	if p.HTM, ok = claims["htm"].(string); !ok || p.HTM == "" {
		return nil, errHTMClaim
	}
	if p.HTU, ok = claims["htu"].(string); !ok || p.HTU == "" {
		return nil, errHTUClaim
	}
	if v, present := claims["ath"]; present {
		if p.ATH, ok = v.(string); !ok {
			return nil, errATHClaim
		}
	}
	if v, present := claims["nonce"]; present {
		if p.Nonce, ok = v.(string); !ok {
			return nil, errNonceClaim
		}
	}
	// §4.3 (8): HTTP methods are case-sensitive (RFC 9110 §9.1).
	if p.HTM != method {
		return nil, errMethod
	}
	// §4.3 (9): the target URI without query and fragment, after syntax- and
	// scheme-based normalization (RFC 3986 §6.2.2, §6.2.3) of both sides.
	want, err := NormalizeHTU(htu)
	if err != nil {
		return nil, errRequestURI
	}
	if got, err := NormalizeHTU(p.HTU); err != nil || got != want {
		return nil, errURI
	}
	// §4.3 (11), §11.1: iat within [now-MaxAge-Skew, now+Skew].
	iat, present := claims["iat"]
	if !present {
		return nil, errIATMissing
	}
	if p.IssuedAt, err = numericDate(iat); err != nil {
		return nil, err
	}
	now := o.now()
	if p.IssuedAt.Before(now.Add(-o.maxAge() - o.skew())) {
		return nil, errIATOld
	}
	if p.IssuedAt.After(now.Add(o.skew())) {
		return nil, errIATFuture
	}
	return p, nil
}

// base64url reports whether s holds only the base64url alphabet and dots.
func base64url(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// numericDate reads a JWT NumericDate (RFC 7519 §2): a JSON number of
// seconds, possibly fractional, bounded to years 0 to 5000 or so.
func numericDate(v any) (time.Time, error) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, errIATNumber
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e11 {
		return time.Time{}, errIATNumber
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}

// parseJWK reads the header's jwk (RFC 7515 §4.1.3) as a public key that fits
// alg, and its RFC 7638 thumbprint.
func parseJWK(h header, alg string) (any, string, error) {
	raw, ok := h["jwk"]
	if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, "", errNoJWK
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil || members == nil {
		return nil, "", errJWKObject
	}
	// §4.2: "MUST NOT contain a private key"; §4.3 (7).
	for _, m := range privateMembers {
		if _, ok := members[m]; ok {
			return nil, "", errJWKPrivate
		}
	}
	kty, _ := header(members).str("kty")
	crv, _ := header(members).str("crv")
	switch {
	case kty == "oct":
		return nil, "", errJWKSymmetric
	case kty == "RSA":
	case kty == "EC" && (crv == "P-256" || crv == "P-384" || crv == "P-521"):
	case kty == "OKP" && crv == "Ed25519":
	default:
		return nil, "", errJWKType
	}
	var jk jose.JSONWebKey
	if err := jk.UnmarshalJSON(raw); err != nil || !jk.IsPublic() {
		return nil, "", errJWKInvalid
	}
	if k, ok := jk.Key.(*rsa.PublicKey); ok {
		if bits := k.N.BitLen(); bits < MinRSABits || bits > MaxRSABits || k.E < 3 || k.E%2 == 0 {
			return nil, "", errJWKWeak
		}
	}
	if checkPublicKey(jk.Key, alg) != nil {
		return nil, "", errJWKAlg
	}
	switch jk.Key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, "", errJWKType
	}
	jkt, err := thumbprint(&jk)
	if err != nil {
		return nil, "", errJWKInvalid
	}
	return jk.Key, jkt, nil
}

// Bind checks the proof against the access token it came with (RFC 9449
// §4.3 (12), §7.1): ath == base64url(SHA-256(accessToken)) and JKT == jkt,
// the token's cnf.jkt (§6.1).
func (p *Proof) Bind(accessToken, jkt string) error {
	if p.ATH == "" {
		return errATHMissing
	}
	if subtle.ConstantTimeCompare([]byte(p.ATH), []byte(AccessTokenHash(accessToken))) != 1 {
		return errATH
	}
	if jkt == "" {
		return errJKTMissing
	}
	if subtle.ConstantTimeCompare([]byte(p.JKT), []byte(jkt)) != 1 {
		return errJKT
	}
	return nil
}
