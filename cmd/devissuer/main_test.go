package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/abc-inc/timesheets/pkg/devissuer"
	"github.com/abc-inc/timesheets/pkg/syncbuf"
)

func TestRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "creds")
	var stderr syncbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	srvc := make(chan *devissuer.Server, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen-address", "127.0.0.1:0", "--credentials-dir", dir}, &stderr,
			func(s *devissuer.Server) { srvc <- s })
	}()
	var s *devissuer.Server
	select {
	case s = <-srvc:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}

	for _, id := range []string{"importer", "admin"} {
		b, err := os.ReadFile(filepath.Join(dir, id, "client-id"))
		require.NoError(t, err)
		assert.Equal(t, id, string(b))
	}
	secret, err := os.ReadFile(filepath.Join(dir, "importer", "client-secret"))
	require.NoError(t, err)
	cc := clientcredentials.Config{ClientID: "importer", ClientSecret: string(secret), TokenURL: s.TokenURL(),
		EndpointParams: url.Values{"audience": {"https://timesheets.abc-inc.example/"}}}
	require.Eventually(t, func() bool { _, err := cc.Token(ctx); return err == nil }, 5*time.Second, 20*time.Millisecond)
	tok, err := cc.Token(ctx)
	require.NoError(t, err)

	// On loopback the built-in test users get development user tokens.
	resp, err := http.PostForm(s.UserTokenURL(), url.Values{"user": {"alice"}, "step_up": {"mfa"}})
	require.NoError(t, err)
	var ut devissuer.TokenResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ut))
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "create:timesheets read:timesheets delete:timesheets", ut.Scope)

	cancel()
	require.NoError(t, <-done)
	out := stderr.String()
	assert.Contains(t, out, "NOT for production")
	assert.Contains(t, out, s.Issuer())
	assert.Contains(t, out, filepath.Join(dir, "admin"))
	assert.Contains(t, out, "user tokens:    POST "+s.UserTokenURL())
	assert.Contains(t, out, "user alice       https://abc-inc.example/employee_id=E-1001")
	assert.NotContains(t, out, string(secret))
	assert.NotContains(t, out, tok.AccessToken)
	assert.NotContains(t, out, ut.AccessToken)
}

// TestRunTLS: with --tls-ca-out the issuer speaks https, and a client that
// trusts the written CA gets a token from it.
func TestRunTLS(t *testing.T) {
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.crt")
	ctx, cancel := context.WithCancel(context.Background())
	srvc := make(chan *devissuer.Server, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen-address", "127.0.0.1:0", "--credentials-dir", filepath.Join(dir, "creds"),
			"--tls-ca-out", caFile}, io.Discard, func(s *devissuer.Server) { srvc <- s })
	}()
	var s *devissuer.Server
	select {
	case s = <-srvc:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	require.True(t, strings.HasPrefix(s.Issuer(), "https://127.0.0.1:"), s.Issuer())

	caPEM, err := os.ReadFile(caFile)
	require.NoError(t, err)
	client, err := devissuer.TrustingClient(caPEM, "", 5*time.Second)
	require.NoError(t, err)
	secret, err := os.ReadFile(filepath.Join(dir, "creds", "importer", "client-secret"))
	require.NoError(t, err)
	cc := clientcredentials.Config{ClientID: "importer", ClientSecret: string(secret), TokenURL: s.TokenURL(),
		EndpointParams: url.Values{"audience": {"https://timesheets.abc-inc.example/"}}}
	cctx := context.WithValue(ctx, oauth2.HTTPClient, client)
	require.Eventually(t, func() bool { _, err := cc.Token(cctx); return err == nil }, 5*time.Second, 20*time.Millisecond)

	cancel()
	require.NoError(t, <-done)
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--nope"}, 2, "flag provided but not defined"},
		{[]string{"extra"}, 2, "unexpected arguments"},
		{[]string{"--log-level", "loud"}, 2, "--log-level"},
		{[]string{"--listen-address", "0.0.0.0:0"}, 1, "non-loopback"},
		{[]string{"--listen-address", ":0", "--tls-ca-out", "ca.crt"}, 2, "a specific host"},
		{[]string{"-h"}, 0, "-credentials-dir"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			args := append([]string{"--credentials-dir", t.TempDir()}, tc.args...)
			err := run(context.Background(), args, &stderr, nil)
			assert.Equal(t, tc.code, exitCode(err, &stderr))
			assert.Contains(t, stderr.String(), tc.want)
		})
	}
}
