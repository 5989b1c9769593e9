package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/dpop"
)

// dpopSpec takes ES256 (the proofs' algorithm here) besides RS256 (the
// tokens'): a proof's algorithm must be one of the policy's.
func dpopSpec(mode v1alpha1.DPoPMode) func(*v1alpha1.ScopePolicySpec) {
	return func(s *v1alpha1.ScopePolicySpec) {
		s.Algorithms = []v1alpha1.Algorithm{"RS256", "ES256"}
		s.DPoP = mode
	}
}

// boundToken is a token bound to key (cnf.jkt, RFC 9449 §6.1).
func (e *env) boundToken(t *testing.T, scope string, key *dpop.Key) string {
	c := e.claims(scope)
	c["cnf"] = map[string]any{"jkt": key.Thumbprint()}
	return e.is.sign(t, jwt.SigningMethodRS256, "rsa-1", c)
}

// dcall sends a request with an Authorization header and DPoP headers.
func (e *env) dcall(t *testing.T, method, path, authz string, proofs ...string) (reply, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, nil)
	require.NoError(t, err)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, challenge: strings.Join(resp.Header.Values("WWW-Authenticate"), " | "), text: string(b)}
	_ = json.Unmarshal(b, &r.body)
	return r, resp.Header
}

func proof(t *testing.T, key *dpop.Key, method, htu, token, nonce string, at time.Time) string {
	t.Helper()
	p, err := key.Proof(method, htu, token, nonce, at)
	require.NoError(t, err)
	return p
}

