package devissuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
)

// NewClientKey generates the key pair of a private_key_jwt client: P-256
// (ES256), and its kid, the RFC 7638 thumbprint of the public key.
func NewClientKey() (crypto.Signer, string, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("devissuer: generate client key: %w", err)
	}
	kid, err := KeyThumbprint(priv.Public())
	if err != nil {
		return nil, "", err
	}
	return priv, kid, nil
}

// KeyThumbprint is the RFC 7638 SHA-256 thumbprint of an RSA or EC public
// key, base64url: a kid that names the key itself.
func KeyThumbprint(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return thumbprint(JWK{KTY: "RSA", N: b64.EncodeToString(k.N.Bytes()), E: b64.EncodeToString(big.NewInt(int64(k.E)).Bytes())}), nil
	case *ecdsa.PublicKey:
		e, err := k.ECDH()
		if err != nil || k.Curve != elliptic.P256() {
			return "", errors.New("devissuer: EC key not on P-256")
		}
		raw := e.Bytes() // 0x04 || X || Y, each 32 bytes
		return thumbprint(JWK{KTY: "EC", Crv: "P-256", X: b64.EncodeToString(raw[1:33]), Y: b64.EncodeToString(raw[33:])}), nil
	}
	return "", fmt.Errorf("devissuer: key type %T not supported", pub)
}

// WriteKeyCredentials writes a private_key_jwt client's files to dir as a
// mounted Secret lays them out: client-id, private-key.pem (PKCS#8) and
// key-id, each mode 0600, dir 0700 (as WriteCredentials).
func WriteKeyCredentials(dir, id string, priv crypto.Signer, kid string) error {
	if id == "" || priv == nil {
		return errors.New("devissuer: key credentials need a client ID and a key")
	}
	pemText, err := marshalPrivateKey(priv)
	if err != nil {
		return err
	}
	if err := ensureDir(dir); err != nil {
		return err
	}
	for _, f := range []struct{ name, content string }{{ClientIDFile, id}, {PrivateKeyFile, pemText}, {KeyIDFile, kid}} {
		if f.content == "" {
			continue
		}
		if err := writeFileAtomic(dir, f.name, f.content); err != nil {
			return err
		}
	}
	return nil
}

// ReadOrCreateKeyClient is ReadOrCreateClient for a private_key_jwt
// client: it keeps the client's private key in dir/private-key.pem,
// generating a P-256 key when there is none, and registers its public key
// under the kid in dir/key-id (written as the key's thumbprint when
// missing). The server never needs the private key; the client reads it.
func ReadOrCreateKeyClient(dir, id string, scopes []string) (Client, error) {
	if id == "" {
		return Client{}, errors.New("devissuer: empty client ID")
	}
	if err := ensureDir(dir); err != nil {
		return Client{}, err
	}
	if err := checkClientID(dir, id); err != nil {
		return Client{}, err
	}
	keyPath := filepath.Join(dir, PrivateKeyFile)
	pemText, err := readCredential(dir, PrivateKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		var priv crypto.Signer
		if priv, _, err = NewClientKey(); err != nil {
			return Client{}, err
		}
		if pemText, err = marshalPrivateKey(priv); err != nil {
			return Client{}, err
		}
		if err = createFileExclusive(dir, PrivateKeyFile, pemText); errors.Is(err, fs.ErrExist) {
			pemText, err = readCredential(dir, PrivateKeyFile) // another process won
		}
	} else if err == nil {
		err = os.Chmod(keyPath, 0o600)
	}
	if err != nil {
		return Client{}, fmt.Errorf("devissuer: %w", err)
	}
	pub, err := publicKeyOfPEM(pemText)
	if err != nil {
		return Client{}, fmt.Errorf("devissuer: %s: %w; delete it to generate a new key", keyPath, err)
	}
	kid, err := readCredential(dir, KeyIDFile)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && kid == "") {
		if kid, err = KeyThumbprint(pub); err == nil {
			err = writeFileAtomic(dir, KeyIDFile, kid)
		}
	}
	if err != nil {
		return Client{}, fmt.Errorf("devissuer: %w", err)
	}
	if err := writeFileAtomic(dir, ClientIDFile, id); err != nil {
		return Client{}, err
	}
	return Client{ID: id, Scopes: slices.Clone(scopes), Keys: []ClientKey{{KID: kid, Public: pub}}}, nil
}

func marshalPrivateKey(priv crypto.Signer) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("devissuer: encode private key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

// publicKeyOfPEM reads the public half of a PKCS#8 private key. Its
// errors never quote the key.
func publicKeyOfPEM(pemText string) (crypto.PublicKey, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM \"PRIVATE KEY\" (PKCS#8)")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("not a valid PKCS#8 private key")
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key type %T not supported", key)
	}
	if _, err := assertionMethod(signer.Public()); err != nil {
		return nil, err
	}
	return signer.Public(), nil
}
