package auth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/policy"
)

// strict is a verifier against the test issuer with its snapshots.
type strict struct {
	is   *issuer
	keys *auth.Keys
}

func newStrict(t testing.TB) *strict {
	t.Helper()
	s := &strict{is: newIssuer(t)}
	s.keys = auth.NewKeys(auth.KeyOptions{UnknownKIDInterval: time.Hour})
	t.Cleanup(s.keys.Close)
	snap := s.snap(t, nil)
	s.keys.Sync(snap.Issuers)
	require.NoError(t, s.keys.WaitReady(context.Background(), snap.Issuers))
	return s
}

func (s *strict) snap(t testing.TB, mutate func(*v1alpha1.ScopePolicySpec)) *policy.Snapshot {
	t.Helper()
	spec := baseSpec(s.is)
	if mutate != nil {
		mutate(&spec)
	}
	snap, err := policy.Compile("strict", 1, spec)
	require.NoError(t, err)
	return snap
}

func (s *strict) claims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"iss": s.is.iss(), "aud": audience, "sub": "client-1@clients",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// signRaw signs header and claims given as JSON text, so a test can send
// what no encoder would write (RFC 7515 §7.1: the JWS Compact Serialization).
func (s *strict) signRaw(t testing.TB, header, claims string) string {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	signing := enc([]byte(header)) + "." + enc([]byte(claims))
	sig, err := jwt.SigningMethodRS256.Sign(signing, s.is.key("rsa-1"))
	require.NoError(t, err)
	return signing + "." + enc(sig)
}

func (s *strict) sign(t testing.TB, header map[string]any, c jwt.MapClaims) string {
	t.Helper()
	h := map[string]any{"alg": "RS256", "kid": "rsa-1", "typ": "JWT"}
	for k, v := range header {
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
	}
	hb, err := json.Marshal(h)
	require.NoError(t, err)
	cb, err := json.Marshal(c)
	require.NoError(t, err)
	return s.signRaw(t, string(hb), string(cb))
}

func TestVerifyScopeSyntax(t *testing.T) {
	s := newStrict(t)
	snap := s.snap(t, nil)
	v := auth.NewVerifier(s.keys, 0)
	all := []string{"scope", "scp", "permissions"}
	cases := []struct {
		name    string
		claim   string
		value   any
		granted []string
		denied  []string
	}{
		{"one scope", "scope", "read:timesheets", []string{"read:timesheets"}, nil},
		{"space-delimited", "scope", "a read:timesheets b", []string{"a", "read:timesheets", "b"}, nil},
		{"double spaces leave empty elements, ignored", "scope", "  a  read:timesheets ", []string{"a", "read:timesheets"}, []string{""}},
		{"a no-break space does not delimit", "scope", "x\u00a0read:timesheets", nil, []string{"read:timesheets", "x", "x\u00a0read:timesheets"}},
		{"a tab does not delimit", "scope", "x\tread:timesheets", nil, []string{"read:timesheets", "x"}},
		{"a newline does not delimit", "scope", "x\nread:timesheets", nil, []string{"read:timesheets", "x"}},
		{"an ideographic space does not delimit", "scope", "x\u3000read:timesheets", nil, []string{"read:timesheets"}},
		{"an element with a quote is ignored, the others kept", "scope", `a"b read:timesheets`, []string{"read:timesheets"}, []string{`a"b`}},
		{"an element with a backslash is ignored", "scope", `a\b`, nil, []string{`a\b`}},
		{"a non-ASCII element is ignored", "scope", "lesen:zeitbl\u00e4tter read:timesheets", []string{"read:timesheets"}, []string{"lesen:zeitbl\u00e4tter"}},
		{"scp string: a no-break space does not delimit", "scp", "x\u00a0read:timesheets", nil, []string{"read:timesheets"}},
		{"scp string: space-delimited", "scp", "x read:timesheets", []string{"x", "read:timesheets"}, nil},
		{"scp array: elements split on U+0020 only", "scp", []string{"x\u00a0read:timesheets", "a b"}, []string{"a", "b"}, []string{"read:timesheets"}},
		{"permissions: an element with a space is ignored", "permissions", []string{"x read:timesheets", "ok"}, []string{"ok"}, []string{"read:timesheets", "x"}},
		{"permissions: an element with a no-break space is ignored", "permissions", []string{"x\u00a0read:timesheets"}, nil, []string{"read:timesheets"}},
		{"permissions: an empty element is ignored", "permissions", []string{"", "read:timesheets"}, []string{"read:timesheets"}, []string{""}},
		{"claim names are case-sensitive", "Scope", "read:timesheets", nil, []string{"read:timesheets"}},
		{"claim names are case-sensitive (permissions)", "PERMISSIONS", []string{"read:timesheets"}, nil, []string{"read:timesheets"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := s.claims()
			c[tc.claim] = tc.value
			tok, reason := v.Verify(context.Background(), snap, s.sign(t, nil, c))
			require.Equal(t, auth.Reason(""), reason)
			for _, sc := range tc.granted {
				require.True(t, tok.HasScope(sc, all), "want %q granted", sc)
			}
			for _, sc := range tc.denied {
				require.False(t, tok.HasScope(sc, all), "want %q not granted", sc)
			}
		})
	}
}

