package auth_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/metrics"
	"github.com/abc-inc/timesheets/pkg/policy"
	"github.com/abc-inc/timesheets/pkg/syncbuf"
)

const audience = "https://timesheets.abc-inc.example/"

// env is the API's auth stack on loopback, guarding a handler that answers
// 200 with the caller's subject.
type env struct {
	is     *issuer
	keys   *auth.Keys
	holder *policy.Holder
	srv    *httptest.Server
}

func baseSpec(is *issuer) v1alpha1.ScopePolicySpec {
	return v1alpha1.ScopePolicySpec{
		Issuers:   []v1alpha1.Issuer{{URL: is.iss(), JWKSURI: is.jwksURL()}},
		Audiences: []string{audience},
		Routes: []v1alpha1.Route{
			{Path: "/timesheets/upload", Methods: []string{"POST"}, Scopes: []string{"batch:upload"}},
			{Path: "/timesheets/{id}", Methods: []string{"GET"}, Scopes: []string{"read:timesheets"}},
			{Path: "/timesheets/{id}/approve", Methods: []string{"POST"}, Scopes: []string{"approve:timesheets", "read:timesheets"}},
			{Path: "/timesheets/{id}", Methods: []string{"DELETE"}, Scopes: []string{"delete:timesheets", "admin"}, Match: v1alpha1.MatchAny},
			{Path: "/timesheets/healthcheck", Public: true},
		},
	}
}

func newEnv(t *testing.T, mutate func(*v1alpha1.ScopePolicySpec)) *env {
	t.Helper()
	return newEnvWith(t, mutate, nil)
}

// newEnvWith is newEnv with the middleware configured further.
func newEnvWith(t *testing.T, mutate func(*v1alpha1.ScopePolicySpec), configure func(*auth.Middleware)) *env {
	t.Helper()
	e := &env{is: newIssuer(t), holder: &policy.Holder{}}
	// Its own metrics: a test reads what its own requests counted.
	e.keys = auth.NewKeys(auth.KeyOptions{UnknownKIDInterval: time.Hour, RetryInterval: 50 * time.Millisecond,
		Metrics: metrics.New(prometheus.NewRegistry())})
	t.Cleanup(e.keys.Close)
	spec := baseSpec(e.is)
	if mutate != nil {
		mutate(&spec)
	}
	e.apply(t, spec)
	mw := &auth.Middleware{Policy: e.holder, Verifier: auth.NewVerifier(e.keys, 1000), Logger: slog.New(slog.DiscardHandler), Realm: "timesheets"}
	if configure != nil {
		configure(mw)
	}
	e.srv = httptest.NewServer(mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub := ""
		if tok := auth.TokenFrom(r.Context()); tok != nil {
			sub = tok.Subject
		}
		_, _ = io.WriteString(w, sub)
	})))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) apply(t *testing.T, spec v1alpha1.ScopePolicySpec) {
	t.Helper()
	snap, err := policy.Compile("test", 1, spec)
	require.NoError(t, err)
	e.keys.Sync(snap.Issuers)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, e.keys.WaitReady(ctx, snap.Issuers))
	e.holder.Store(snap)
}

func (e *env) claims(scope string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"iss": e.is.iss(), "aud": audience, "sub": "client-1@clients",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "scope": scope}
}

func (e *env) token(t *testing.T, scope string) string {
	return e.is.sign(t, jwt.SigningMethodRS256, "rsa-1", e.claims(scope))
}

type reply struct {
	status    int
	challenge string
	body      map[string]any
	text      string
}

func (e *env) call(t *testing.T, method, path string, header ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, nil)
	require.NoError(t, err)
	for _, h := range header {
		req.Header.Add("Authorization", h)
	}
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, challenge: resp.Header.Get("WWW-Authenticate"), text: string(b)}
	_ = json.Unmarshal(b, &r.body)
	return r
}

// failures and audited read the env's counters of reason on route.
func (e *env) failures(reason auth.Reason, route string) float64 {
	return testutil.ToFloat64(e.keys.Metrics().AuthFailures.WithLabelValues(string(reason), route))
}

