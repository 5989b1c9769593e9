package importer

import (
	"context"
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
