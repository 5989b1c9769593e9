package auth_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/dpop"
	"github.com/abc-inc/timesheets/pkg/policy"
)

// BenchmarkVerify compares, in one run, the raw RSA-2048 verify with a
// first-seen token (full validation) and a token already verified (cache).
// make bench prints the ratios.
func BenchmarkVerify(b *testing.B) {
	is := newIssuer(b)
	keys := auth.NewKeys(auth.KeyOptions{UnknownKIDInterval: time.Hour})
	defer keys.Close()
	snap, err := policy.Compile("bench", 1, baseSpec(is))
	if err != nil {
		b.Fatal(err)
	}
	keys.Sync(snap.Issuers)
	if err := keys.WaitReady(context.Background(), snap.Issuers); err != nil {
		b.Fatal(err)
	}
	sign := func(i int) string {
		return is.sign(b, jwt.SigningMethodRS256, "rsa-1", jwt.MapClaims{
			"iss": is.iss(), "aud": audience, "sub": fmt.Sprintf("client-%d@clients", i),
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
			"scope": "batch:upload read:timesheets", "permissions": []string{"batch:upload", "read:timesheets"},
		})
	}
	tok := sign(0)
	ctx := context.Background()

	b.Run("raw-rsa2048-verify", func(b *testing.B) {
		key := is.key("rsa-1").(*rsa.PrivateKey)
		digest := sha256.Sum256([]byte("header.payload"))
		sig, _ := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
		for b.Loop() {
			if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("first-seen-token", func(b *testing.B) {
		v := auth.NewVerifier(keys, 0) // no cache: every call is a first sight
		for b.Loop() {
			if _, r := v.Verify(ctx, snap, tok); r != "" {
				b.Fatal(r)
			}
		}
	})
	b.Run("repeated-token", func(b *testing.B) {
		v := auth.NewVerifier(keys, 1000)
		v.Verify(ctx, snap, tok)
		for b.Loop() {
			if _, r := v.Verify(ctx, snap, tok); r != "" {
				b.Fatal(r)
			}
		}
	})
}

// BenchmarkCondition compares, in one run, a request through the middleware
// on a route that needs only a scope with the same request on a route that
// also has a CEL condition (the people sample's approval rule). The token
// is cached in both, so the difference is the condition's evaluation.
func BenchmarkCondition(b *testing.B) {
	is := newIssuer(b)
	keys := auth.NewKeys(auth.KeyOptions{UnknownKIDInterval: time.Hour})
	defer keys.Close()
	spec := baseSpec(is)
	spec.Routes = append(spec.Routes,
		v1alpha1.Route{Path: "/plain/{id}/approve", Methods: []string{"POST"}, Scopes: []string{"approve:timesheets"}},
		v1alpha1.Route{Path: "/people/{id}/approve", Methods: []string{"POST"}, Scopes: []string{"approve:timesheets"},
			When: `(!has(claims.gty) || claims.gty != "client-credentials") && claims.org_id == "org_abc"`})
	snap, err := policy.Compile("bench", 1, spec)
	if err != nil {
		b.Fatal(err)
	}
	keys.Sync(snap.Issuers)
	if err := keys.WaitReady(context.Background(), snap.Issuers); err != nil {
		b.Fatal(err)
	}
	holder := &policy.Holder{}
	holder.Store(snap)
	mw := (&auth.Middleware{Policy: holder, Verifier: auth.NewVerifier(keys, 1000), Logger: slog.New(slog.DiscardHandler), Realm: "bench"}).
		Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	tok := is.sign(b, jwt.SigningMethodRS256, "rsa-1", jwt.MapClaims{
		"iss": is.iss(), "aud": audience, "sub": "auth0|alice", "org_id": "org_abc",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(), "scope": "approve:timesheets",
	})
	for _, path := range []string{"/plain/7/approve", "/people/7/approve"} {
		name := map[string]string{"/plain/7/approve": "scope-only", "/people/7/approve": "scope-and-condition"}[path]
		b.Run(name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodPost, path, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			for b.Loop() {
				w := httptest.NewRecorder()
				mw.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", path, w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkDPoP compares, in one run, a request through the middleware
// with a bearer token and with a DPoP-bound token and a fresh ES256 proof
// (RFC 9449), each with a first-seen token (no cache) and a repeated one.
// The proofs are made before the timer runs; the replay ledger is the one
// in memory (the API's store ledger is measured in make bench's load run).
func BenchmarkDPoP(b *testing.B) {
	is := newIssuer(b)
	keys := auth.NewKeys(auth.KeyOptions{UnknownKIDInterval: time.Hour})
	defer keys.Close()
	spec := baseSpec(is)
	spec.Algorithms = []v1alpha1.Algorithm{"RS256", "ES256"}
	snap, err := policy.Compile("bench", 1, spec)
	if err != nil {
		b.Fatal(err)
	}
	keys.Sync(snap.Issuers)
	if err := keys.WaitReady(context.Background(), snap.Issuers); err != nil {
		b.Fatal(err)
	}
	holder := &policy.Holder{}
	holder.Store(snap)
	key, err := dpop.NewKey("ES256")
	if err != nil {
		b.Fatal(err)
	}
	claims := func(bound bool) jwt.MapClaims {
		c := jwt.MapClaims{"iss": is.iss(), "aud": audience, "sub": "client-1@clients",
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(), "scope": "read:timesheets"}
		if bound {
			c["cnf"] = map[string]any{"jkt": key.Thumbprint()}
		}
		return c
	}
	const target = "http://api.test/timesheets/7"
	for _, c := range []struct {
		name      string
		bound     bool
		cacheSize int
	}{
		{"bearer-first-seen", false, 0}, {"dpop-first-seen", true, 0},
		{"bearer-repeated", false, 1000}, {"dpop-repeated", true, 1000},
	} {
		b.Run(c.name, func(b *testing.B) {
			mw := (&auth.Middleware{Policy: holder, Verifier: auth.NewVerifier(keys, c.cacheSize), Logger: slog.New(slog.DiscardHandler), Realm: "bench",
				DPoP: &auth.DPoP{Ledger: dpop.NewMemoryLedger(1 << 22)}}).
				Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			tok := is.sign(b, jwt.SigningMethodRS256, "rsa-1", claims(c.bound))
			scheme := "Bearer "
			if c.bound {
				scheme = "DPoP "
			}
			// Proofs for the whole run, made ahead (the client's cost).
			n := b.N
			proofs := make([]string, 0, n)
			for range n {
				if !c.bound {
					break
				}
				p, err := key.Proof(http.MethodGet, target, tok, "", time.Now())
				if err != nil {
					b.Fatal(err)
				}
				proofs = append(proofs, p)
			}
			b.ResetTimer()
			for i := range n {
				req := httptest.NewRequest(http.MethodGet, target, nil)
				req.Header.Set("Authorization", scheme+tok)
				if c.bound {
					req.Header.Set("DPoP", proofs[i])
				}
				w := httptest.NewRecorder()
				mw.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	}
}
