package dpop_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/dpop"
)

const (
	testHTU    = "https://api.example.com/v1/entries"
	testMethod = "GET"
)

var testNow = time.Unix(1_700_000_000, 0)

func testOptions() dpop.Options {
	return dpop.Options{MaxAge: 5 * time.Minute, Skew: 30 * time.Second, Now: func() time.Time { return testNow }}
}

// signRaw signs exactly the header and claims given, so a test can make any
// proof, including ones Key.Proof never makes.
func signRaw(t testing.TB, method jwt.SigningMethod, key any, header, claims map[string]any) string {
	t.Helper()
	tok := &jwt.Token{Method: method, Header: header, Claims: jwt.MapClaims(claims)}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

func baseHeader(k *dpop.Key) map[string]any {
	return map[string]any{"typ": "dpop+jwt", "alg": k.Alg(), "jwk": k.PublicJWK()}
}

func baseClaims() map[string]any {
	return map[string]any{"jti": "0123456789abcdef0123", "htm": testMethod, "htu": testHTU, "iat": testNow.Unix()}
}

func jwkWith(t testing.TB, k *dpop.Key, set map[string]any, del ...string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(k.PublicJWK(), &m))
	maps.Copy(m, set)
	for _, d := range del {
		delete(m, d)
	}
	return m
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func requireReason(t *testing.T, err error, reason string) {
	t.Helper()
	require.Error(t, err)
	var de *dpop.Error
	require.True(t, errors.As(err, &de), "%T %v", err, err)
	require.Equal(t, reason, de.Reason, de.Description)
	require.True(t, errors.Is(err, &dpop.Error{Reason: reason}))
}

func TestVerifyHappyPath(t *testing.T) {
	for _, alg := range []string{"ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			k, err := dpop.NewKey(alg)
			require.NoError(t, err)
			proof, err := k.Proof(testMethod, testHTU+"?page=2#top", "access-token", "n", testNow)
			require.NoError(t, err)
			p, err := dpop.Verify(proof, testMethod, testHTU+"?other=1", testOptions())
			require.NoError(t, err)
			require.Equal(t, k.Thumbprint(), p.JKT)
			require.Equal(t, testMethod, p.HTM)
			require.Equal(t, testHTU, p.HTU)
			require.Equal(t, dpop.AccessTokenHash("access-token"), p.ATH)
			require.Equal(t, "n", p.Nonce)
			require.True(t, p.IssuedAt.Equal(testNow))
			require.NotEmpty(t, p.JTI)
			require.NoError(t, p.Bind("access-token", k.Thumbprint()))
		})
	}
}

// The proofs of RFC 9449 §4.1 and §7.1, verified at the time they were made.
func TestVerifyRFC9449Examples(t *testing.T) {
	const header = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0R" +
		"scEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19"
	const jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	at := func(sec int64) dpop.Options {
		return dpop.Options{Algorithms: []string{"ES256"}, Now: func() time.Time { return time.Unix(sec, 0) }}
	}

	token := header + ".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2Vu" +
		"IiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
	p, err := dpop.Verify(token, "POST", "https://server.example.com/token", at(1562262616))
	require.NoError(t, err)
	require.Equal(t, jkt, p.JKT)
	require.Equal(t, "-BwC3ESc6acc2lTc", p.JTI)
	_, err = dpop.Verify(token, "POST", "https://server.example.com/token", at(1562262616+3600))
	requireReason(t, err, dpop.ReasonIssuedAt)

	resource := header + ".eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90" +
		"ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9." +
		"2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA"
	p, err = dpop.Verify(resource, "GET", "https://resource.example.org/protectedresource", at(1562262618))
	require.NoError(t, err)
	require.NoError(t, p.Bind("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU", jkt))
}