func (e *env) audited(reason auth.Reason, route string) float64 {
	return testutil.ToFloat64(e.keys.Metrics().AuthAuditAllowed.WithLabelValues(string(reason), route))
}

func TestRejections(t *testing.T) {
	e := newEnv(t, nil)
	pubDER, err := x509.MarshalPKIXPublicKey(e.is.key("rsa-1").Public())
	require.NoError(t, err)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	foreign := newIssuer(t) // same kid "rsa-1", another key
	e.is.addEC(t, "ec-1")
	// The EC key was added after the first fetch; refresh so it is known.
	e.apply(t, baseSpec(e.is))

	with := func(mut func(jwt.MapClaims)) jwt.MapClaims {
		c := e.claims("read:timesheets")
		mut(c)
		return c
	}
	valid := e.token(t, "read:timesheets")
	parts := strings.Split(valid, ".")

	cases := []struct {
		name   string
		header []string
		status int
		reason auth.Reason
	}{
		{"valid", []string{"Bearer " + valid}, 200, ""},
		{"scheme is case-insensitive", []string{"bearer " + valid}, 200, ""},
		{"missing token", nil, 401, auth.ReasonMissingToken},
		{"alg none", []string{"Bearer " + func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodNone, e.claims("read:timesheets"))
			tok.Header["kid"] = "rsa-1"
			s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
			require.NoError(t, err)
			return s
		}()}, 401, auth.ReasonDisallowedAlgorithm},
		{"HS256 with the public key as secret", []string{"Bearer " + func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, e.claims("read:timesheets"))
			tok.Header["kid"] = "rsa-1"
			s, err := tok.SignedString(pubPEM)
			require.NoError(t, err)
			return s
		}()}, 401, auth.ReasonDisallowedAlgorithm},
		{"foreign key under a known kid", []string{"Bearer " + foreign.sign(t, jwt.SigningMethodRS256, "rsa-1", e.claims("read:timesheets"))}, 401, auth.ReasonBadSignature},
		{"tampered payload", []string{"Bearer " + parts[0] + "." + strings.TrimRight(jwtSeg(t, e.claims("read:timesheets delete:timesheets")), "=") + "." + parts[2]}, 401, auth.ReasonBadSignature},
		{"tampered signature", []string{"Bearer " + parts[0] + "." + parts[1] + "." + flip(parts[2])}, 401, auth.ReasonBadSignature},
		{"expired", []string{"Bearer " + e.is.sign(t, jwt.SigningMethodRS256, "rsa-1", with(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() }))}, 401, auth.ReasonExpired},
		{"expired but within clock skew", []string{"Bearer " + e.is.sign(t, jwt.SigningMethodRS256, "rsa-1", with(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-10 * time.Second).Unix() }))}, 200, ""},
		{"missing exp", []string{"Bearer " + e.is.sign(t, jwt.SigningMethodRS256, "rsa-1", with(func(c jwt.MapClaims) { delete(c, "exp") }))}, 401, auth.ReasonMalformedToken},
		{"nbf in the future", []string{"Bearer " + e.is.sign(t, jwt.SigningMethodRS256, "rsa-1", with(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(5 * time.Minute).Unix() }))}, 401, auth.ReasonNotYetValid},
		{"iat in the future", []string{"Bearer " + e.is.sign(t, jwt.SigningMethodRS256, "rsa-1", with(func(c jwt.MapClaims) { c["iat"] = time.Now().Add(5 * time.Minute).Unix() }))}, 401, auth.ReasonNotYetValid},
		{"wrong iss", []string{"Bearer " + e.is.sign(t, jwt.SigningMethodRS256, "rsa-1", with(func(c jwt.MapClaims) { c["iss"] = e.is.URL }))}, 401, auth.ReasonIssuerMismatch},
		{"wrong aud", []string{"Bearer " + e.is.sign(t, jwt.SigningMethodRS256, "rsa-1", with(func(c jwt.MapClaims) { c["aud"] = "https://other.example/" }))}, 401, auth.ReasonAudienceMismatch},
		{"missing aud", []string{"Bearer " + e.is.sign(t, jwt.SigningMethodRS256, "rsa-1", with(func(c jwt.MapClaims) { delete(c, "aud") }))}, 401, auth.ReasonAudienceMismatch},
		{"aud array containing ours", []string{"Bearer " + e.is.sign(t, jwt.SigningMethodRS256, "rsa-1", with(func(c jwt.MapClaims) { c["aud"] = []string{"https://other.example/", audience} }))}, 200, ""},
		{"unknown kid", []string{"Bearer " + func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodRS256, e.claims("read:timesheets"))
			tok.Header["kid"] = "no-such-key"
			s, err := tok.SignedString(e.is.key("rsa-1"))
			require.NoError(t, err)
			return s
		}()}, 401, auth.ReasonUnknownKey},
		{"ES256 not on the allow-list", []string{"Bearer " + e.is.sign(t, jwt.SigningMethodES256, "ec-1", e.claims("read:timesheets"))}, 401, auth.ReasonDisallowedAlgorithm},
		{"RS512 on an RS256 key", []string{"Bearer " + e.is.sign(t, jwt.SigningMethodRS512, "rsa-1", e.claims("read:timesheets"))}, 401, auth.ReasonDisallowedAlgorithm},
		{"two segments", []string{"Bearer " + parts[0] + "." + parts[1]}, 401, auth.ReasonMalformedToken},
		{"garbage segments", []string{"Bearer !!!.???.***"}, 401, auth.ReasonMalformedToken},
		{"not a JWT", []string{"Bearer hello"}, 401, auth.ReasonMalformedToken},
		{"oversized token", []string{"Bearer " + strings.Repeat("a", auth.MaxTokenBytes+1)}, 401, auth.ReasonMalformedToken},
		{"missing scope", []string{"Bearer " + e.token(t, "batch:upload")}, 403, auth.ReasonInsufficientScope},
		{"scope is matched exactly", []string{"Bearer " + e.token(t, "read:timesheets:all read")}, 403, auth.ReasonInsufficientScope},
		{"Basic scheme", []string{"Basic dXNlcjpwYXNz"}, 400, auth.ReasonMalformedToken},
		{"two Authorization headers", []string{"Bearer " + valid, "Bearer " + valid}, 400, auth.ReasonMalformedToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.failures(tc.reason, "GET /timesheets/{id}")
			r := e.call(t, "GET", "/timesheets/7", tc.header...)
			require.Equal(t, tc.status, r.status, r.text)
			require.NotContains(t, r.text, "eyJ", "a response never echoes a token")
			require.NotContains(t, r.challenge, "eyJ")
			if tc.reason == "" {
				require.Equal(t, "client-1@clients", r.text)
				return
			}
			require.Equal(t, before+1, e.failures(tc.reason, "GET /timesheets/{id}"), "failure counted under its reason and route pattern")
			switch tc.status {
			case 401:
				if tc.reason == auth.ReasonMissingToken {
					require.Equal(t, `Bearer realm="timesheets"`, r.challenge, "no error code when the token is missing (RFC 6750 §3.1)")
				} else {
					require.Contains(t, r.challenge, `error="invalid_token"`)
					require.Equal(t, "invalid_token", r.body["error"])
				}
			case 403:
				require.Contains(t, r.challenge, `error="insufficient_scope"`)
				require.Contains(t, r.challenge, `scope="read:timesheets"`)
			case 400:
				require.Contains(t, r.challenge, `error="invalid_request"`)
			}
		})
	}
}

