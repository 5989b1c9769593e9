package auth_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/abc-inc/timesheets/pkg/auth"
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
