package importer

import (
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Names of the files in the credentials directory, as the keys of the
// Kubernetes Secret mounted there: client-id and either client-secret or,
// for private_key_jwt, private-key.pem (and optionally key-id).
const (
	ClientIDFile     = "client-id"
	ClientSecretFile = "client-secret"
	PrivateKeyFile   = "private-key.pem"
	KeyIDFile        = "key-id"
)

// DefaultCredentialsDir is where the Helm chart mounts the importer's Secret.
const DefaultCredentialsDir = "/var/run/secrets/timesheets/importer"

// Credentials are the importer's OAuth 2.0 client credentials: a client
// secret (client_secret_basic or client_secret_post), or a private key that signs client
// assertions (private_key_jwt, RFC 7523 §2.2).
type Credentials struct {
	ClientID     string
	ClientSecret string
	// PrivateKey, when ClientSecret is empty, signs the client assertions:
	// RS256 for an RSA key, ES256 for a P-256 key.
	PrivateKey crypto.Signer
	// KeyID is the kid header of the assertions; empty sends none.
	KeyID string
}

// String never shows the secret or the key.
func (c Credentials) String() string { return "client " + c.ClientID + " (" + c.Method() + ")" }

// Method is how the client authenticates to the token endpoint:
// private_key_jwt with a key, else client_secret (Basic or in the form).
func (c Credentials) Method() string {
	if c.PrivateKey != nil {
		return "private_key_jwt"
	}
	return "client_secret"
}

// ReadCredentials reads client-id and either client-secret or
// private-key.pem (with key-id, optional) from dir. Their trailing newline
// (as `echo` or an editor leaves) is trimmed. A missing or empty file, both
// a secret and a key, a key that is not an RSA (2048 bits or more) or P-256
// private key in PEM: each is a ConfigError. redact, if not nil, is given
// the secret, and each line of the key's PEM. No error quotes either.
func ReadCredentials(dir string, redact func(string)) (Credentials, error) {
	layout := fmt.Sprintf("keys %s and %s, or %s and %s (private_key_jwt) with %s optional", ClientIDFile, ClientSecretFile, ClientIDFile, PrivateKeyFile, KeyIDFile)
	read := func(name string) (string, error) {
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "", ConfigError{fmt.Errorf("credentials: %s does not exist; mount the importer's Secret (%s) at --credentials-dir %s", p, layout, dir)}
		case err != nil:
			return "", ConfigError{fmt.Errorf("credentials: %w", err)}
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", ConfigError{fmt.Errorf("credentials: %s is empty; put the client's %s in it", p, strings.ReplaceAll(strings.TrimSuffix(name, ".pem"), "-", " "))}
		}
		return v, nil
	}
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, name))
		return !errors.Is(err, fs.ErrNotExist)
	}
	id, err := read(ClientIDFile)
	if err != nil {
		return Credentials{}, err
	}
	switch hasSecret, hasKey := exists(ClientSecretFile), exists(PrivateKeyFile); {
	case hasSecret && hasKey:
		return Credentials{}, ConfigError{fmt.Errorf("credentials: %s holds both %s and %s; keep one: %s for a client secret, or %s (with %s, optional) for private_key_jwt",
			dir, ClientSecretFile, PrivateKeyFile, ClientSecretFile, PrivateKeyFile, KeyIDFile)}
	case !hasSecret && !hasKey:
		return Credentials{}, ConfigError{fmt.Errorf("credentials: %s holds neither %s nor %s; mount the importer's Secret (%s) at --credentials-dir %s",
			dir, ClientSecretFile, PrivateKeyFile, layout, dir)}
	case hasSecret:
		secret, err := read(ClientSecretFile)
		if err != nil {
			return Credentials{}, err
		}
		if redact != nil {
			redact(secret)
		}
		return Credentials{ClientID: id, ClientSecret: secret}, nil
	}
	pemText, err := read(PrivateKeyFile)
	if err != nil {
		return Credentials{}, err
	}
	if redact != nil {
		for line := range strings.Lines(pemText) {
			if line = strings.TrimSpace(line); !strings.HasPrefix(line, "-----") {
				redact(line)
			}
		}
	}
	key, err := parsePrivateKey([]byte(pemText))
	if err != nil {
		return Credentials{}, ConfigError{fmt.Errorf("credentials: %s: %w", filepath.Join(dir, PrivateKeyFile), err)}
	}
	c := Credentials{ClientID: id, PrivateKey: key}
	if exists(KeyIDFile) {
		if c.KeyID, err = read(KeyIDFile); err != nil {
			return Credentials{}, err
		}
	}
	return c, nil
}

// ConfigError is a mistake in the importer's configuration (flags, files):
// the message says what to fix. The command exits with status 2.
type ConfigError struct{ Err error }

func (e ConfigError) Error() string { return e.Err.Error() }
func (e ConfigError) Unwrap() error { return e.Err }