func jwtSeg(t *testing.T, c jwt.MapClaims) string {
	b, err := json.Marshal(c)
	require.NoError(t, err)
	return base64.RawURLEncoding.EncodeToString(b)
}

func flip(sig string) string {
	b := []byte(sig)
	if b[5] == 'A' {
		b[5] = 'B'
	} else {
		b[5] = 'A'
	}
	return string(b)
}

func TestTokenInQueryStringRefused(t *testing.T) {
	e := newEnv(t, nil)
	r := e.call(t, "GET", "/timesheets/7?access_token="+e.token(t, "read:timesheets"))
	require.Equal(t, 400, r.status)
	require.Equal(t, "invalid_request", r.body["error"])
}

func TestScopeMatching(t *testing.T) {
	cases := []struct {
		name        string
		scopeClaims []v1alpha1.ScopeClaim
		claims      jwt.MapClaims
		method      string
		path        string
		status      int
	}{
		{"All: both scopes", nil, jwt.MapClaims{"scope": "approve:timesheets read:timesheets"}, "POST", "/timesheets/1/approve", 200},
		{"All: one of two", nil, jwt.MapClaims{"scope": "approve:timesheets"}, "POST", "/timesheets/1/approve", 403},
		{"Any: first", nil, jwt.MapClaims{"scope": "delete:timesheets"}, "DELETE", "/timesheets/1", 200},
		{"Any: second", nil, jwt.MapClaims{"scope": "admin"}, "DELETE", "/timesheets/1", 200},
		{"Any: none", nil, jwt.MapClaims{"scope": "read:timesheets"}, "DELETE", "/timesheets/1", 403},
		{"scp as a string", nil, jwt.MapClaims{"scp": "read:timesheets other"}, "GET", "/timesheets/1", 200},
		{"scp as an array", nil, jwt.MapClaims{"scp": []string{"other", "read:timesheets"}}, "GET", "/timesheets/1", 200},
		{"permissions (Auth0 RBAC)", nil, jwt.MapClaims{"permissions": []string{"read:timesheets"}}, "GET", "/timesheets/1", 200},
		{"scopes split across claims", nil, jwt.MapClaims{"scope": "approve:timesheets", "permissions": []string{"read:timesheets"}}, "POST", "/timesheets/1/approve", 200},
		{"claim not configured", []v1alpha1.ScopeClaim{"scope"}, jwt.MapClaims{"permissions": []string{"read:timesheets"}}, "GET", "/timesheets/1", 403},
		{"claim configured", []v1alpha1.ScopeClaim{"permissions"}, jwt.MapClaims{"permissions": []string{"read:timesheets"}}, "GET", "/timesheets/1", 200},
		{"most specific pattern wins", nil, jwt.MapClaims{"scope": "batch:upload"}, "POST", "/timesheets/upload", 200},
		{"public route needs no token", nil, nil, "GET", "/timesheets/healthcheck", 200},
		{"method not in the route: default Deny", nil, jwt.MapClaims{"scope": "read:timesheets"}, "PUT", "/timesheets/1", 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(s *v1alpha1.ScopePolicySpec) { s.ScopeClaims = tc.scopeClaims })
			var hdr []string
			if tc.claims != nil {
				c := e.claims("")
				delete(c, "scope")
				for k, v := range tc.claims {
					c[k] = v
				}
				hdr = []string{"Bearer " + e.is.sign(t, jwt.SigningMethodRS256, "rsa-1", c)}
			}
			r := e.call(t, tc.method, tc.path, hdr...)
			require.Equal(t, tc.status, r.status, r.text)
		})
	}
}

