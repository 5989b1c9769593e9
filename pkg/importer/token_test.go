package importer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tokenEndpoint is a fake authorization server that records token requests.
type tokenEndpoint struct {
	*httptest.Server
	expiresIn int
	status    atomic.Int32 // answer this status (with an error body) when set
	n         atomic.Int64
	mu        sync.Mutex
	forms     []url.Values
	users     []string
}

func newTokenEndpoint(t *testing.T, expiresIn int) *tokenEndpoint {
	te := &tokenEndpoint{expiresIn: expiresIn}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		n := te.n.Add(1)
		_ = r.ParseForm()
		user, _, _ := r.BasicAuth()
		if user == "" {
			user = r.PostForm.Get("client_id")
		}
		te.mu.Lock()
		te.forms = append(te.forms, r.PostForm)
		te.users = append(te.users, user)
		te.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if s := te.status.Load(); s != 0 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(int(s))
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"bad secret s3cret"}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("tok-%d", n), "token_type": "bearer", "expires_in": te.expiresIn})
	})
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"issuer":%q,"token_endpoint":%q}`, te.URL+"/", te.URL+"/oauth/token")
	})
	te.Server = httptest.NewServer(mux)
	t.Cleanup(te.Close)
	return te
}

func TestTokenSourceReusesUntilExpiry(t *testing.T) {
	te := newTokenEndpoint(t, 2)
	ts, err := NewTokenSource(context.Background(), TokenConfig{
		TokenURL: te.URL + "/oauth/token", Credentials: Credentials{ClientID: "importer", ClientSecret: "s3cret"},
		Audience: "https://api.example/", ExpiryDelta: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if tok, err := ts.Token(); err != nil || tok.AccessToken != "tok-1" || tok.Type() != "Bearer" {
			t.Fatalf("%v %v", tok, err)
		}
	}
	if ts.Fetches() != 1 {
		t.Fatalf("%d fetches; want 1", ts.Fetches())
	}
	// 2s lifetime, replaced 1s early.
	time.Sleep(1100 * time.Millisecond)
	if tok, _ := ts.Token(); tok.AccessToken != "tok-2" {
		t.Fatalf("token %s; want a new one shortly before expiry", tok.AccessToken)
	}
	// Invalidate drops only the current token.
	ts.Invalidate("tok-1")
	if tok, _ := ts.Token(); tok.AccessToken != "tok-2" {
		t.Fatal("a stale Invalidate dropped the current token")
	}
	ts.Invalidate("tok-2")
	if tok, _ := ts.Token(); tok.AccessToken != "tok-3" {
		t.Fatal("Invalidate did not drop the token")
	}
	te.mu.Lock()
	defer te.mu.Unlock()
	if f := te.forms[0]; f.Get("grant_type") != "client_credentials" || f.Get("audience") != "https://api.example/" || f.Has("resource") || te.users[0] != "importer" {
		t.Fatalf("token request %v by %q", f, te.users[0])
	}
}

func TestTokenSourceResourceAndDiscovery(t *testing.T) {
	te := newTokenEndpoint(t, 3600)
	ts, err := NewTokenSource(context.Background(), TokenConfig{
		Issuer: te.URL + "/", Credentials: Credentials{ClientID: "importer", ClientSecret: "s3cret"},
		Audience: "https://api.example/", AudienceParam: AudienceParamResource, Scopes: []string{"batch:upload"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Token(); err != nil {
		t.Fatal(err)
	}
	f := te.forms[0]
	if f.Get("resource") != "https://api.example/" || f.Has("audience") || f.Get("scope") != "batch:upload" {
		t.Fatalf("form %v", f)
	}
	if _, err := NewTokenSource(context.Background(), TokenConfig{Issuer: te.URL + "/other/"}); err == nil {
		t.Fatal("discovery accepted a document naming another issuer")
	}
}

// The discovered issuer must be the configured one exactly (OpenID Connect
// Discovery 1.0 §4.3): a missing trailing "/" is refused, and the error
// says what --issuer must be.
func TestDiscoveryIssuerExact(t *testing.T) {
	te := newTokenEndpoint(t, 3600)
	_, err := NewTokenSource(context.Background(), TokenConfig{Issuer: te.URL, Backoff: &Backoff{MaxAttempts: 1}})
	if err == nil {
		t.Fatal("discovery accepted an issuer that differs by a trailing slash")
	}
	if want := fmt.Sprintf("set --issuer to %q", te.URL+"/"); !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %s", err, want)
	}
	if te.n.Load() != 0 {
		t.Fatal("a token was requested after discovery failed")
	}
}

func TestTokenErrors(t *testing.T) {
	te := newTokenEndpoint(t, 3600)
	ts, _ := NewTokenSource(context.Background(), TokenConfig{TokenURL: te.URL + "/oauth/token", Credentials: Credentials{ClientID: "importer", ClientSecret: "s3cret"}})

	te.status.Store(http.StatusUnauthorized)
	_, err := ts.Token()
	var tokErr *TokenError
	if !errors.As(err, &tokErr) || tokErr.Code != "invalid_client" || tokErr.Status != 401 {
		t.Fatalf("%v", err)
	}
	// The error code and description are kept; the raw body is never
	// quoted (the command's Redactor hides a secret echoed anywhere).
	if msg := err.Error(); !strings.Contains(msg, "401 invalid_client: bad secret") || strings.Contains(msg, `{"error"`) {
		t.Fatalf("message %q", msg)
	}

	te.status.Store(http.StatusServiceUnavailable)
	_, err = ts.Token()
	var re *retryable
	if !errors.As(err, &re) {
		t.Fatalf("a 503 is not retryable: %v", err)
	}
}

func TestTokenSourcePrivateKeyJWT(t *testing.T) {
	te := newTokenEndpoint(t, 3600)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	creds := Credentials{ClientID: "importer-key", PrivateKey: key, KeyID: "k1"}
	tests := []struct {
		name    string
		cfg     TokenConfig
		wantAud string
	}{
		{"discovered: aud the issuer", TokenConfig{Issuer: te.URL + "/"}, te.URL + "/"},
		{"token URL: aud the token endpoint", TokenConfig{TokenURL: te.URL + "/oauth/token"}, te.URL + "/oauth/token"},
		{"aud given", TokenConfig{TokenURL: te.URL + "/oauth/token", AssertionAudience: "https://tenant.example/"}, "https://tenant.example/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Credentials, tc.cfg.Audience, tc.cfg.Now = creds, "https://api.example/", func() time.Time { return now }
			ts, err := NewTokenSource(context.Background(), tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			te.mu.Lock()
			first := len(te.forms)
			te.mu.Unlock()
			var jtis []string
			for i := range 2 {
				if _, err := ts.Token(); err != nil {
					t.Fatal(err)
				}
				ts.Invalidate(fmt.Sprintf("tok-%d", te.n.Load()))
				te.mu.Lock()
				f, user := te.forms[first+i], te.users[first+i]
				te.mu.Unlock()
				if f.Has("client_secret") || f.Get("client_assertion_type") != ClientAssertionType || user != "importer-key" ||
					f.Get("audience") != "https://api.example/" || f.Get("grant_type") != "client_credentials" {
					t.Fatalf("token request %v by %q", f, user)
				}
				var c jwt.RegisteredClaims
				tok, err := jwt.ParseWithClaims(f.Get("client_assertion"), &c, func(*jwt.Token) (any, error) { return key.Public(), nil },
					jwt.WithValidMethods([]string{"ES256"}), jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithIssuedAt(), jwt.WithExpirationRequired())
				if err != nil {
					t.Fatal(err)
				}
				if c.Issuer != "importer-key" || c.Subject != "importer-key" || len(c.Audience) != 1 || c.Audience[0] != tc.wantAud ||
					!c.IssuedAt.Equal(now) || c.ExpiresAt.Sub(now) != AssertionLifetime || len(c.ID) < 22 || tok.Header["kid"] != "k1" {
					t.Fatalf("assertion %+v, header %v; want iss = sub = the client, aud %s, exp 60s after iat, a 128-bit jti, kid k1", c, tok.Header, tc.wantAud)
				}
				if raw := strings.Split(f.Get("client_assertion"), ".")[0]; strings.Contains(raw, "=") {
					t.Fatal("the assertion is not base64url without padding")
				}
				jtis = append(jtis, c.ID)
			}
			if jtis[0] == jtis[1] {
				t.Fatal("two token requests carried the same jti")
			}
		})
	}
}

func TestTokenErrorPrivateKeyJWT(t *testing.T) {
	te := newTokenEndpoint(t, 3600)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := NewTokenSource(context.Background(), TokenConfig{TokenURL: te.URL + "/oauth/token", Credentials: Credentials{ClientID: "importer-key", PrivateKey: key}})
	te.status.Store(http.StatusUnauthorized)
	_, err = ts.Token()
	var tokErr *TokenError
	if !errors.As(err, &tokErr) || tokErr.Method != "private_key_jwt" || !strings.Contains(err.Error(), "holds the public key") || !strings.Contains(err.Error(), "--assertion-audience") {
		t.Fatalf("%v", err)
	}
	te.mu.Lock()
	defer te.mu.Unlock()
	if tok, _, err := jwt.NewParser().ParseUnverified(te.forms[0].Get("client_assertion"), jwt.MapClaims{}); err != nil || tok.Method.Alg() != "RS256" || tok.Header["kid"] != nil {
		t.Fatalf("an RSA key's assertion: %v %v; want RS256 without kid", tok, err)
	}
}
