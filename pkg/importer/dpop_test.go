package importer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/abc-inc/timesheets/pkg/dpop"
)

func TestChallenge(t *testing.T) {
	h := []string{`Bearer realm="timesheets", error="invalid_token"`, `DPoP algs="ES256 RS256", error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`}
	p, ok := challenge(h, "dpop")
	if !ok || p["error"] != "use_dpop_nonce" || p["algs"] != "ES256 RS256" || !strings.Contains(p["error_description"], "requires nonce") {
		t.Fatalf("%v %v", p, ok)
	}
	if p, ok := challenge(h, "Bearer"); !ok || p["error"] != "invalid_token" || p["realm"] != "timesheets" || p["algs"] != "" {
		t.Fatalf("%v", p)
	}
	// Two challenges in one value (RFC 9110 §11.6.1).
	p, ok = challenge([]string{`Bearer realm="a", DPoP error="use_dpop_nonce",algs=ES256`}, "DPoP")
	if !ok || p["error"] != "use_dpop_nonce" || p["algs"] != "ES256" {
		t.Fatalf("%v %v", p, ok)
	}
	if p, ok := challenge([]string{`Bearer, DPoP algs="ES256"`}, "DPoP"); !ok || p["algs"] != "ES256" {
		t.Fatalf("%v %v", p, ok)
	}
	if _, ok := challenge([]string{`Bearer realm="a"`}, "DPoP"); ok {
		t.Fatal("a DPoP challenge found where there is none")
	}
}

// dpopTokenEndpoint is a token endpoint that checks DPoP proofs with
// dpop.Verify and answers as told: "dpop" a DPoP token, "bearer" a bearer
// token (an authorization server that ignores DPoP), "nonce" a DPoP token
// once the proof carries its nonce (RFC 9449 §8), "nonce-always" asks for
// a new nonce every time.
type dpopTokenEndpoint struct {
	*httptest.Server
	mode string

	mu      sync.Mutex
	proofs  []*dpop.Proof
	users   []string
	refused []error
	issued  int
}