func TestDefaultActionAndAudit(t *testing.T) {
	t.Run("Deny refuses an unmatched path even with a valid token", func(t *testing.T) {
		e := newEnv(t, nil)
		r := e.call(t, "GET", "/elsewhere", "Bearer "+e.token(t, "read:timesheets"))
		require.Equal(t, 403, r.status)
	})
	t.Run("Authenticated lets any valid token through an unmatched path", func(t *testing.T) {
		e := newEnv(t, func(s *v1alpha1.ScopePolicySpec) { s.DefaultAction = v1alpha1.DefaultActionAuthenticated })
		require.Equal(t, 200, e.call(t, "GET", "/elsewhere", "Bearer "+e.token(t, "")).status)
		require.Equal(t, 401, e.call(t, "GET", "/elsewhere").status)
	})
	t.Run("Audit records but lets through", func(t *testing.T) {
		e := newEnv(t, func(s *v1alpha1.ScopePolicySpec) { s.Mode = v1alpha1.ModeAudit })
		route := "GET /timesheets/{id}"
		before := e.audited(auth.ReasonMissingToken, route)
		require.Equal(t, 200, e.call(t, "GET", "/timesheets/1").status)
		require.Equal(t, before+1, e.audited(auth.ReasonMissingToken, route))
		r := e.call(t, "GET", "/timesheets/1", "Bearer "+e.token(t, "batch:upload"))
		require.Equal(t, 200, r.status)
		require.Equal(t, "client-1@clients", r.text, "the caller is still known when only a scope is missing")
	})
}

