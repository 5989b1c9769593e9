package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/dpop"
	"github.com/abc-inc/timesheets/pkg/openapi/openapitest"
	"github.com/abc-inc/timesheets/pkg/policy"
	"github.com/abc-inc/timesheets/pkg/service"
	"github.com/abc-inc/timesheets/pkg/store"
	"github.com/abc-inc/timesheets/pkg/store/pgtest"
)

// publicURL is the one URL the replicas of a DPoP test are known by, as
// behind an ingress: the proofs name it (htu), not a replica's own.
const publicURL = "https://timesheets.abc-inc.example"

// dpopReplica is one API replica on databaseURL behind publicURL, with the
// sample policy and ES256 proofs allowed.
func dpopReplica(t *testing.T, databaseURL string, is interface{ Issuer() string }, mutate func(*v1alpha1.ScopePolicySpec)) *httptest.Server {
	t.Helper()
	st, err := store.Open(context.Background(), databaseURL, store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	spec := policy.Sample(is.Issuer(), devAudience)
	spec.Algorithms = []v1alpha1.Algorithm{"RS256", "ES256"}
	if mutate != nil {
		mutate(&spec)
	}
	pub, err := url.Parse(publicURL)
	require.NoError(t, err)
	svc := startService(t, service.Options{Store: st, Logger: slog.New(slog.DiscardHandler), TokenCacheSize: 100, PublicURL: pub}, spec)
	srv := httptest.NewServer(openapitest.Handler(t, svc.Handler(), openapitest.Options{Tokens: true}))
	t.Cleanup(srv.Close)
	return srv
}

func dpopDo(t *testing.T, srv *httptest.Server, method, path, authz, proof, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", authz)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	if body != "" {
		req.Header.Set("Content-Type", jsonType)
	}
	r, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return r.StatusCode, r.Header, m
}

// TestDPoPOnBothEngines: a DPoP-bound token with a fresh proof uploads and
// reads on SQLite and on PostgreSQL; a proof is taken once, also by the
// other replica of a PostgreSQL pair (the store's ledger); with nonces
// required, one replica's nonce is good on the other.
func TestDPoPOnBothEngines(t *testing.T) {
	is := newDevIssuer(t)
	key, err := dpop.NewKey("ES256")
	require.NoError(t, err)
	claims := is.Claims("importer", devAudience, []string{"batch:upload", "read:timesheets"})
	claims["cnf"] = map[string]any{"jkt": key.Thumbprint()}
	tok, err := is.Mint(claims)
	require.NoError(t, err)
	prove := func(method, path, nonce string) string {
		p, err := key.Proof(method, publicURL+path, tok, nonce, time.Now())
		require.NoError(t, err)
		return p
	}

	for _, eng := range []struct{ name, url string }{
		{"sqlite", "sqlite://" + filepath.Join(t.TempDir(), "ts.db")},
		{"postgres", pgtest.Database(t)},
	} {
		t.Run(eng.name, func(t *testing.T) {
			a, b := dpopReplica(t, eng.url, is, nil), dpopReplica(t, eng.url, is, nil)
			p := prove("POST", "/timesheets/upload", "")
			status, _, body := dpopDo(t, a, "POST", "/timesheets/upload", "DPoP "+tok, p, dayEntry)
			require.Equal(t, http.StatusCreated, status, "%v", body)
			status, h, body := dpopDo(t, b, "POST", "/timesheets/upload", "DPoP "+tok, p, dayEntry)
			require.Equal(t, http.StatusUnauthorized, status, "the proof replayed to the other replica: %v", body)
			assert.Equal(t, "invalid_dpop_proof", body["error"])
			assert.Contains(t, h.Get("WWW-Authenticate"), `DPoP algs="RS256 ES256", error="invalid_dpop_proof"`)
			status, _, body = dpopDo(t, b, "GET", "/timesheets", "DPoP "+tok, prove("GET", "/timesheets", ""), "")
			require.Equal(t, http.StatusOK, status, "%v", body)
			status, _, _ = dpopDo(t, b, "GET", "/timesheets", "Bearer "+tok, "", "")
			require.Equal(t, http.StatusUnauthorized, status, "a bound token is no bearer token")
		})
	}

	t.Run("nonces across PostgreSQL replicas", func(t *testing.T) {
		db := pgtest.Database(t)
		nonces := func(s *v1alpha1.ScopePolicySpec) { s.DPoPProofs = &v1alpha1.DPoPProofs{RequireNonce: true} }
		a, b := dpopReplica(t, db, is, nonces), dpopReplica(t, db, is, nonces)
		status, h, body := dpopDo(t, a, "GET", "/timesheets", "DPoP "+tok, prove("GET", "/timesheets", ""), "")
		require.Equal(t, http.StatusUnauthorized, status)
		require.Equal(t, "use_dpop_nonce", body["error"])
		nonce := h.Get("DPoP-Nonce")
		require.NotEmpty(t, nonce)
		status, _, body = dpopDo(t, b, "GET", "/timesheets", "DPoP "+tok, prove("GET", "/timesheets", nonce), "")
		require.Equal(t, http.StatusOK, status, "a's nonce on b: %v", body)
	})
}