func TestVerifyRefusals(t *testing.T) {
	es, err := dpop.NewKey("ES256")
	require.NoError(t, err)
	es384, err := dpop.NewKey("ES384")
	require.NoError(t, err)
	other, err := dpop.NewKey("ES256")
	require.NoError(t, err)
	rs, err := dpop.NewKey("RS256")
	require.NoError(t, err)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	require.NoError(t, err)

	valid, err := es.Proof(testMethod, testHTU, "", "", testNow)
	require.NoError(t, err)
	parts := strings.Split(valid, ".")

	// es signs header h and claims c after edit.
	sign := func(edit func(h, c map[string]any)) string {
		h, c := baseHeader(es), baseClaims()
		edit(h, c)
		return signRaw(t, jwt.SigningMethodES256, es.Signer(), h, c)
	}
	// A header segment of raw JSON with es's payload and signature.
	withHeader := func(raw string) string { return b64(raw) + "." + parts[1] + "." + parts[2] }

	rsaSmallJWK, err := json.Marshal(jose.JSONWebKey{Key: &rsa1024.PublicKey})
	require.NoError(t, err)
	privateJWK, err := json.Marshal(jose.JSONWebKey{Key: es.Signer()})
	require.NoError(t, err)

	for _, tc := range []struct {
		name, proof, reason string
		method, htu         string
		opts                func(*dpop.Options)
	}{
		// RFC 9449 §4.3 (1), (2): one JWS, compact.
		{name: "empty", proof: "", reason: dpop.ReasonMalformed},
		{name: "too long", proof: parts[0] + "." + strings.Repeat("A", dpop.MaxProofLength) + "." + parts[2], reason: dpop.ReasonMalformed},
		{name: "two proofs joined by a comma", proof: valid + ", " + valid, reason: dpop.ReasonMalformed},
		{name: "two proofs joined by a space", proof: valid + " " + valid, reason: dpop.ReasonMalformed},
		{name: "two segments", proof: parts[0] + "." + parts[1], reason: dpop.ReasonMalformed},
		{name: "JWE-like five segments", proof: valid + ".AAAA.BBBB", reason: dpop.ReasonMalformed},
		{name: "JWS JSON serialization", proof: `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`, reason: dpop.ReasonMalformed},
		{name: "padding", proof: parts[0] + "=." + parts[1] + "." + parts[2], reason: dpop.ReasonMalformed},
		{name: "leading whitespace", proof: " " + valid, reason: dpop.ReasonMalformed},
		{name: "empty header", proof: "." + parts[1] + "." + parts[2], reason: dpop.ReasonMalformed},
		{name: "header not base64url", proof: "e" + parts[0] + "." + parts[1] + "." + parts[2], reason: dpop.ReasonMalformed},
		{name: "header not JSON", proof: withHeader("typ=dpop+jwt"), reason: dpop.ReasonMalformed},
		{name: "header a JSON array", proof: withHeader(`["dpop+jwt"]`), reason: dpop.ReasonMalformed},
		{name: "header null", proof: withHeader(`null`), reason: dpop.ReasonMalformed},
		{name: "critical extension", proof: sign(func(h, _ map[string]any) { h["crit"] = []string{"exp"}; h["exp"] = 1 }), reason: dpop.ReasonMalformed},
		{name: "payload not JSON", proof: parts[0] + "." + b64("not json") + "." + parts[2], reason: dpop.ReasonMalformed},
		// §4.3 (4): typ.
		{name: "no typ", proof: sign(func(h, _ map[string]any) { delete(h, "typ") }), reason: dpop.ReasonType},
		{name: "typ JWT", proof: sign(func(h, _ map[string]any) { h["typ"] = "JWT" }), reason: dpop.ReasonType},
		{name: "typ upper case", proof: sign(func(h, _ map[string]any) { h["typ"] = "DPOP+JWT" }), reason: dpop.ReasonType},
		{name: "typ with application/", proof: sign(func(h, _ map[string]any) { h["typ"] = "application/dpop+jwt" }), reason: dpop.ReasonType},
		{name: "typ not a string", proof: sign(func(h, _ map[string]any) { h["typ"] = 1 }), reason: dpop.ReasonType},
		{name: "typ of an access token", proof: sign(func(h, _ map[string]any) { h["typ"] = "at+jwt" }), reason: dpop.ReasonType},
		// §4.3 (5): alg.
		{name: "alg none", proof: signRaw(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType,
			map[string]any{"typ": "dpop+jwt", "alg": "none", "jwk": es.PublicJWK()}, baseClaims()), reason: dpop.ReasonAlgorithm},
		{name: "alg None with a signature", proof: withHeader(`{"typ":"dpop+jwt","alg":"None","jwk":` + string(es.PublicJWK()) + `}`), reason: dpop.ReasonAlgorithm},
		{name: "alg HS256", proof: signRaw(t, jwt.SigningMethodHS256, []byte("0123456789abcdef0123456789abcdef"),
			map[string]any{"typ": "dpop+jwt", "alg": "HS256", "jwk": map[string]any{"kty": "oct", "k": b64("0123456789abcdef0123456789abcdef")}}, baseClaims()), reason: dpop.ReasonAlgorithm},
		{name: "alg HS512 with an EC jwk", proof: withHeader(`{"typ":"dpop+jwt","alg":"HS512","jwk":` + string(es.PublicJWK()) + `}`), reason: dpop.ReasonAlgorithm},
		{name: "alg missing", proof: sign(func(h, _ map[string]any) { delete(h, "alg") }), reason: dpop.ReasonAlgorithm},
		{name: "alg unknown", proof: withHeader(`{"typ":"dpop+jwt","alg":"ES256K","jwk":` + string(es.PublicJWK()) + `}`), reason: dpop.ReasonAlgorithm},
		{name: "alg not allowed by the policy", proof: mustProof(t, rs), reason: dpop.ReasonAlgorithm,
			opts: func(o *dpop.Options) { o.Algorithms = []string{"ES256"} }},
		{name: "policy lists only symmetric algs", proof: valid, reason: dpop.ReasonAlgorithm,
			opts: func(o *dpop.Options) { o.Algorithms = []string{"HS256", "none"} }},
		// §4.3 (7): jwk.
		{name: "no jwk", proof: sign(func(h, _ map[string]any) { delete(h, "jwk") }), reason: dpop.ReasonKey},
		{name: "jwk null", proof: sign(func(h, _ map[string]any) { h["jwk"] = nil }), reason: dpop.ReasonKey},
		{name: "jwk a string", proof: sign(func(h, _ map[string]any) { h["jwk"] = string(es.PublicJWK()) }), reason: dpop.ReasonKey},
		{name: "jwk an array", proof: sign(func(h, _ map[string]any) { h["jwk"] = []any{es.PublicJWK()} }), reason: dpop.ReasonKey},
		{name: "jwk with the private key", proof: sign(func(h, _ map[string]any) { h["jwk"] = json.RawMessage(privateJWK) }), reason: dpop.ReasonKey},
		{name: "jwk with d null", proof: sign(func(h, _ map[string]any) { h["jwk"] = jwkWith(t, es, map[string]any{"d": nil}) }), reason: dpop.ReasonKey},
		{name: "jwk with p", proof: sign(func(h, _ map[string]any) { h["jwk"] = jwkWith(t, es, map[string]any{"p": "AQAB"}) }), reason: dpop.ReasonKey},
		{name: "jwk with oth", proof: sign(func(h, _ map[string]any) { h["jwk"] = jwkWith(t, es, map[string]any{"oth": []any{}}) }), reason: dpop.ReasonKey},
		{name: "jwk with k", proof: sign(func(h, _ map[string]any) { h["jwk"] = jwkWith(t, es, map[string]any{"k": "AQAB"}) }), reason: dpop.ReasonKey},
		{name: "jwk symmetric", proof: sign(func(h, _ map[string]any) { h["jwk"] = map[string]any{"kty": "oct", "alg": "ES256"} }), reason: dpop.ReasonKey},
		{name: "jwk without kty", proof: sign(func(h, _ map[string]any) { h["jwk"] = jwkWith(t, es, nil, "kty") }), reason: dpop.ReasonKey},
		{name: "jwk kty unknown", proof: sign(func(h, _ map[string]any) { h["jwk"] = jwkWith(t, es, map[string]any{"kty": "AKP"}) }), reason: dpop.ReasonKey},
		{name: "jwk curve unknown", proof: sign(func(h, _ map[string]any) { h["jwk"] = jwkWith(t, es, map[string]any{"crv": "secp256k1"}) }), reason: dpop.ReasonKey},
		{name: "jwk curve P-224", proof: sign(func(h, _ map[string]any) {
			h["jwk"] = map[string]any{"kty": "EC", "crv": "P-224", "x": b64(string(p224.X.Bytes())), "y": b64(string(p224.Y.Bytes()))}
		}), reason: dpop.ReasonKey},
		{name: "jwk X25519", proof: sign(func(h, _ map[string]any) {
			h["jwk"] = map[string]any{"kty": "OKP", "crv": "X25519", "x": b64(strings.Repeat("x", 32))}
		}), reason: dpop.ReasonKey},
		{name: "jwk point not on the curve", proof: sign(func(h, _ map[string]any) {
			h["jwk"] = jwkWith(t, es, map[string]any{"x": b64(strings.Repeat("\x01", 32))})
		}), reason: dpop.ReasonKey},
		{name: "jwk RSA 1024 bits", proof: signRaw(t, jwt.SigningMethodRS256, rsa1024,
			map[string]any{"typ": "dpop+jwt", "alg": "RS256", "jwk": json.RawMessage(rsaSmallJWK)}, baseClaims()), reason: dpop.ReasonKey},
		{name: "jwk RSA exponent 1", proof: sign(func(h, _ map[string]any) {
			h["alg"] = "RS256"
			h["jwk"] = jwkWith(t, rs, map[string]any{"e": "AQ"})
		}), reason: dpop.ReasonKey},
		{name: "jwk of a curve that is not the alg's", proof: sign(func(h, _ map[string]any) { h["jwk"] = es384.PublicJWK() }), reason: dpop.ReasonKey},
		{name: "jwk RSA with alg ES256", proof: sign(func(h, _ map[string]any) { h["jwk"] = rs.PublicJWK() }), reason: dpop.ReasonKey},
		// §4.3 (6): the signature.
		{name: "signed by another key", proof: sign(func(h, _ map[string]any) { h["jwk"] = other.PublicJWK() }), reason: dpop.ReasonSignature},
		{name: "signature altered", proof: parts[0] + "." + parts[1] + "." + flip(parts[2]), reason: dpop.ReasonSignature},
		{name: "signature empty", proof: parts[0] + "." + parts[1] + ".", reason: dpop.ReasonSignature},
		{name: "signature truncated", proof: parts[0] + "." + parts[1] + "." + parts[2][:40], reason: dpop.ReasonSignature},
		{name: "signature not strict base64url", proof: parts[0] + "." + parts[1] + "." + nonCanonical(parts[2]), reason: dpop.ReasonMalformed},
		{name: "claims altered", proof: parts[0] + "." + b64(`{"jti":"x","htm":"GET","htu":"`+testHTU+`","iat":1700000000}`) + "." + parts[2], reason: dpop.ReasonSignature},
		// §4.2, §4.3 (3): required claims.
		{name: "no jti", proof: sign(func(_, c map[string]any) { delete(c, "jti") }), reason: dpop.ReasonMalformed},
		{name: "jti empty", proof: sign(func(_, c map[string]any) { c["jti"] = "" }), reason: dpop.ReasonMalformed},
		{name: "jti a number", proof: sign(func(_, c map[string]any) { c["jti"] = 12345 }), reason: dpop.ReasonMalformed},
		{name: "jti too long", proof: sign(func(_, c map[string]any) { c["jti"] = strings.Repeat("j", dpop.MaxJTILength+1) }), reason: dpop.ReasonMalformed},
		{name: "no htm", proof: sign(func(_, c map[string]any) { delete(c, "htm") }), reason: dpop.ReasonMalformed},
		{name: "no htu", proof: sign(func(_, c map[string]any) { delete(c, "htu") }), reason: dpop.ReasonMalformed},
		{name: "htu not a string", proof: sign(func(_, c map[string]any) { c["htu"] = []string{testHTU} }), reason: dpop.ReasonMalformed},
		{name: "ath not a string", proof: sign(func(_, c map[string]any) { c["ath"] = 1 }), reason: dpop.ReasonMalformed},
		{name: "nonce not a string", proof: sign(func(_, c map[string]any) { c["nonce"] = true }), reason: dpop.ReasonMalformed},
		// §4.3 (8): htm.
		{name: "htm of another method", proof: valid, method: "POST", reason: dpop.ReasonMethod},
		{name: "htm lower case", proof: sign(func(_, c map[string]any) { c["htm"] = "get" }), reason: dpop.ReasonMethod},
		// §4.3 (9): htu.
		{name: "htu of another path", proof: valid, htu: "https://api.example.com/v1/entries/1", reason: dpop.ReasonURI},
		{name: "htu with a trailing slash", proof: valid, htu: testHTU + "/", reason: dpop.ReasonURI},
		{name: "htu path case", proof: valid, htu: "https://api.example.com/v1/Entries", reason: dpop.ReasonURI},
		{name: "htu of another host", proof: valid, htu: "https://api.example.org/v1/entries", reason: dpop.ReasonURI},
		{name: "htu of another scheme", proof: valid, htu: "http://api.example.com/v1/entries", reason: dpop.ReasonURI},
		{name: "htu of another port", proof: valid, htu: "https://api.example.com:8443/v1/entries", reason: dpop.ReasonURI},
		{name: "htu relative", proof: sign(func(_, c map[string]any) { c["htu"] = "/v1/entries" }), reason: dpop.ReasonURI},
		{name: "htu not a URI", proof: sign(func(_, c map[string]any) { c["htu"] = "https://api.example.com/%zz" }), reason: dpop.ReasonURI},
		{name: "htu of another scheme kind", proof: sign(func(_, c map[string]any) { c["htu"] = "ftp://api.example.com/v1/entries" }), reason: dpop.ReasonURI},
		{name: "request URI relative", proof: valid, htu: "/v1/entries", reason: dpop.ReasonURI},
		// §4.3 (11), §11.1: iat.
		{name: "no iat", proof: sign(func(_, c map[string]any) { delete(c, "iat") }), reason: dpop.ReasonIssuedAt},
		{name: "iat a string", proof: sign(func(_, c map[string]any) { c["iat"] = "1700000000" }), reason: dpop.ReasonIssuedAt},
		{name: "iat null", proof: sign(func(_, c map[string]any) { c["iat"] = nil }), reason: dpop.ReasonIssuedAt},
		{name: "iat huge", proof: sign(func(_, c map[string]any) { c["iat"] = json.Number("1e300") }), reason: dpop.ReasonIssuedAt},
		{name: "iat too old", proof: sign(func(_, c map[string]any) { c["iat"] = testNow.Add(-5*time.Minute - 31*time.Second).Unix() }), reason: dpop.ReasonIssuedAt},
		{name: "iat in the future", proof: sign(func(_, c map[string]any) { c["iat"] = testNow.Add(31 * time.Second).Unix() }), reason: dpop.ReasonIssuedAt},
		{name: "iat older than a shorter MaxAge", proof: sign(func(_, c map[string]any) { c["iat"] = testNow.Add(-2 * time.Minute).Unix() }), reason: dpop.ReasonIssuedAt,
			opts: func(o *dpop.Options) { o.MaxAge = time.Minute; o.Skew = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions()
			if tc.opts != nil {
				tc.opts(&o)
			}
			method, htu := testMethod, testHTU
			if tc.method != "" {
				method = tc.method
			}
			if tc.htu != "" {
				htu = tc.htu
			}
			p, err := dpop.Verify(tc.proof, method, htu, o)
			require.Nil(t, p)
			requireReason(t, err, tc.reason)
			requireNoQuote(t, err, tc.proof)
		})
	}
}