func TestNoPolicyFailsClosed(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.token(t, "read:timesheets")
	e.holder.Store(nil)
	for _, path := range []string{"/timesheets/1", "/timesheets/healthcheck"} {
		r := e.call(t, "GET", path, "Bearer "+tok)
		require.Equal(t, 503, r.status)
		require.Equal(t, "temporarily_unavailable", r.body["error"])
	}
}

func TestKeys(t *testing.T) {
	t.Run("keys never fetched: 503 keys_unavailable", func(t *testing.T) {
		is := newIssuer(t)
		is.setDown(true)
		snap, err := policy.Compile("t", 1, baseSpec(is))
		require.NoError(t, err)
		keys := keysAfterFirstFetch(t, time.Hour, snap.Issuers)
		require.Error(t, keys.Ready(snap.Issuers))
		v := auth.NewVerifier(keys, 10)
		tok := is.sign(t, jwt.SigningMethodRS256, "rsa-1", jwt.MapClaims{"iss": is.iss(), "aud": audience, "exp": time.Now().Add(time.Hour).Unix()})
		_, reason := v.Verify(context.Background(), snap, tok)
		require.Equal(t, auth.ReasonKeysUnavailable, reason)
	})
	t.Run("a brief outage at start heals in about a second, not the full retry cap", func(t *testing.T) {
		is := newIssuer(t)
		is.setDown(true)
		snap, err := policy.Compile("t", 1, baseSpec(is))
		require.NoError(t, err)
		keys := keysAfterFirstFetch(t, time.Minute, snap.Issuers)
		is.setDown(false)
		// Retries wait 0.25-0.5 s, then 0.5-1 s, ...; a fixed interval would wait the whole minute.
		require.Eventually(t, func() bool { return keys.Ready(snap.Issuers) == nil }, 10*time.Second, 20*time.Millisecond)
	})
	t.Run("issuer outage keeps cached keys working", func(t *testing.T) {
		e := newEnv(t, nil)
		e.is.setDown(true)
		// A fresh token (not in the verified-token cache) still verifies.
		require.Equal(t, 200, e.call(t, "GET", "/timesheets/1", "Bearer "+e.token(t, "read:timesheets")).status)
	})
	t.Run("unknown kids refresh the JWKS at most once per interval", func(t *testing.T) {
		e := newEnv(t, nil)
		before := e.is.requests.Load()
		for i := range 50 {
			tok := jwt.NewWithClaims(jwt.SigningMethodRS256, e.claims("read:timesheets"))
			tok.Header["kid"] = "bogus-" + string(rune('a'+i%26))
			s, err := tok.SignedString(e.is.key("rsa-1"))
			require.NoError(t, err)
			require.Equal(t, 401, e.call(t, "GET", "/timesheets/1", "Bearer "+s).status)
		}
		require.LessOrEqual(t, e.is.requests.Load()-before, int64(1), "50 bogus kids cause at most one JWKS fetch")
	})
	t.Run("a rotated-in key is fetched on first use", func(t *testing.T) {
		is := newIssuer(t)
		keys := auth.NewKeys(auth.KeyOptions{UnknownKIDInterval: time.Millisecond})
		t.Cleanup(keys.Close)
		snap, err := policy.Compile("t", 1, baseSpec(is))
		require.NoError(t, err)
		keys.Sync(snap.Issuers)
		require.NoError(t, keys.WaitReady(context.Background(), snap.Issuers))
		is.addRSA(t, "rsa-2", "RS256")
		time.Sleep(2 * time.Millisecond) // let the limiter's token come back
		v := auth.NewVerifier(keys, 10)
		tok := is.sign(t, jwt.SigningMethodRS256, "rsa-2", jwt.MapClaims{"iss": is.iss(), "aud": audience, "exp": time.Now().Add(time.Hour).Unix()})
		_, reason := v.Verify(context.Background(), snap, tok)
		require.Equal(t, auth.Reason(""), reason)
	})
	t.Run("OIDC discovery finds the JWKS", func(t *testing.T) {
		e := newEnv(t, func(s *v1alpha1.ScopePolicySpec) { s.Issuers[0].JWKSURI = "" })
		require.Equal(t, 200, e.call(t, "GET", "/timesheets/1", "Bearer "+e.token(t, "read:timesheets")).status)
	})
	// Keys must not come over plain http from another host, whether the
	// discovery document names such a URL or the JWKS redirects to one.
	// The URL is refused before any connection; 0.0.0.0 is not loopback by
	// the rule, yet should the check ever break, dialing it stays on this
	// machine (port 9 is closed).
	for name, handler := range map[string]http.HandlerFunc{
		"discovery naming a plain-http jwks_uri": func(w http.ResponseWriter, r *http.Request) {
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": "http://" + r.Host + "/", "jwks_uri": "http://0.0.0.0:9/jwks.json"})
		},
		"JWKS redirecting to plain http": func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/openid-configuration") {
				_ = json.NewEncoder(w).Encode(map[string]string{"issuer": "http://" + r.Host + "/", "jwks_uri": "http://" + r.Host + "/jwks.json"})
				return
			}
			http.Redirect(w, r, "http://0.0.0.0:9/jwks.json", http.StatusFound)
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(handler)
			t.Cleanup(srv.Close)
			iss := policy.Issuer{URL: srv.URL + "/"}
			keys := keysAfterFirstFetch(t, time.Hour, []policy.Issuer{iss})
			st := keys.For(iss).Status()
			require.Contains(t, st.LastResult.String(), `"http://0.0.0.0:9/jwks.json" must use https`)
			require.Error(t, keys.Ready([]policy.Issuer{iss}))
		})
	}
}

