package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/devissuer"
)

// TestDevIssuerTokens follows the README's curl walk-through: the --dev
// issuer gives the admin client a client-credentials token and alice a
// development user token, and the API under the dev policy takes both.
func TestDevIssuerTokens(t *testing.T) {
	dir := t.TempDir()
	c := config{devIssuerAddr: "127.0.0.1:0", devCredentials: dir}
	_, is, err := startDevIssuer(context.Background(), c, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- is.Start(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	require.True(t, is.UserTokens())
	s := newStackWith(t, true, "sqlite://"+filepath.Join(t.TempDir(), "ts.db"), is)

	post := func(u string, form url.Values) devissuer.TokenResponse {
		t.Helper()
		r, err := http.PostForm(u, form)
		require.NoError(t, err)
		defer r.Body.Close()
		require.Equal(t, http.StatusOK, r.StatusCode)
		var tr devissuer.TokenResponse
		require.NoError(t, json.NewDecoder(r.Body).Decode(&tr))
		return tr
	}
	id, err := os.ReadFile(filepath.Join(dir, "admin", devissuer.ClientIDFile))
	require.NoError(t, err)
	secret, err := os.ReadFile(filepath.Join(dir, "admin", devissuer.ClientSecretFile))
	require.NoError(t, err)
	admin := post(is.TokenURL(), url.Values{"grant_type": {"client_credentials"}, "audience": {devAudience},
		"client_id": {string(id)}, "client_secret": {string(secret)}})
	alice := post(is.UserTokenURL(), url.Values{"user": {"alice"}})
	bob := post(is.UserTokenURL(), url.Values{"user": {"bob"}, "step_up": {"mfa"}})

	r := s.do(t, "POST", "/timesheets", admin.AccessToken, jsonType, dayEntry)
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	r = s.do(t, "POST", "/timesheets", alice.AccessToken, jsonType,
		`{"user_id":"E-1001","date":"2021-04-01T08:00:00Z","project":"P","hours":1}`)
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	assert.Equal(t, is.Issuer()+"#sub:auth0|dev-alice", r.body["timesheet"].(map[string]any)["created_by"])
	r = s.do(t, "GET", "/timesheets", bob.AccessToken, "", "")
	assert.Equal(t, http.StatusOK, r.status, r.raw)
	r = s.do(t, "POST", "/timesheets", bob.AccessToken, jsonType, dayEntry)
	assert.Equal(t, http.StatusForbidden, r.status, "bob's token has no create:timesheets")
	assert.Contains(t, r.header.Get("WWW-Authenticate"), `error="insufficient_scope"`)
}
