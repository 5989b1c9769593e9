package devissuer_test

import (
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/devissuer"
)

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Mode().Perm()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func TestWriteCredentials(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "creds", "importer")
	c := devissuer.Client{ID: "importer", Secret: "s3cret"}
	require.NoError(t, devissuer.WriteCredentials(dir, c))

	// The layout of a Kubernetes Secret mounted as a volume: one file per key.
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"client-id", "client-secret"}, names)
	assert.Equal(t, "importer", readFile(t, filepath.Join(dir, "client-id")))
	assert.Equal(t, "s3cret", readFile(t, filepath.Join(dir, "client-secret")))
	assert.Equal(t, fs.FileMode(0o700), mode(t, dir))
	assert.Equal(t, fs.FileMode(0o600), mode(t, filepath.Join(dir, "client-id")))
	assert.Equal(t, fs.FileMode(0o600), mode(t, filepath.Join(dir, "client-secret")))

	// Overwriting replaces, and an existing loose dir is tightened.
	require.NoError(t, os.Chmod(dir, 0o755))
	require.NoError(t, devissuer.WriteCredentials(dir, devissuer.Client{ID: "importer", Secret: "new"}))
	assert.Equal(t, "new", readFile(t, filepath.Join(dir, "client-secret")))
	assert.Equal(t, fs.FileMode(0o700), mode(t, dir))

	require.Error(t, devissuer.WriteCredentials(dir, devissuer.Client{ID: "importer"}))
}

func TestReadOrCreateClient(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "importer")
	c, err := devissuer.ReadOrCreateClient(dir, "importer", []string{"batch:upload"})
	require.NoError(t, err)
	assert.Equal(t, "importer", c.ID)
	assert.Equal(t, []string{"batch:upload"}, c.Scopes)
	assert.Len(t, c.Secret, 43, "32 random bytes, base64url")
	assert.Equal(t, c.Secret, readFile(t, filepath.Join(dir, "client-secret")))
	assert.Equal(t, "importer", readFile(t, filepath.Join(dir, "client-id")))
	assert.Equal(t, fs.FileMode(0o700), mode(t, dir))
	assert.Equal(t, fs.FileMode(0o600), mode(t, filepath.Join(dir, "client-secret")))

	// A restart reuses the secret; a hand-edited trailing newline is ignored.
	again, err := devissuer.ReadOrCreateClient(dir, "importer", []string{"batch:upload"})
	require.NoError(t, err)
	assert.Equal(t, c.Secret, again.Secret)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "client-secret"), []byte(c.Secret+"\n"), 0o644))
	again, err = devissuer.ReadOrCreateClient(dir, "importer", nil)
	require.NoError(t, err)
	assert.Equal(t, c.Secret, again.Secret)
	assert.Equal(t, fs.FileMode(0o600), mode(t, filepath.Join(dir, "client-secret")), "permissions tightened")

	// Another client's directory is refused; an empty secret file too.
	_, err = devissuer.ReadOrCreateClient(dir, "admin", nil)
	require.ErrorContains(t, err, `names client "importer"`)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "client-secret"), nil, 0o600))
	_, err = devissuer.ReadOrCreateClient(dir, "importer", nil)
	require.ErrorContains(t, err, "empty")

	// Another client gets another secret.
	other, err := devissuer.ReadOrCreateClient(filepath.Join(t.TempDir(), "x"), "importer", nil)
	require.NoError(t, err)
	assert.NotEqual(t, c.Secret, other.Secret)
}

func TestReadOrCreateClientConcurrent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "admin")
	secrets := make([]string, 8)
	var wg sync.WaitGroup
	for i := range secrets {
		wg.Go(func() {
			c, err := devissuer.ReadOrCreateClient(dir, "admin", nil)
			assert.NoError(t, err)
			secrets[i] = c.Secret
		})
	}
	wg.Wait()
	for _, s := range secrets {
		assert.Equal(t, secrets[0], s)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 2, "no temporary files left behind")
}

// Credentials written by one server stay valid for the next: the restart
// that `make run` does.
func TestCredentialsSurviveRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "importer")
	c, err := devissuer.ReadOrCreateClient(dir, "importer", []string{"batch:upload"})
	require.NoError(t, err)
	first := start(t, devissuer.Config{Clients: []devissuer.Client{c}})
	resp := postForm(t, first, url.Values{"grant_type": {"client_credentials"}}, url.UserPassword("importer", c.Secret))
	require.Equal(t, 200, resp.StatusCode)
	require.NoError(t, first.Close())

	// A client reading the mounted files, as the importer does.
	id := readFile(t, filepath.Join(dir, "client-id"))
	secret := readFile(t, filepath.Join(dir, "client-secret"))
	c2, err := devissuer.ReadOrCreateClient(dir, "importer", []string{"batch:upload"})
	require.NoError(t, err)
	second := start(t, devissuer.Config{Clients: []devissuer.Client{c2}})
	resp = postForm(t, second, url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}, nil)
	require.Equal(t, 200, resp.StatusCode)
}