func TestVerifyNumericDates(t *testing.T) {
	s := newStrict(t)
	snap := s.snap(t, nil)
	v := auth.NewVerifier(s.keys, 0)
	now := time.Now()
	in := func(d time.Duration) int64 { return now.Add(d).Unix() }
	cases := []struct {
		name   string
		set    jwt.MapClaims
		drop   []string
		reason auth.Reason
	}{
		{"numbers", nil, nil, ""},
		{"fractional seconds", jwt.MapClaims{"exp": float64(in(time.Hour)) + 0.5}, nil, ""},
		{"exp as a string of digits", jwt.MapClaims{"exp": "1999999999"}, nil, auth.ReasonMalformedToken},
		{"exp as a string of the right time", jwt.MapClaims{"exp": jsonString(in(time.Hour))}, nil, auth.ReasonMalformedToken},
		{"nbf as a string", jwt.MapClaims{"nbf": jsonString(in(-time.Minute))}, nil, auth.ReasonMalformedToken},
		{"iat as a string", jwt.MapClaims{"iat": jsonString(in(0))}, nil, auth.ReasonMalformedToken},
		{"exp true", jwt.MapClaims{"exp": true}, nil, auth.ReasonMalformedToken},
		{"exp an array", jwt.MapClaims{"exp": []int64{in(time.Hour)}}, nil, auth.ReasonMalformedToken},
		{"exp null is no exp", jwt.MapClaims{"exp": nil}, nil, auth.ReasonMalformedToken},
		{"exp missing", nil, []string{"exp"}, auth.ReasonMalformedToken},
		{"exp 9.2e18", jwt.MapClaims{"exp": 9.2e18}, nil, auth.ReasonMalformedToken},
		{"exp 1e300", jwt.MapClaims{"exp": 1e300}, nil, auth.ReasonMalformedToken},
		{"exp negative", jwt.MapClaims{"exp": -1}, nil, auth.ReasonMalformedToken},
		{"exp in year 9999", jwt.MapClaims{"exp": 253402300799}, nil, auth.ReasonLifetimeTooLong},
		{"exp 25h ahead without iat", jwt.MapClaims{"exp": in(25 * time.Hour)}, []string{"iat"}, auth.ReasonLifetimeTooLong},
		{"exp 23h ahead without iat", jwt.MapClaims{"exp": in(23 * time.Hour)}, []string{"iat"}, ""},
		{"exp 24h after iat", jwt.MapClaims{"iat": in(-time.Hour), "exp": in(23 * time.Hour)}, nil, ""},
		{"exp 24.5h after an old iat", jwt.MapClaims{"iat": in(-2 * time.Hour), "exp": in(22*time.Hour + 30*time.Minute)}, nil, auth.ReasonLifetimeTooLong},
		{"expired", jwt.MapClaims{"exp": in(-time.Minute)}, nil, auth.ReasonExpired},
		{"iat in the future", jwt.MapClaims{"iat": in(5 * time.Minute)}, nil, auth.ReasonNotYetValid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := s.claims()
			for k, val := range tc.set {
				c[k] = val
			}
			for _, k := range tc.drop {
				delete(c, k)
			}
			tok, reason := v.Verify(context.Background(), snap, s.sign(t, nil, c))
			require.Equal(t, tc.reason, reason)
			if reason != "" {
				require.Nil(t, tok)
			}
		})
	}
}

