package auth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/policy"
)

// issuer is a real authorization server's key endpoint on loopback: it
// publishes a JWKS (RFC 7517 §5, keys in kid order) and OIDC discovery
// (OpenID Connect Discovery 1.0 §4: issuer and jwks_uri), and signs tokens
// for the tests. Beside the well-known JWKS it serves /keys/{name}, so
// discovery can point elsewhere, as when an issuer moves its keys.
type issuer struct {
	*httptest.Server
	mu       sync.Mutex
	keys     map[string]crypto.Signer
	algs     map[string]string // kid -> alg published in the JWK ("" = none)
	only     map[string]string // kid -> the one JWKS path publishing it (absent = all)
	status   map[string]int    // JWKS path -> status it answers instead of the keys
	jwksPath string            // the path discovery names
	cacheCtl string            // Cache-Control of JWKS responses ("" = none)
	age      string            // Age of JWKS responses ("" = none)
	hold     chan struct{}     // while non-nil, JWKS requests wait for it to close
	down     atomic.Bool
	// discoveryDown makes discovery answer 503.
	discoveryDown atomic.Bool
	requests      atomic.Int64 // JWKS requests
	discover      atomic.Int64 // discovery requests
}

const wellKnownJWKS = "/.well-known/jwks.json"

func newIssuer(t testing.TB) *issuer {
	t.Helper()
	is := &issuer{keys: map[string]crypto.Signer{}, algs: map[string]string{}, only: map[string]string{},
		status: map[string]int{}, jwksPath: wellKnownJWKS}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+wellKnownJWKS, is.serveJWKS)
	mux.HandleFunc("GET /keys/{name}", is.serveJWKS)
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		is.discover.Add(1)
		if is.discoveryDown.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		is.mu.Lock()
		path := is.jwksPath
		is.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": is.URL + "/", "jwks_uri": is.URL + path})
	})
	is.Server = httptest.NewServer(mux)
	t.Cleanup(is.Close)
	is.addRSA(t, "rsa-1", "RS256")
	return is
}

// set changes the issuer's behaviour under its lock.
func (is *issuer) set(f func(is *issuer)) {
	is.mu.Lock()
	defer is.mu.Unlock()
	f(is)
}

func (is *issuer) iss() string       { return is.URL + "/" }
func (is *issuer) jwksURL() string   { return is.URL + "/.well-known/jwks.json" }
func (is *issuer) setDown(down bool) { is.down.Store(down) }

func (is *issuer) addRSA(t testing.TB, kid, alg string) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is.mu.Lock()
	is.keys[kid], is.algs[kid] = k, alg
	is.mu.Unlock()
	return k
}

func (is *issuer) addEC(t testing.TB, kid string) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	is.mu.Lock()
	is.keys[kid], is.algs[kid] = k, "ES256"
	is.mu.Unlock()
	return k
}

func (is *issuer) remove(kid string) {
	is.mu.Lock()
	delete(is.keys, kid)
	is.mu.Unlock()
}

func (is *issuer) key(kid string) crypto.Signer {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.keys[kid]
}

func (is *issuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	is.requests.Add(1)
	is.mu.Lock()
	hold := is.hold
	is.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	if is.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	var keys []map[string]string
	is.mu.Lock()
	if code := is.status[r.URL.Path]; code != 0 {
		is.mu.Unlock()
		http.Error(w, http.StatusText(code), code)
		return
	}
	kids := make([]string, 0, len(is.keys))
	for kid := range is.keys {
		if p, ok := is.only[kid]; !ok || p == r.URL.Path {
			kids = append(kids, kid)
		}
	}
	slices.Sort(kids)
	for _, kid := range kids {
		k := is.keys[kid]
		jwk := map[string]string{"kid": kid, "use": "sig"}
		if a := is.algs[kid]; a != "" {
			jwk["alg"] = a
		}
		switch pk := k.Public().(type) {
		case *rsa.PublicKey:
			jwk["kty"], jwk["n"], jwk["e"] = "RSA", b64(pk.N.Bytes()), b64(big.NewInt(int64(pk.E)).Bytes())
		case *ecdsa.PublicKey:
			point, err := pk.Bytes() // 0x04 || X || Y, each 32 bytes on P-256 (SEC 1 §2.3.3)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			jwk["kty"], jwk["crv"], jwk["x"], jwk["y"] = "EC", "P-256", b64(point[1:33]), b64(point[33:])
		}
		keys = append(keys, jwk)
	}
	if is.cacheCtl != "" {
		w.Header().Set("Cache-Control", is.cacheCtl)
	}
	if is.age != "" {
		w.Header().Set("Age", is.age)
	}
	is.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
}

// sign signs claims with the key kid using method.
func (is *issuer) sign(t testing.TB, method jwt.SigningMethod, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(is.key(kid))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startKeys starts a key store with opts (logging nowhere unless told) for is, under baseSpec changed by
// mutate (may be nil), and waits for its keys.
func startKeys(t *testing.T, is *issuer, opts auth.KeyOptions, mutate func(*v1alpha1.ScopePolicySpec)) (*auth.Keys, *policy.Snapshot) {
	t.Helper()
	spec := baseSpec(is)
	if mutate != nil {
		mutate(&spec)
	}
	snap, err := policy.Compile("t", 1, spec)
	require.NoError(t, err)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	keys := auth.NewKeys(opts)
	t.Cleanup(keys.Close)
	keys.Sync(snap.Issuers)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, keys.WaitReady(ctx, snap.Issuers))
	return keys, snap
}

// tokenUnder is an access token signed by the key kid.
func (is *issuer) tokenUnder(t testing.TB, kid string) string {
	return is.sign(t, jwt.SigningMethodRS256, kid, jwt.MapClaims{"iss": is.iss(), "aud": audience, "exp": time.Now().Add(time.Hour).Unix()})
}

// bogusToken is signed by rsa-1 but names kid, a key the issuer never had.
func (is *issuer) bogusToken(t testing.TB, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": is.iss(), "aud": audience, "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(is.key("rsa-1"))
	require.NoError(t, err)
	return s
}
