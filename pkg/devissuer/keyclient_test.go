package devissuer_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/devissuer"
)

func TestReadOrCreateKeyClient(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "importer-key")
	c, err := devissuer.ReadOrCreateKeyClient(dir, "importer-key", []string{"batch:upload"})
	require.NoError(t, err)
	assert.Empty(t, c.Secret)
	require.Len(t, c.Keys, 1)
	kid, err := devissuer.KeyThumbprint(c.Keys[0].Public)
	require.NoError(t, err)
	assert.Equal(t, kid, c.Keys[0].KID, "the kid is the key's RFC 7638 thumbprint")
	assert.Equal(t, kid, readFile(t, filepath.Join(dir, "key-id")))
	assert.Equal(t, "importer-key", readFile(t, filepath.Join(dir, "client-id")))
	assert.True(t, strings.HasPrefix(readFile(t, filepath.Join(dir, "private-key.pem")), "-----BEGIN PRIVATE KEY-----\n"))
	for _, f := range []string{"client-id", "private-key.pem", "key-id"} {
		assert.Equal(t, os.FileMode(0o600), mode(t, filepath.Join(dir, f)), f)
	}
	assert.NoFileExists(t, filepath.Join(dir, "client-secret"))

	// A restart keeps the key, so the files the importer reads stay valid.
	again, err := devissuer.ReadOrCreateKeyClient(dir, "importer-key", nil)
	require.NoError(t, err)
	assert.Equal(t, c.Keys, again.Keys)

	// Its files sign an assertion the server accepts.
	s := start(t, devissuer.Config{Clients: []devissuer.Client{again}})
	block := readFile(t, filepath.Join(dir, "private-key.pem"))
	priv, err := jwt.ParseECPrivateKeyFromPEM([]byte(block))
	require.NoError(t, err)
	k := keyClient{id: "importer-key", priv: priv, kid: kid, alg: jwt.SigningMethodES256}
	resp := postForm(t, s, assertionForm(k.sign(t, k.claims(s.Issuer()), kid, nil), nil), nil)
	require.Equal(t, 200, resp.StatusCode)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "private-key.pem"), []byte("not a key"), 0o600))
	_, err = devissuer.ReadOrCreateKeyClient(dir, "importer-key", nil)
	require.ErrorContains(t, err, "delete it to generate a new key")
	_, err = devissuer.ReadOrCreateKeyClient(dir, "importer", nil)
	require.ErrorContains(t, err, `names client "importer-key"`)
}

func TestWriteKeyCredentials(t *testing.T) {
	priv, kid, err := devissuer.NewClientKey()
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "k")
	require.NoError(t, devissuer.WriteKeyCredentials(dir, "importer-key", priv, kid))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"client-id", "key-id", "private-key.pem"}, names)
	c, err := devissuer.ReadOrCreateKeyClient(dir, "importer-key", nil)
	require.NoError(t, err)
	assert.Equal(t, []devissuer.ClientKey{{KID: kid, Public: priv.Public()}}, c.Keys)
}