func newDPoPTokenEndpoint(t *testing.T, mode string) *dpopTokenEndpoint {
	te := &dpopTokenEndpoint{mode: mode}
	te.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		te.mu.Lock()
		defer te.mu.Unlock()
		user, _, _ := r.BasicAuth()
		te.users = append(te.users, user)
		w.Header().Set("Content-Type", "application/json")
		p, err := dpop.Verify(r.Header.Get("DPoP"), http.MethodPost, te.URL+"/oauth/token", dpop.Options{})
		if err != nil {
			te.refused = append(te.refused, err)
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_dpop_proof","error_description":"bad proof"}`)
			return
		}
		te.proofs = append(te.proofs, p)
		want := fmt.Sprintf("n-%d", len(te.proofs))
		if (te.mode == "nonce" && p.Nonce != "n-1") || te.mode == "nonce-always" {
			w.Header().Set("DPoP-Nonce", want)
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"use_dpop_nonce","error_description":"Authorization server requires nonce in DPoP proof"}`)
			return
		}
		te.issued++
		tt := "DPoP"
		if te.mode == "bearer" {
			tt = "Bearer"
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("tok-%d", te.issued), "token_type": tt, "expires_in": 3600})
	}))
	t.Cleanup(te.Close)
	return te
}

func newTestDPoP(t *testing.T) *DPoP {
	t.Helper()
	k, err := dpop.NewKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	return NewDPoP(k)
}

func TestTokenSourceDPoP(t *testing.T) {
	creds := Credentials{ClientID: "importer", ClientSecret: "s3cret"}
	t.Run("a bound token, a proof with the request", func(t *testing.T) {
		te := newDPoPTokenEndpoint(t, "dpop")
		d := newTestDPoP(t)
		ts, err := NewTokenSource(context.Background(), TokenConfig{TokenURL: te.URL + "/oauth/token", Credentials: creds, DPoP: d})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ts.Token()
		if err != nil || tok.TokenType != "DPoP" {
			t.Fatalf("%v %v", tok, err)
		}
		if len(te.proofs) != 1 || te.proofs[0].JKT != d.Key.Thumbprint() || te.proofs[0].ATH != "" || te.users[0] != "importer" {
			t.Fatalf("proofs %+v by %v: want one of the run's key, without ath, with Basic credentials", te.proofs, te.users)
		}
	})
	t.Run("a bearer answer is refused", func(t *testing.T) {
		te := newDPoPTokenEndpoint(t, "bearer")
		ts, _ := NewTokenSource(context.Background(), TokenConfig{TokenURL: te.URL + "/oauth/token", Credentials: creds, DPoP: newTestDPoP(t)})
		_, err := ts.Token()
		var nb *NotBoundError
		if !errors.As(err, &nb) || nb.TokenType != "Bearer" || !strings.Contains(err.Error(), "not bound to the importer's key") || !strings.Contains(err.Error(), "--dpop") {
			t.Fatalf("%v; want a NotBoundError", err)
		}
		if !isFatal(err) {
			t.Fatal("a NotBoundError does not end the run")
		}
		var re *retryable
		if errors.As(err, &re) {
			t.Fatal("a NotBoundError is retried")
		}
	})
	t.Run("use_dpop_nonce: once more with the nonce", func(t *testing.T) {
		te := newDPoPTokenEndpoint(t, "nonce")
		d := newTestDPoP(t)
		ts, _ := NewTokenSource(context.Background(), TokenConfig{TokenURL: te.URL + "/oauth/token", Credentials: creds, DPoP: d})
		if tok, err := ts.Token(); err != nil || tok.TokenType != "DPoP" {
			t.Fatalf("%v %v", tok, err)
		}
		if len(te.proofs) != 2 || te.proofs[0].Nonce != "" || te.proofs[1].Nonce != "n-1" || te.proofs[0].JTI == te.proofs[1].JTI || ts.Fetches() != 2 {
			t.Fatalf("proofs %+v, %d fetches: want a second, new proof with the nonce", te.proofs, ts.Fetches())
		}
		if d.Nonce(te.URL+"/oauth/token") != "n-1" {
			t.Fatal("the nonce was not kept for the token endpoint")
		}
	})
	t.Run("use_dpop_nonce twice: refused", func(t *testing.T) {
		te := newDPoPTokenEndpoint(t, "nonce-always")
		ts, _ := NewTokenSource(context.Background(), TokenConfig{TokenURL: te.URL + "/oauth/token", Credentials: creds, DPoP: newTestDPoP(t)})
		_, err := ts.Token()
		var tokErr *TokenError
		if !errors.As(err, &tokErr) || tokErr.Code != "use_dpop_nonce" || len(te.proofs) != 2 {
			t.Fatalf("%v after %d proofs; want a TokenError after 2", err, len(te.proofs))
		}
	})
}

func TestReadDPoPKey(t *testing.T) {
	dir := t.TempDir()
	if _, found, err := ReadDPoPKey(dir, nil); found || err != nil {
		t.Fatalf("%v %v", found, err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(ec)
	sec1 := pemOf(t, "EC PRIVATE KEY", der, err)
	if err := os.WriteFile(filepath.Join(dir, DPoPKeyFile), []byte(sec1), 0o400); err != nil {
		t.Fatal(err)
	}
	var redacted []string
	k, found, err := ReadDPoPKey(dir, func(s string) { redacted = append(redacted, s) })
	if err != nil || !found || k.Alg() != "ES256" {
		t.Fatalf("%v %v %v", k, found, err)
	}
	if jkt, _ := dpop.JWKThumbprint(ec.Public()); k.Thumbprint() != jkt {
		t.Fatal("not the key in the file")
	}
	if len(redacted) != len(strings.Split(strings.TrimSpace(sec1), "\n"))-2 {
		t.Fatalf("%d lines redacted", len(redacted))
	}
	for _, tc := range []struct {
		name, content, want string
	}{
		{"not PEM", "garbage", "not PEM"},
		{"a certificate", pemOf(t, "CERTIFICATE", []byte{1}, nil), "not a private key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := credentialsDir(t, map[string]string{DPoPKeyFile: tc.content})
			_, _, err := ReadDPoPKey(d, nil)
			var ce ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--dpop") {
				t.Fatalf("%v; want a ConfigError saying %q", err, tc.want)
			}
		})
	}
}