// requireNoQuote checks that err says nothing of the proof.
func requireNoQuote(t *testing.T, err error, proof string) {
	t.Helper()
	for _, part := range strings.FieldsFunc(proof, func(r rune) bool { return r == '.' || r == ',' || r == ' ' }) {
		if len(part) >= 8 {
			require.NotContains(t, err.Error(), part)
		}
	}
}

func mustProof(t *testing.T, k *dpop.Key) string {
	t.Helper()
	p, err := k.Proof(testMethod, testHTU, "", "", testNow)
	require.NoError(t, err)
	return p
}

// flip changes the first character of a base64url string.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

// nonCanonical changes the unused low bits of the last character of s (a
// 64-byte ES256 signature: 86 characters, 2 of the last one's bits unused),
// which a lax decoder maps to the same bytes.
func nonCanonical(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[i^1])
}

func TestVerifyWindowEdges(t *testing.T) {
	k, err := dpop.NewKey("ES256")
	require.NoError(t, err)
	o := testOptions()
	for _, tc := range []struct {
		name string
		iat  any
	}{
		{"oldest accepted", testNow.Add(-5*time.Minute - 30*time.Second).Unix()},
		{"latest accepted", testNow.Add(30 * time.Second).Unix()},
		{"fractional", json.Number("1700000000.25")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := baseClaims()
			c["iat"] = tc.iat
			proof := signRaw(t, jwt.SigningMethodES256, k.Signer(), baseHeader(k), c)
			_, err := dpop.Verify(proof, testMethod, testHTU, o)
			require.NoError(t, err)
		})
	}
}