// jsonString is the decimal string of n: a NumericDate sent as a string.
func jsonString(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestVerifyMaxTokenAge(t *testing.T) {
	s := newStrict(t)
	v := auth.NewVerifier(s.keys, 0)
	hour := s.snap(t, func(p *v1alpha1.ScopePolicySpec) { p.MaxTokenAge = &metav1.Duration{Duration: time.Hour} })
	c := s.claims()
	c["exp"] = time.Now().Add(90 * time.Minute).Unix()
	delete(c, "iat")
	tok := s.sign(t, nil, c)
	_, reason := v.Verify(context.Background(), hour, tok)
	require.Equal(t, auth.ReasonLifetimeTooLong, reason, "exp further ahead than maxTokenAge")
	_, reason = v.Verify(context.Background(), s.snap(t, nil), tok)
	require.Equal(t, auth.Reason(""), reason, "within the default 24h")

	c = s.claims()
	c["iat"] = time.Now().Add(-time.Hour).Unix()
	c["exp"] = time.Now().Add(time.Minute).Unix() // 61m after iat
	_, reason = v.Verify(context.Background(), hour, s.sign(t, nil, c))
	require.Equal(t, auth.ReasonLifetimeTooLong, reason, "exp further after iat than maxTokenAge")
}

func TestVerifyHeader(t *testing.T) {
	s := newStrict(t)
	v := auth.NewVerifier(s.keys, 0)
	anyType := s.snap(t, nil)
	at := s.snap(t, func(p *v1alpha1.ScopePolicySpec) { p.RequireTokenType = "at+jwt" })
	cases := []struct {
		name      string
		header    map[string]any
		anyReason auth.Reason // with no requireTokenType
		atReason  auth.Reason // with requireTokenType: at+jwt
	}{
		{"typ JWT", nil, "", auth.ReasonWrongTokenType},
		{"no typ", map[string]any{"typ": nil}, "", auth.ReasonWrongTokenType},
		{"typ at+jwt", map[string]any{"typ": "at+jwt"}, "", ""},
		{"typ AT+JWT", map[string]any{"typ": "AT+JWT"}, "", ""},
		{"typ application/at+jwt", map[string]any{"typ": "application/at+jwt"}, "", ""},
		{"typ Application/At+Jwt", map[string]any{"typ": "Application/At+Jwt"}, "", ""},
		{"typ text/at+jwt", map[string]any{"typ": "text/at+jwt"}, "", auth.ReasonWrongTokenType},
		{"typ at+jwt with a parameter", map[string]any{"typ": "at+jwt; q=1"}, "", auth.ReasonWrongTokenType},
		{"typ not a string", map[string]any{"typ": 1}, auth.ReasonMalformedToken, auth.ReasonMalformedToken},
		{"crit naming an extension", map[string]any{"crit": []string{"exp"}, "exp": 1}, auth.ReasonMalformedToken, auth.ReasonMalformedToken},
		{"crit naming b64", map[string]any{"crit": []string{"b64"}, "b64": true, "typ": "at+jwt"}, auth.ReasonMalformedToken, auth.ReasonMalformedToken},
		{"crit empty", map[string]any{"crit": []string{}}, auth.ReasonMalformedToken, auth.ReasonMalformedToken},
		{"crit not a list", map[string]any{"crit": "exp"}, auth.ReasonMalformedToken, auth.ReasonMalformedToken},
		{"crit null", map[string]any{"crit": json.RawMessage("null")}, auth.ReasonMalformedToken, auth.ReasonMalformedToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := s.sign(t, tc.header, s.claims())
			_, reason := v.Verify(context.Background(), anyType, raw)
			require.Equal(t, tc.anyReason, reason, "any typ")
			_, reason = v.Verify(context.Background(), at, raw)
			require.Equal(t, tc.atReason, reason, "requireTokenType at+jwt")
		})
	}
}

func TestVerifyClientID(t *testing.T) {
	s := newStrict(t)
	snap := s.snap(t, nil)
	v := auth.NewVerifier(s.keys, 0)
	for name, tc := range map[string]struct {
		claims jwt.MapClaims
		want   string
	}{
		"azp":                   {jwt.MapClaims{"azp": "spa"}, "spa"},
		"client_id":             {jwt.MapClaims{"client_id": "importer"}, "importer"},
		"azp wins":              {jwt.MapClaims{"azp": "spa", "client_id": "importer"}, "spa"},
		"neither":               {nil, ""},
		"CLIENT_ID is not":      {jwt.MapClaims{"CLIENT_ID": "importer"}, ""},
		"empty azp, falls back": {jwt.MapClaims{"azp": "", "client_id": "importer"}, "importer"},
	} {
		t.Run(name, func(t *testing.T) {
			c := s.claims()
			for k, val := range tc.claims {
				c[k] = val
			}
			tok, reason := v.Verify(context.Background(), snap, s.sign(t, nil, c))
			require.Equal(t, auth.Reason(""), reason)
			require.Equal(t, tc.want, tok.ClientID)
		})
	}
}

// TestCachedTokenFollowsTypeAndAge: requireTokenType and maxTokenAge apply
// at once to tokens already in the verified-token cache.
func TestCachedTokenFollowsTypeAndAge(t *testing.T) {
	s := newStrict(t)
	v := auth.NewVerifier(s.keys, 100)
	lax := s.snap(t, nil)
	c := s.claims()
	c["exp"] = time.Now().Add(2 * time.Hour).Unix()
	raw := s.sign(t, nil, c) // typ JWT, valid for 2h
	for range 2 {
		_, reason := v.Verify(context.Background(), lax, raw)
		require.Equal(t, auth.Reason(""), reason)
	}
	_, reason := v.Verify(context.Background(), s.snap(t, func(p *v1alpha1.ScopePolicySpec) { p.RequireTokenType = "at+jwt" }), raw)
	require.Equal(t, auth.ReasonWrongTokenType, reason, "typ required after the token was cached")
	_, reason = v.Verify(context.Background(), s.snap(t, func(p *v1alpha1.ScopePolicySpec) { p.MaxTokenAge = &metav1.Duration{Duration: time.Hour} }), raw)
	require.Equal(t, auth.ReasonLifetimeTooLong, reason, "maxTokenAge lowered after the token was cached")
	_, reason = v.Verify(context.Background(), lax, raw)
	require.Equal(t, auth.Reason(""), reason, "a refusal under another policy does not evict a token still valid")
}