// keysAfterFirstFetch starts a key store for issuers, retrying failed
// fetches at most every retryCap, and waits until every first fetch has a
// result, good or bad.
func keysAfterFirstFetch(t *testing.T, retryCap time.Duration, issuers []policy.Issuer) *auth.Keys {
	t.Helper()
	keys := auth.NewKeys(auth.KeyOptions{RetryInterval: retryCap})
	t.Cleanup(keys.Close)
	keys.Sync(issuers)
	require.Eventually(t, func() bool {
		for _, is := range issuers {
			if keys.For(is).Status().LastResult.Outcome == auth.FetchPending {
				return false
			}
		}
		return true
	}, 5*time.Second, 10*time.Millisecond)
	return keys
}

func TestCachedTokenFollowsPolicyAndKeys(t *testing.T) {
	e := newEnv(t, nil)
	tok := "Bearer " + e.token(t, "read:timesheets")
	require.Equal(t, 200, e.call(t, "GET", "/timesheets/1", tok).status)
	require.Equal(t, 200, e.call(t, "GET", "/timesheets/1", tok).status) // now cached

	t.Run("audience removed from the policy", func(t *testing.T) {
		spec := baseSpec(e.is)
		spec.Audiences = []string{"https://other.example/"}
		e.apply(t, spec)
		require.Equal(t, 401, e.call(t, "GET", "/timesheets/1", tok).status)
		e.apply(t, baseSpec(e.is))
		require.Equal(t, 200, e.call(t, "GET", "/timesheets/1", tok).status)
	})
	t.Run("scope requirement raised", func(t *testing.T) {
		spec := baseSpec(e.is)
		spec.Routes[1].Scopes = []string{"read:all"}
		e.apply(t, spec)
		require.Equal(t, 403, e.call(t, "GET", "/timesheets/1", tok).status)
		e.apply(t, baseSpec(e.is))
	})
	t.Run("clock skew lowered below a token's age", func(t *testing.T) {
		old := "Bearer " + e.is.sign(t, jwt.SigningMethodRS256, "rsa-1", func() jwt.MapClaims {
			c := e.claims("read:timesheets")
			c["exp"] = time.Now().Add(-10 * time.Second).Unix()
			return c
		}())
		require.Equal(t, 200, e.call(t, "GET", "/timesheets/1", old).status)
		spec := baseSpec(e.is)
		spec.ClockSkew = &metav1.Duration{Duration: 0}
		e.apply(t, spec)
		require.Equal(t, 401, e.call(t, "GET", "/timesheets/1", old).status)
		e.apply(t, baseSpec(e.is))
	})
	t.Run("key removed from the JWKS", func(t *testing.T) {
		// Rotate: a new key signs from now on, the old one leaves the JWKS.
		e.is.addRSA(t, "rsa-2", "RS256")
		e.is.remove("rsa-1")
		// Switching to discovery gives the issuer a new key set, fetched now.
		spec := baseSpec(e.is)
		spec.Issuers[0].JWKSURI = ""
		e.apply(t, spec)
		require.Equal(t, 401, e.call(t, "GET", "/timesheets/1", tok).status)
	})
}

