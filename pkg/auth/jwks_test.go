package auth_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// issuer is a real authorization server's key endpoint on loopback: it
// publishes a JWKS and OIDC discovery, and signs tokens for the tests.
type issuer struct {
	*httptest.Server
	mu       sync.Mutex
	keys     map[string]crypto.Signer
	algs     map[string]string // kid -> alg published in the JWK ("" = none)
	down     atomic.Bool
	requests atomic.Int64
}

func newIssuer(t testing.TB) *issuer {
	t.Helper()
	is := &issuer{keys: map[string]crypto.Signer{}, algs: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/jwks.json", is.serveJWKS)
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": is.URL + "/", "jwks_uri": is.URL + "/.well-known/jwks.json"})
	})
	is.Server = httptest.NewServer(mux)
	t.Cleanup(is.Close)
	is.addRSA(t, "rsa-1", "RS256")
	return is
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
	if is.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	var keys []map[string]string
	is.mu.Lock()
	for kid, k := range is.keys {
		jwk := map[string]string{"kid": kid, "use": "sig"}
		if a := is.algs[kid]; a != "" {
			jwk["alg"] = a
		}
		switch pk := k.Public().(type) {
		case *rsa.PublicKey:
			jwk["kty"], jwk["n"], jwk["e"] = "RSA", b64(pk.N.Bytes()), b64(big.NewInt(int64(pk.E)).Bytes())
		case *ecdsa.PublicKey:
			x, y := make([]byte, 32), make([]byte, 32)
			pk.X.FillBytes(x)
			pk.Y.FillBytes(y)
			jwk["kty"], jwk["crv"], jwk["x"], jwk["y"] = "EC", "P-256", b64(x), b64(y)
		}
		keys = append(keys, jwk)
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
