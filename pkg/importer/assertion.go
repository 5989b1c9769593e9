package importer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ClientAssertionType is the client_assertion_type of private_key_jwt
// (RFC 7523 §2.2).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// AssertionLifetime is how long after its iat a client assertion expires:
// short, since it is sent at once and used once (Auth0 recommends a minute
// and accepts at most five).
const AssertionLifetime = time.Minute

// clientAssertion signs a private_key_jwt client assertion (RFC 7523 §3,
// OpenID Connect Core §9): iss and sub the client id, aud the
// authorization server (one string), iat now, exp AssertionLifetime later,
// a random 128-bit jti (the server accepts each once), and the kid header
// when the credentials name one.
func clientAssertion(c Credentials, aud string, now time.Time) (string, error) {
	method, err := assertionMethod(c.PrivateKey.Public())
	if err != nil {
		return "", err
	}
	tok := jwt.NewWithClaims(method, jwt.MapClaims{
		"iss": c.ClientID,
		"sub": c.ClientID,
		"aud": aud,
		"iat": now.Unix(),
		"exp": now.Add(AssertionLifetime).Unix(),
		"jti": newJTI(),
	})
	if c.KeyID != "" {
		tok.Header["kid"] = c.KeyID
	}
	s, err := tok.SignedString(c.PrivateKey)
	if err != nil {
		return "", errors.New("signing the client assertion failed") // never the key
	}
	return s, nil
}

func newJTI() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// assertionMethod is the algorithm of a key: RS256 for RSA of 2048 bits or
// more, ES256 for P-256.
func assertionMethod(pub crypto.PublicKey) (jwt.SigningMethod, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("an RSA key of %d bits is too short for RS256; use 2048 bits or more", k.N.BitLen())
		}
		return jwt.SigningMethodRS256, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("an EC key on %s; ES256 needs P-256 (openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256)", k.Curve.Params().Name)
		}
		return jwt.SigningMethodES256, nil
	}
	return nil, fmt.Errorf("a %T key is not supported; use RSA (RS256) or P-256 (ES256)", pub)
}

// parsePrivateKey reads an unencrypted private key from PEM: PKCS#8
// ("PRIVATE KEY"), PKCS#1 ("RSA PRIVATE KEY") or SEC1 ("EC PRIVATE KEY"),
// RSA of 2048 bits or more or P-256. Its errors never quote the key.
func parsePrivateKey(pemBytes []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("not PEM; give the private key as PEM (-----BEGIN PRIVATE KEY-----)")
	}
	if _, encrypted := block.Headers["DEK-Info"]; encrypted {
		return nil, errors.New("the key is encrypted; store it unencrypted (the Secret protects it)")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("the key is encrypted; store it unencrypted (the Secret protects it)")
	default:
		return nil, fmt.Errorf("a PEM %q is not a private key; want PRIVATE KEY (PKCS#8), RSA PRIVATE KEY or EC PRIVATE KEY", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("not a valid %s", block.Type) // x509's message is not needed, nor any byte of the key
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T key is not supported; use RSA (RS256) or P-256 (ES256)", key)
	}
	if _, err := assertionMethod(signer.Public()); err != nil {
		return nil, err
	}
	return signer, nil
}
