package dpop_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/dpop"
)

// The RSA key of RFC 7638 §3.1 and its thumbprint.
const (
	rfc7638N = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiF" +
		"V4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHz" +
		"u6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJz" +
		"KnqDKgw"
	rfc7638Thumbprint = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
)

func b64int(t *testing.T, s string) *big.Int {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	require.NoError(t, err)
	return new(big.Int).SetBytes(b)
}

func TestJWKThumbprintRFC7638Example(t *testing.T) {
	pub := &rsa.PublicKey{N: b64int(t, rfc7638N), E: 65537}
	got, err := dpop.JWKThumbprint(pub)
	require.NoError(t, err)
	require.Equal(t, rfc7638Thumbprint, got)
}

// The EC key of the RFC 9449 examples (§4.2) and the cnf.jkt that §6.1 gives for it.
func TestJWKThumbprintRFC9449Example(t *testing.T) {
	x, err := base64.RawURLEncoding.DecodeString("l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs")
	require.NoError(t, err)
	y, err := base64.RawURLEncoding.DecodeString("9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA")
	require.NoError(t, err)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	require.NoError(t, err)
	got, err := dpop.JWKThumbprint(pub)
	require.NoError(t, err)
	require.Equal(t, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", got)
}

// The Ed25519 key of RFC 8037 Appendix A and its thumbprint (A.3).
func TestJWKThumbprintRFC8037Example(t *testing.T) {
	x, err := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	require.NoError(t, err)
	got, err := dpop.JWKThumbprint(ed25519.PublicKey(x))
	require.NoError(t, err)
	require.Equal(t, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", got)
}

// The access token and ath of the RFC 9449 §7.1 example.
func TestAccessTokenHashRFC9449Example(t *testing.T) {
	require.Equal(t, "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo",
		dpop.AccessTokenHash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"))
}

func decodeSegment(t *testing.T, s string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

func TestNewKeyProof(t *testing.T) {
	now := time.Unix(1700000000, 0)
	for _, tc := range []struct{ alg, want, kty string }{
		{"", "ES256", "EC"},
		{"ES256", "ES256", "EC"},
		{"ES384", "ES384", "EC"},
		{"ES512", "ES512", "EC"},
		{"RS256", "RS256", "RSA"},
		{"PS256", "PS256", "RSA"},
		{"EdDSA", "EdDSA", "OKP"},
	} {
		t.Run(tc.want+"/"+tc.alg, func(t *testing.T) {
			k, err := dpop.NewKey(tc.alg)
			require.NoError(t, err)
			require.Equal(t, tc.want, k.Alg())
			tp, err := dpop.JWKThumbprint(k.Public())
			require.NoError(t, err)
			require.Equal(t, tp, k.Thumbprint())
			require.Len(t, k.Thumbprint(), 43)

			proof, err := k.Proof("GET", "https://api.example.com/v1/entries?x=1#f", "tok", "n0nce", now)
			require.NoError(t, err)
			parts := strings.Split(proof, ".")
			require.Len(t, parts, 3)
			h := decodeSegment(t, parts[0])
			require.Equal(t, "dpop+jwt", h["typ"])
			require.Equal(t, tc.want, h["alg"])
			jwk := h["jwk"].(map[string]any)
			require.Equal(t, tc.kty, jwk["kty"])
			for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
				require.NotContains(t, jwk, m)
			}
			c := decodeSegment(t, parts[1])
			require.Equal(t, "GET", c["htm"])
			require.Equal(t, "https://api.example.com/v1/entries", c["htu"])
			require.Equal(t, float64(now.Unix()), c["iat"])
			require.Equal(t, dpop.AccessTokenHash("tok"), c["ath"])
			require.Equal(t, "n0nce", c["nonce"])
			jti, err := base64.RawURLEncoding.DecodeString(c["jti"].(string))
			require.NoError(t, err)
			require.GreaterOrEqual(t, len(jti), 16)

			// Without an access token or a nonce, neither claim.
			proof2, err := k.Proof("POST", "https://as.example.com/token", "", "", now)
			require.NoError(t, err)
			c2 := decodeSegment(t, strings.Split(proof2, ".")[1])
			require.NotContains(t, c2, "ath")
			require.NotContains(t, c2, "nonce")
			require.NotEqual(t, c["jti"], c2["jti"])
		})
	}
	_, err := dpop.NewKey("HS256")
	require.Error(t, err)
	_, err = dpop.NewKey("none")
	require.Error(t, err)
}

func TestProofRefusesBadInput(t *testing.T) {
	k, err := dpop.NewKey("ES256")
	require.NoError(t, err)
	for _, htu := range []string{"", "/relative", "https://", "::"} {
		_, err := k.Proof("GET", htu, "", "", time.Now())
		require.Error(t, err, htu)
	}
	_, err = k.Proof("", "https://api.example.com/", "", "", time.Now())
	require.Error(t, err)
}

func pemBytes(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestParseKey(t *testing.T) {
	ec256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ec384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		require.NoError(t, err)
		return pemBytes("PRIVATE KEY", der)
	}
	sec1 := func(k *ecdsa.PrivateKey) []byte {
		der, err := x509.MarshalECPrivateKey(k)
		require.NoError(t, err)
		return pemBytes("EC PRIVATE KEY", der)
	}
	for _, tc := range []struct {
		name string
		pem  []byte
		alg  string
		pub  any
	}{
		{"PKCS#8 EC P-256", pkcs8(ec256), "ES256", &ec256.PublicKey},
		{"SEC1 EC P-256", sec1(ec256), "ES256", &ec256.PublicKey},
		{"SEC1 EC P-384", sec1(ec384), "ES384", &ec384.PublicKey},
		{"PKCS#8 RSA", pkcs8(rsaKey), "RS256", &rsaKey.PublicKey},
		{"PKCS#1 RSA", pemBytes("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), "RS256", &rsaKey.PublicKey},
		{"PKCS#8 Ed25519", pkcs8(edKey), "EdDSA", edKey.Public()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := dpop.ParseKey(tc.pem)
			require.NoError(t, err)
			require.Equal(t, tc.alg, k.Alg())
			want, err := dpop.JWKThumbprint(tc.pub)
			require.NoError(t, err)
			require.Equal(t, want, k.Thumbprint())
		})
	}

	pkix, err := x509.MarshalPKIXPublicKey(&ec256.PublicKey)
	require.NoError(t, err)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		pem  []byte
	}{
		{"not PEM", []byte("not a key")},
		{"empty", nil},
		{"PUBLIC KEY", pemBytes("PUBLIC KEY", pkix)},
		{"CERTIFICATE", pemBytes("CERTIFICATE", []byte{0x30, 0x00})},
		{"ENCRYPTED PRIVATE KEY", pemBytes("ENCRYPTED PRIVATE KEY", []byte{0x30, 0x00})},
		{"OPENSSH PRIVATE KEY", pemBytes("OPENSSH PRIVATE KEY", []byte("openssh-key-v1"))},
		{"garbage PKCS#8", pemBytes("PRIVATE KEY", []byte{1, 2, 3})},
		{"EC key labelled RSA", pemBytes("RSA PRIVATE KEY", mustSEC1(t, ec256))},
		{"RSA 1024", pemBytes("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small))},
		{"EC P-224", pemBytes("EC PRIVATE KEY", mustSEC1(t, p224))},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			_, err := dpop.ParseKey(tc.pem)
			require.Error(t, err)
		})
	}
}

func mustSEC1(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k)
	require.NoError(t, err)
	return der
}