// forged signs a proof's claims with its own header, for the proofs that
// dpop.Key never makes (none, HS256, a private key in the jwk).
func forged(t *testing.T, method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

func ath(token string) string {
	h := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func newDPoPKey(t *testing.T) *dpop.Key {
	t.Helper()
	k, err := dpop.NewKey("ES256")
	require.NoError(t, err)
	return k
}

// TestDPoPChecks refuses each RFC 9449 §4.3 check on its own, through the
// middleware, and takes the proof that passes them all.
func TestDPoPChecks(t *testing.T) {
	e := newEnv(t, dpopSpec(v1alpha1.DPoPAllowed))
	key, other := newDPoPKey(t), newDPoPKey(t)
	tok := e.boundToken(t, "read:timesheets", key)
	path, route := "/timesheets/7", "GET /timesheets/{id}"
	htu := e.srv.URL + path
	now := time.Now()

	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	var publicJWK map[string]any
	require.NoError(t, json.Unmarshal(key.PublicJWK(), &publicJWK))
	claims := func() jwt.MapClaims {
		return jwt.MapClaims{"jti": rand.Text(), "htm": "GET", "htu": htu, "iat": now.Unix(), "ath": ath(tok)}
	}
	privateJWK := map[string]any{}
	for k, v := range publicJWK {
		privateJWK[k] = v
	}
	d, err := ecKey.Bytes()
	require.NoError(t, err)
	privateJWK["d"] = base64.RawURLEncoding.EncodeToString(d)

	for _, c := range []struct {
		name   string
		authz  string
		proofs []string
		reason auth.Reason
	}{
		{"a proof for another method", "DPoP " + tok, []string{proof(t, key, "POST", htu, tok, "", now)}, auth.ReasonDPoPInvalidProof},
		{"a proof for another URI", "DPoP " + tok, []string{proof(t, key, "GET", e.srv.URL+"/timesheets/8", tok, "", now)}, auth.ReasonDPoPInvalidProof},
		{"a stale iat", "DPoP " + tok, []string{proof(t, key, "GET", htu, tok, "", now.Add(-10*time.Minute))}, auth.ReasonDPoPInvalidProof},
		{"an iat in the future", "DPoP " + tok, []string{proof(t, key, "GET", htu, tok, "", now.Add(10*time.Minute))}, auth.ReasonDPoPInvalidProof},
		{"a wrong ath", "DPoP " + tok, []string{proof(t, key, "GET", htu, tok+"x", "", now)}, auth.ReasonDPoPProofMismatch},
		{"a key that is not the token's cnf.jkt", "DPoP " + tok, []string{proof(t, other, "GET", htu, tok, "", now)}, auth.ReasonDPoPProofMismatch},
		{"a private key in the header", "DPoP " + tok, []string{forged(t, jwt.SigningMethodES256, ecKey, map[string]any{"typ": "dpop+jwt", "jwk": privateJWK}, claims())}, auth.ReasonDPoPInvalidProof},
		{"an unsigned proof (none)", "DPoP " + tok, []string{forged(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, map[string]any{"typ": "dpop+jwt", "jwk": publicJWK}, claims())}, auth.ReasonDPoPInvalidProof},
		{"an HS256 proof", "DPoP " + tok, []string{forged(t, jwt.SigningMethodHS256, []byte("0123456789abcdef0123456789abcdef"), map[string]any{"typ": "dpop+jwt", "jwk": publicJWK}, claims())}, auth.ReasonDPoPInvalidProof},
		{"another typ", "DPoP " + tok, []string{forged(t, jwt.SigningMethodES256, ecKey, map[string]any{"typ": "JWT", "jwk": publicJWK}, claims())}, auth.ReasonDPoPInvalidProof},
		{"no proof for a bound token", "DPoP " + tok, nil, auth.ReasonDPoPInvalidProof},
		{"two proofs", "DPoP " + tok, []string{proof(t, key, "GET", htu, tok, "", now), proof(t, key, "GET", htu, tok, "", now)}, auth.ReasonDPoPInvalidProof},
		{"a bound token sent as Bearer", "Bearer " + tok, []string{proof(t, key, "GET", htu, tok, "", now)}, auth.ReasonDPoPBoundAsBearer},
		{"the DPoP scheme with a bearer token", "DPoP " + e.token(t, "read:timesheets"), []string{proof(t, key, "GET", htu, tok, "", now)}, auth.ReasonDPoPNotBound},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := e.failures(c.reason, route)
			r, _ := e.dcall(t, "GET", path, c.authz, c.proofs...)
			require.Equal(t, http.StatusUnauthorized, r.status, r.text)
			assert.Equal(t, before+1, e.failures(c.reason, route), "counted as %s", c.reason)
			for _, p := range c.proofs {
				assert.NotContains(t, r.text+r.challenge, p, "the proof is never echoed")
			}
			switch c.reason {
			case auth.ReasonDPoPInvalidProof, auth.ReasonDPoPProofMismatch:
				assert.Contains(t, r.challenge, `DPoP algs="RS256 ES256", error="invalid_dpop_proof"`)
				assert.NotContains(t, r.challenge, "Bearer", "a DPoP error is the DPoP scheme's")
			case auth.ReasonDPoPBoundAsBearer:
				assert.Contains(t, r.challenge, `Bearer realm="timesheets", error="invalid_token"`)
				assert.Contains(t, r.challenge, `DPoP algs="RS256 ES256"`)
			}
		})
	}

	t.Run("the happy path, then a replay", func(t *testing.T) {
		// htu is compared without query and fragment (RFC 9449 §4.3 check 9).
		r, _ := e.dcall(t, "GET", path+"?x=1", "DPoP "+tok, proof(t, key, "GET", htu, tok, "", now))
		require.Equal(t, http.StatusOK, r.status, r.text)
		assert.Equal(t, "client-1@clients", r.text)
		r, _ = e.dcall(t, "GET", path, "DPoP "+tok, proof(t, key, "GET", strings.ToUpper(e.srv.URL[:4])+e.srv.URL[4:]+path+"?y=2#f", tok, "", now))
		require.Equal(t, http.StatusOK, r.status, "the scheme's case and a query do not count: %s", r.text)

		good := proof(t, key, "GET", htu, tok, "", now)
		r, _ = e.dcall(t, "GET", path, "dpop "+tok, good) // the scheme is case-insensitive
		require.Equal(t, http.StatusOK, r.status, r.text)
		before := e.failures(auth.ReasonDPoPReplay, route)
		r, _ = e.dcall(t, "GET", path, "DPoP "+tok, good)
		require.Equal(t, http.StatusUnauthorized, r.status, r.text)
		assert.Equal(t, before+1, e.failures(auth.ReasonDPoPReplay, route))
	})

	t.Run("a cached token still needs a fresh proof each time", func(t *testing.T) {
		for range 3 {
			r, _ := e.dcall(t, "GET", path, "DPoP "+tok, proof(t, key, "GET", htu, tok, "", time.Now()))
			require.Equal(t, http.StatusOK, r.status, r.text)
			r, _ = e.dcall(t, "GET", path, "DPoP "+tok)
			require.Equal(t, http.StatusUnauthorized, r.status, r.text)
		}
	})

	t.Run("bearer tokens still pass where DPoP is allowed", func(t *testing.T) {
		r := e.call(t, "GET", path, "Bearer "+e.token(t, "read:timesheets"))
		require.Equal(t, http.StatusOK, r.status, r.text)
		r, h := e.dcall(t, "GET", path, "")
		require.Equal(t, http.StatusUnauthorized, r.status)
		assert.Equal(t, []string{`Bearer realm="timesheets"`, `DPoP algs="RS256 ES256"`}, h.Values("WWW-Authenticate"))
	})
}