// TestAuditLogNamesVerifiedCaller: an Audit-mode line names the caller of a
// token that verified (what an operator checks before switching to
// Enforce), names nobody for a token that did not, never holds the token,
// and keeps the method to a fixed set.
func TestAuditLogNamesVerifiedCaller(t *testing.T) {
	e := newEnv(t, func(s *v1alpha1.ScopePolicySpec) { s.Mode = v1alpha1.ModeAudit })
	var logs syncbuf.Buffer
	mw := &auth.Middleware{Policy: e.holder, Verifier: auth.NewVerifier(e.keys, 10),
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Realm: "timesheets"}
	h := mw.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	lastLine := func(method, header string) map[string]any {
		t.Helper()
		req := httptest.NewRequest(method, "/timesheets/7", nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		before := len(logs.String())
		h.ServeHTTP(httptest.NewRecorder(), req)
		out := logs.String()[before:]
		require.NotContains(t, out, "eyJ", "a log line never holds a token")
		var line map[string]any
		require.NoError(t, json.Unmarshal([]byte(out), &line), out)
		return line
	}

	c := e.claims("batch:upload") // verifies, lacks read:timesheets
	c["azp"] = "importer"
	line := lastLine("GET", "Bearer "+e.is.sign(t, jwt.SigningMethodRS256, "rsa-1", c))
	require.Equal(t, string(auth.ReasonInsufficientScope), line["reason"])
	require.Equal(t, e.is.iss()+"#sub:client-1@clients", line["caller"])
	require.Equal(t, e.is.iss()+"#client:importer", line["client"])
	require.Equal(t, "GET", line["method"])

	forged := newIssuer(t).sign(t, jwt.SigningMethodRS256, "rsa-1", c) // a key the issuer does not publish
	line = lastLine("GET", "Bearer "+forged)
	require.Equal(t, string(auth.ReasonBadSignature), line["reason"])
	require.NotContains(t, line, "caller", "nothing unverified is logged")
	require.NotContains(t, line, "client")

	line = lastLine("BREW", "")
	require.Equal(t, string(auth.ReasonMissingToken), line["reason"])
	require.Equal(t, "other", line["method"], "an unknown method is logged as other")
}

// TestRefusalLogCapsMethod: the refusal debug line keeps the method to the
// fixed set too.
func TestRefusalLogCapsMethod(t *testing.T) {
	e := newEnv(t, nil)
	var logs syncbuf.Buffer
	mw := &auth.Middleware{Policy: e.holder, Verifier: auth.NewVerifier(e.keys, 10),
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Realm: "timesheets"}
	rec := httptest.NewRecorder()
	mw.Wrap(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest(strings.Repeat("X", 64), "/timesheets/7", nil))
	require.Equal(t, 401, rec.Code)
	require.Contains(t, logs.String(), `"method":"other"`)
	require.NotContains(t, logs.String(), "XXXX")
}
