package devissuer_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/devissuer"
	"github.com/abc-inc/timesheets/pkg/dpop"
)

// postDPoP posts a client-credentials request of the importer client
// (client_secret_post, or the form given) with these DPoP headers.
func postDPoP(t testing.TB, s *devissuer.Server, form url.Values, proofs ...string) *http.Response {
	t.Helper()
	if form == nil {
		form = url.Values{"grant_type": {"client_credentials"}, "client_id": {"importer"}, "client_secret": {"importer-secret"}}
	}
	req, err := http.NewRequest(http.MethodPost, s.TokenURL(), strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, err := httpClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func proof(t testing.TB, k *dpop.Key, method, htu, nonce string, at time.Time) string {
	t.Helper()
	p, err := k.Proof(method, htu, "", nonce, at)
	require.NoError(t, err)
	return p
}

type boundClaims struct {
	accessClaims
	CNF struct {
		JKT string `json:"jkt"`
	} `json:"cnf"`
}

// boundToken checks a 200 answer: a DPoP token whose cnf.jkt is jkt.
func boundToken(t testing.TB, s *devissuer.Server, resp *http.Response, jkt string) {
	t.Helper()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	tr := decode[devissuer.TokenResponse](t, resp.Body)
	assert.Equal(t, "DPoP", tr.TokenType)
	verify(t, s, tr.AccessToken, apiAudience) // a token a resource server accepts
	var c boundClaims
	_, _, err := jwt.NewParser().ParseUnverified(tr.AccessToken, &c)
	require.NoError(t, err)
	assert.Equal(t, jkt, c.CNF.JKT, "cnf.jkt is the proof key's RFC 7638 thumbprint")
}

func TestDPoPBoundTokens(t *testing.T) {
	s := start(t, devissuer.Config{})
	es, err := dpop.NewKey("ES256")
	require.NoError(t, err)
	rs, err := dpop.NewKey("RS256")
	require.NoError(t, err)
	now := time.Now()

	t.Run("ES256 proof: a bound token", func(t *testing.T) {
		boundToken(t, s, postDPoP(t, s, nil, proof(t, es, "POST", s.TokenURL(), "", now)), es.Thumbprint())
	})
	t.Run("RS256 proof, htu as discovery names the endpoint", func(t *testing.T) {
		boundToken(t, s, postDPoP(t, s, nil, proof(t, rs, "POST", s.Discovery().TokenEndpoint, "", now)), rs.Thumbprint())
	})
	t.Run("with private_key_jwt", func(t *testing.T) {
		kc := newECClient(t, "keyed", "k1")
		ks := start(t, devissuer.Config{Clients: []devissuer.Client{kc.client("batch:upload")}})
		form := assertionForm(kc.sign(t, kc.claims(ks.Issuer()), "k1", nil), nil)
		boundToken(t, ks, postDPoP(t, ks, form, proof(t, es, "POST", ks.TokenURL(), "", now)), es.Thumbprint())
	})
	t.Run("no proof: a bearer token without cnf", func(t *testing.T) {
		resp := postDPoP(t, s, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		tr := decode[devissuer.TokenResponse](t, resp.Body)
		assert.Equal(t, "Bearer", tr.TokenType)
		var c boundClaims
		_, _, err := jwt.NewParser().ParseUnverified(tr.AccessToken, &c)
		require.NoError(t, err)
		assert.Empty(t, c.CNF.JKT)
	})

	replayed := proof(t, es, "POST", s.TokenURL(), "", now)
	require.Equal(t, http.StatusOK, postDPoP(t, s, nil, replayed).StatusCode)
	for _, tc := range []struct {
		name   string
		proofs []string
	}{
		{"a proof for GET", []string{proof(t, es, "GET", s.TokenURL(), "", now)}},
		{"a proof for another URI", []string{proof(t, es, "POST", "https://other.example/oauth/token", "", now)}},
		{"a stale proof", []string{proof(t, es, "POST", s.TokenURL(), "", now.Add(-10*time.Minute))}},
		{"a proof from the future", []string{proof(t, es, "POST", s.TokenURL(), "", now.Add(10*time.Minute))}},
		{"a replayed proof", []string{replayed}},
		{"two proofs", []string{proof(t, es, "POST", s.TokenURL(), "", now), proof(t, es, "POST", s.TokenURL(), "", now)}},
		{"not a JWT", []string{"not-a-proof"}},
		{"an ordinary JWT", []string{func() string { tok, _ := s.Mint(jwt.MapClaims{"htm": "POST", "htu": s.TokenURL()}); return tok }()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := postDPoP(t, s, nil, tc.proofs...)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode)
			e := decode[devissuer.ErrorResponse](t, resp.Body)
			assert.Equal(t, "invalid_dpop_proof", e.Error)
			assert.NotEmpty(t, e.Description)
			for _, p := range tc.proofs {
				assert.NotContains(t, e.Description, p)
			}
		})
	}

	t.Run("discovery", func(t *testing.T) {
		doc, _ := getJSON[map[string]any](t, s.DiscoveryURL())
		algs, _ := doc["dpop_signing_alg_values_supported"].([]any)
		assert.Contains(t, algs, "ES256")
		assert.Contains(t, algs, "RS256")
		assert.NotContains(t, algs, "HS256")
	})
}

func TestDPoPNonce(t *testing.T) {
	s := start(t, devissuer.Config{DPoPNonce: true})
	k, err := dpop.NewKey("ES256")
	require.NoError(t, err)

	// RFC 9449 §8: without a nonce, 400 use_dpop_nonce and one to use.
	resp := postDPoP(t, s, nil, proof(t, k, "POST", s.TokenURL(), "", time.Now()))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Equal(t, "use_dpop_nonce", decode[devissuer.ErrorResponse](t, resp.Body).Error)
	nonce := resp.Header.Get("DPoP-Nonce")
	require.NotEmpty(t, nonce)

	// With it, a bound token, and the next nonce.
	resp = postDPoP(t, s, nil, proof(t, k, "POST", s.TokenURL(), nonce, time.Now()))
	boundToken(t, s, resp, k.Thumbprint())
	next := resp.Header.Get("DPoP-Nonce")
	assert.NotEmpty(t, next)

	// A nonce it did not issue is asked for again.
	resp = postDPoP(t, s, nil, proof(t, k, "POST", s.TokenURL(), "made-up", time.Now()))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Equal(t, "use_dpop_nonce", decode[devissuer.ErrorResponse](t, resp.Body).Error)
	assert.NotEmpty(t, resp.Header.Get("DPoP-Nonce"))

	// A request without a proof needs no nonce: a bearer token.
	resp = postDPoP(t, s, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "Bearer", decode[devissuer.TokenResponse](t, resp.Body).TokenType)
	assert.Empty(t, resp.Header.Get("DPoP-Nonce"))
}