func TestVerifyNormalizesBothSides(t *testing.T) {
	k, err := dpop.NewKey("ES256")
	require.NoError(t, err)
	c := baseClaims()
	c["htu"] = "HTTPS://API.Example.COM:443/v1/%65ntries"
	proof := signRaw(t, jwt.SigningMethodES256, k.Signer(), baseHeader(k), c)
	p, err := dpop.Verify(proof, testMethod, "https://api.example.com/v1/./entries?page=3", testOptions())
	require.NoError(t, err)
	require.Equal(t, c["htu"], p.HTU, "the claim as sent")
}

func TestAllowedAlgorithms(t *testing.T) {
	require.Equal(t, dpop.SupportedAlgorithms(), dpop.Options{}.AllowedAlgorithms())
	require.Equal(t, []string{"ES256", "RS256"},
		dpop.Options{Algorithms: []string{"none", "ES256", "HS256", "RS256", "ES256", "foo"}}.AllowedAlgorithms())
	require.NotContains(t, dpop.SupportedAlgorithms(), "none")
	for _, a := range dpop.SupportedAlgorithms() {
		require.False(t, strings.HasPrefix(a, "HS"), a)
	}
}

func TestBind(t *testing.T) {
	k, err := dpop.NewKey("ES256")
	require.NoError(t, err)
	other, err := dpop.NewKey("ES256")
	require.NoError(t, err)
	with, err := k.Proof(testMethod, testHTU, "token-a", "", testNow)
	require.NoError(t, err)
	p, err := dpop.Verify(with, testMethod, testHTU, testOptions())
	require.NoError(t, err)
	without, err := k.Proof(testMethod, testHTU, "", "", testNow)
	require.NoError(t, err)
	q, err := dpop.Verify(without, testMethod, testHTU, testOptions())
	require.NoError(t, err)

	require.NoError(t, p.Bind("token-a", k.Thumbprint()))
	requireReason(t, p.Bind("token-b", k.Thumbprint()), dpop.ReasonAccessTokenHash)
	requireReason(t, q.Bind("token-a", k.Thumbprint()), dpop.ReasonAccessTokenHash)
	requireReason(t, p.Bind("token-a", other.Thumbprint()), dpop.ReasonKeyBinding)
	requireReason(t, p.Bind("token-a", ""), dpop.ReasonKeyBinding)
}

func TestErrorIs(t *testing.T) {
	err := error(&dpop.Error{Reason: dpop.ReasonReplay, Description: "the DPoP proof was used before"})
	require.ErrorIs(t, err, &dpop.Error{Reason: dpop.ReasonReplay})
	require.NotErrorIs(t, err, &dpop.Error{Reason: dpop.ReasonNonce})
	require.NotErrorIs(t, err, &dpop.Error{Reason: dpop.ReasonReplay, Description: "other"})
	require.Equal(t, "dpop: the DPoP proof was used before", err.Error())
	require.Len(t, dpop.Reasons(), 12)
}
