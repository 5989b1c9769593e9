package devissuer

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Names of the credential files, the keys of a Kubernetes Secret mounted as
// a volume.
const (
	ClientIDFile     = "client-id"
	ClientSecretFile = "client-secret"
	// A private_key_jwt client's files, instead of the secret: its private
	// key (PKCS#8 PEM) and the kid its assertions name.
	PrivateKeyFile = "private-key.pem"
	KeyIDFile      = "key-id"
)

// WriteCredentials writes c's ID and secret to dir/client-id and
// dir/client-secret (mode 0600, no trailing newline), creating dir with mode
// 0700 and tightening an existing dir to 0700. Files are replaced
// atomically.
func WriteCredentials(dir string, c Client) error {
	if c.ID == "" || c.Secret == "" {
		return errors.New("devissuer: credentials need a client ID and a secret")
	}
	if err := ensureDir(dir); err != nil {
		return err
	}
	if err := writeFileAtomic(dir, ClientIDFile, c.ID); err != nil {
		return err
	}
	return writeFileAtomic(dir, ClientSecretFile, c.Secret)
}

// ReadOrCreateClient returns the client id with scopes and the secret kept
// in dir, so a restart keeps issued credentials valid. Without a secret file
// it generates a random 32-byte secret and writes the credentials as
// WriteCredentials does. Concurrent callers on one dir end up with the same
// secret. It fails when dir/client-id names another client or the secret
// file is empty.
func ReadOrCreateClient(dir, id string, scopes []string) (Client, error) {
	if id == "" {
		return Client{}, errors.New("devissuer: empty client ID")
	}
	if err := ensureDir(dir); err != nil {
		return Client{}, err
	}
	c := Client{ID: id, Scopes: slices.Clone(scopes)}
	if err := checkClientID(dir, id); err != nil {
		return Client{}, err
	}

	secret, err := readCredential(dir, ClientSecretFile)
	if errors.Is(err, fs.ErrNotExist) {
		if secret, err = NewSecret(); err != nil {
			return Client{}, err
		}
		if err = createFileExclusive(dir, ClientSecretFile, secret); errors.Is(err, fs.ErrExist) {
			secret, err = readCredential(dir, ClientSecretFile) // another process won
		}
	} else if err == nil {
		err = os.Chmod(filepath.Join(dir, ClientSecretFile), 0o600)
	}
	if err != nil {
		return Client{}, fmt.Errorf("devissuer: %w", err)
	}
	if secret == "" {
		return Client{}, fmt.Errorf("devissuer: %s is empty; delete it to generate a new secret", filepath.Join(dir, ClientSecretFile))
	}
	c.Secret = secret
	if err := writeFileAtomic(dir, ClientIDFile, id); err != nil {
		return Client{}, err
	}
	return c, nil
}

// checkClientID fails when dir/client-id names another client.
func checkClientID(dir, id string) error {
	switch old, err := readCredential(dir, ClientIDFile); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case old != id:
		return fmt.Errorf("devissuer: %s names client %q, not %q", filepath.Join(dir, ClientIDFile), old, id)
	}
	return nil
}

// NewSecret returns a random 32-byte secret, base64url without padding (43
// characters that need no escaping in a form or Basic header).
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("devissuer: credentials dir: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("devissuer: credentials dir: %w", err)
	}
	return nil
}

// readCredential reads a credential file; surrounding whitespace (an
// editor's newline) is dropped.
func readCredential(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// tempFile writes content to a new 0600 file in dir and returns its path.
func tempFile(dir, name, content string) (string, error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.WriteString(content)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

func writeFileAtomic(dir, name, content string) error {
	tmp, err := tempFile(dir, name, content)
	if err != nil {
		return fmt.Errorf("devissuer: write %s: %w", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("devissuer: write %s: %w", name, err)
	}
	return nil
}

// createFileExclusive creates dir/name with content, complete or not at
// all; it fails with fs.ErrExist when the file exists.
func createFileExclusive(dir, name, content string) error {
	tmp, err := tempFile(dir, name, content)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	return os.Link(tmp, filepath.Join(dir, name))
}