// replica is a second middleware over e's policy and keys, as another
// replica of the API is: its own verifier and token cache.
func (e *env) replica(t *testing.T, configure func(*auth.Middleware)) *env {
	t.Helper()
	mw := &auth.Middleware{Policy: e.holder, Verifier: auth.NewVerifier(e.keys, 1000), Logger: slog.New(slog.DiscardHandler), Realm: "timesheets"}
	configure(mw)
	srv := httptest.NewServer(mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	t.Cleanup(srv.Close)
	return &env{is: e.is, keys: e.keys, holder: e.holder, srv: srv}
}

// TestDPoPAcrossReplicas: replicas behind one public URL that share a
// ledger and a nonce secret (the store's, in the API) take a proof once,
// and each other's nonces.
func TestDPoPAcrossReplicas(t *testing.T) {
	ledger := dpop.NewMemoryLedger(100)
	public, err := url.Parse("https://timesheets.abc-inc.example/api")
	require.NoError(t, err)
	secret := []byte(strings.Repeat("s", 64))
	shared := func(m *auth.Middleware) {
		m.DPoP = &auth.DPoP{Ledger: ledger, PublicURL: public,
			NonceSecret: func(context.Context) ([]byte, error) { return secret, nil }}
	}
	a := newEnvWith(t, dpopSpec(v1alpha1.DPoPAllowed), shared)
	b := a.replica(t, shared)
	key := newDPoPKey(t)
	tok := a.boundToken(t, "read:timesheets", key)
	htu := "https://timesheets.abc-inc.example/api/timesheets/7" // the public URL's, not the replicas' own

	p := proof(t, key, "GET", htu, tok, "", time.Now())
	r, _ := a.dcall(t, "GET", "/timesheets/7", "DPoP "+tok, p)
	require.Equal(t, http.StatusOK, r.status, r.text)
	r, _ = b.dcall(t, "GET", "/timesheets/7", "DPoP "+tok, p)
	require.Equal(t, http.StatusUnauthorized, r.status, "replayed to the other replica: %s", r.text)
	assert.Equal(t, float64(1), b.failures(auth.ReasonDPoPReplay, "GET /timesheets/{id}"))
	r, _ = b.dcall(t, "GET", "/timesheets/7", "DPoP "+tok, proof(t, key, "GET", htu, tok, "", time.Now()))
	require.Equal(t, http.StatusOK, r.status, "a fresh proof: %s", r.text)

	t.Run("nonces", func(t *testing.T) {
		spec := baseSpec(a.is)
		dpopSpec(v1alpha1.DPoPAllowed)(&spec)
		spec.DPoPProofs = &v1alpha1.DPoPProofs{RequireNonce: true}
		a.apply(t, spec)
		r, h := a.dcall(t, "GET", "/timesheets/7", "DPoP "+tok, proof(t, key, "GET", htu, tok, "", time.Now()))
		require.Equal(t, http.StatusUnauthorized, r.status, r.text)
		assert.Equal(t, "use_dpop_nonce", r.body["error"])
		assert.Contains(t, r.challenge, `DPoP algs="RS256 ES256", error="use_dpop_nonce"`)
		nonce := h.Get("DPoP-Nonce")
		require.NotEmpty(t, nonce)
		r, h = b.dcall(t, "GET", "/timesheets/7", "DPoP "+tok, proof(t, key, "GET", htu, tok, nonce, time.Now()))
		require.Equal(t, http.StatusOK, r.status, "a's nonce on b: %s", r.text)
		assert.NotEmpty(t, h.Get("DPoP-Nonce"), "a fresh nonce with every answer")
		r, _ = b.dcall(t, "GET", "/timesheets/7", "DPoP "+tok, proof(t, key, "GET", htu, tok, nonce+"x", time.Now()))
		require.Equal(t, http.StatusUnauthorized, r.status, "a forged nonce: %s", r.text)
	})
}

// TestDPoPModes: Required takes only bound tokens, Disabled only bearer
// ones, and a route may say otherwise than the policy.
func TestDPoPModes(t *testing.T) {
	key := newDPoPKey(t)
	e := newEnv(t, func(s *v1alpha1.ScopePolicySpec) {
		dpopSpec(v1alpha1.DPoPRequired)(s)
		s.Routes = append(s.Routes, v1alpha1.Route{Path: "/legacy/{id}", Methods: []string{"GET"}, Scopes: []string{"read:timesheets"}, DPoP: v1alpha1.DPoPDisabled})
	})
	bearer, bound := e.token(t, "read:timesheets"), e.boundToken(t, "read:timesheets", key)

	r, h := e.dcall(t, "GET", "/timesheets/7", "Bearer "+bearer)
	require.Equal(t, http.StatusUnauthorized, r.status, r.text)
	assert.Equal(t, float64(1), e.failures(auth.ReasonDPoPRequired, "GET /timesheets/{id}"))
	assert.Equal(t, []string{`DPoP algs="RS256 ES256", error="invalid_token", error_description="this request takes only DPoP-bound access tokens, sent as Authorization: DPoP with a DPoP proof"`},
		h.Values("WWW-Authenticate"), "only the DPoP scheme where only it is taken")
	r, _ = e.dcall(t, "GET", "/timesheets/7", "DPoP "+bound, proof(t, key, "GET", e.srv.URL+"/timesheets/7", bound, "", time.Now()))
	require.Equal(t, http.StatusOK, r.status, r.text)
	r, h = e.dcall(t, "GET", "/timesheets/7", "")
	require.Equal(t, http.StatusUnauthorized, r.status)
	assert.Equal(t, []string{`DPoP algs="RS256 ES256"`}, h.Values("WWW-Authenticate"))

	r, _ = e.dcall(t, "GET", "/legacy/7", "Bearer "+bearer)
	require.Equal(t, http.StatusOK, r.status, "the route's own mode: %s", r.text)
	r, h = e.dcall(t, "GET", "/legacy/7", "DPoP "+bound, proof(t, key, "GET", e.srv.URL+"/legacy/7", bound, "", time.Now()))
	require.Equal(t, http.StatusUnauthorized, r.status, r.text)
	assert.Equal(t, float64(1), e.failures(auth.ReasonDPoPDisabled, "GET /legacy/{id}"))
	assert.Equal(t, []string{`Bearer realm="timesheets", error="invalid_token", error_description="this request takes only bearer access tokens, not DPoP-bound ones"`}, h.Values("WWW-Authenticate"))

	t.Run("a token bound otherwise is refused, not taken as bearer", func(t *testing.T) {
		c := e.claims("read:timesheets")
		c["cnf"] = map[string]any{"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}
		r, _ := e.dcall(t, "GET", "/legacy/7", "Bearer "+e.is.sign(t, jwt.SigningMethodRS256, "rsa-1", c))
		require.Equal(t, http.StatusUnauthorized, r.status, r.text)
	})
}
