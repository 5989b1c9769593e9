package importer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Names of the files in the credentials directory, as the keys of the
// Kubernetes Secret mounted there.
const (
	ClientIDFile     = "client-id"
	ClientSecretFile = "client-secret"
)

// DefaultCredentialsDir is where the Helm chart mounts the importer's Secret.
const DefaultCredentialsDir = "/var/run/secrets/timesheets/importer"

// Credentials are the importer's OAuth 2.0 client credentials.
type Credentials struct {
	ClientID     string
	ClientSecret string
}

// String never shows the secret.
func (c Credentials) String() string { return "client " + c.ClientID }

// ReadCredentials reads client-id and client-secret from dir. Their trailing
// newline (as `echo` or an editor leaves) is trimmed. A missing or empty file
// is a ConfigError.
func ReadCredentials(dir string) (Credentials, error) {
	read := func(name string) (string, error) {
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "", ConfigError{fmt.Errorf("credentials: %s does not exist; mount the importer's Secret (keys %s and %s) at --credentials-dir %s", p, ClientIDFile, ClientSecretFile, dir)}
		case err != nil:
			return "", ConfigError{fmt.Errorf("credentials: %w", err)}
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", ConfigError{fmt.Errorf("credentials: %s is empty; put the client's %s in it", p, strings.ReplaceAll(name, "-", " "))}
		}
		return v, nil
	}
	id, err := read(ClientIDFile)
	if err != nil {
		return Credentials{}, err
	}
	secret, err := read(ClientSecretFile)
	if err != nil {
		return Credentials{}, err
	}
	return Credentials{ClientID: id, ClientSecret: secret}, nil
}

// ConfigError is a mistake in the importer's configuration (flags, files):
// the message says what to fix. The command exits with status 2.
type ConfigError struct{ Err error }

func (e ConfigError) Error() string { return e.Err.Error() }
func (e ConfigError) Unwrap() error { return e.Err }
