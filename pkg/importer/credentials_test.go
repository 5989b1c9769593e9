package importer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func pemOf(t *testing.T, typ string, der []byte, err error) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func credentialsDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o400); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestReadCredentialsPrivateKey(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	short, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	pkcs8 := func(k any) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		return pemOf(t, "PRIVATE KEY", der, err)
	}
	sec1 := func(k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalECPrivateKey(k)
		return pemOf(t, "EC PRIVATE KEY", der, err)
	}
	pkcs1 := pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), nil)

	for _, tc := range []struct {
		name, pem, alg string
	}{
		{"RSA PKCS#8", pkcs8(rsaKey), "RS256"},
		{"RSA PKCS#1", pkcs1, "RS256"},
		{"P-256 PKCS#8", pkcs8(ecKey), "ES256"},
		{"P-256 SEC1", sec1(ecKey), "ES256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var redacted []string
			dir := credentialsDir(t, map[string]string{ClientIDFile: "importer-key\n", PrivateKeyFile: tc.pem, KeyIDFile: "k1\n"})
			c, err := ReadCredentials(dir, func(s string) { redacted = append(redacted, s) })
			if err != nil {
				t.Fatal(err)
			}
			m, err := assertionMethod(c.PrivateKey.Public())
			if err != nil || m.Alg() != tc.alg || c.ClientID != "importer-key" || c.KeyID != "k1" || c.ClientSecret != "" || c.Method() != "private_key_jwt" {
				t.Fatalf("%+v %v %v", c, m, err)
			}
			// Every line of the key's body goes to the Redactor.
			for line := range strings.Lines(tc.pem) {
				if line = strings.TrimSpace(line); !strings.HasPrefix(line, "-----") && !slices.Contains(redacted, line) {
					t.Fatalf("line %q of the key not redacted", line)
				}
			}
			if s := c.String(); strings.Contains(s, "PRIVATE") || s != "client importer-key (private_key_jwt)" {
				t.Fatalf("String() = %q", s)
			}
		})
	}

	t.Run("key-id is optional", func(t *testing.T) {
		c, err := ReadCredentials(credentialsDir(t, map[string]string{ClientIDFile: "importer-key", PrivateKeyFile: pkcs8(ecKey)}), nil)
		if err != nil || c.KeyID != "" || c.PrivateKey == nil {
			t.Fatalf("%+v %v", c, err)
		}
	})

	keyBody := strings.Split(pkcs1, "\n")[1]
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"both a secret and a key", map[string]string{ClientIDFile: "x", ClientSecretFile: "s3cret", PrivateKeyFile: pkcs1},
			"holds both client-secret and private-key.pem; keep one"},
		{"neither", map[string]string{ClientIDFile: "x"}, "holds neither client-secret nor private-key.pem"},
		{"no client-id", map[string]string{PrivateKeyFile: pkcs1}, "client-id does not exist; mount the importer's Secret"},
		{"empty key", map[string]string{ClientIDFile: "x", PrivateKeyFile: "\n"}, "private-key.pem is empty; put the client's private key in it"},
		{"empty key-id", map[string]string{ClientIDFile: "x", PrivateKeyFile: pkcs1, KeyIDFile: ""}, "key-id is empty"},
		{"not PEM", map[string]string{ClientIDFile: "x", PrivateKeyFile: keyBody}, "not PEM"},
		{"a certificate", map[string]string{ClientIDFile: "x", PrivateKeyFile: pemOf(t, "CERTIFICATE", []byte{1, 2, 3}, nil)}, `"CERTIFICATE" is not a private key`},
		{"corrupt", map[string]string{ClientIDFile: "x", PrivateKeyFile: strings.Replace(pkcs1, keyBody, keyBody[:20]+"AAAA"+keyBody[24:], 1)}, "not a valid RSA PRIVATE KEY"},
		{"encrypted", map[string]string{ClientIDFile: "x", PrivateKeyFile: pemOf(t, "ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}, nil)}, "encrypted"},
		{"RSA 1024", map[string]string{ClientIDFile: "x", PrivateKeyFile: pkcs8(short)}, "1024 bits is too short"},
		{"P-384", map[string]string{ClientIDFile: "x", PrivateKeyFile: pkcs8(p384)}, "ES256 needs P-256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadCredentials(credentialsDir(t, tc.files), nil)
			var ce ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want a ConfigError saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), keyBody[:16]) || strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("the error %q quotes the key or secret", err)
			}
		})
	}
}
