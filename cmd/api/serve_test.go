package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/devissuer"
)

// TestTLSReload: the API presents a renewed certificate without a restart
// (as cert-manager rewrites a mounted Secret), and keeps the last good one
// when a replacement is broken.
func TestTLSReload(t *testing.T) {
	dir := t.TempDir()
	c := config{tlsCertFile: filepath.Join(dir, "tls.crt"), tlsKeyFile: filepath.Join(dir, "tls.key")}
	write := func(cert, key []byte) {
		t.Helper()
		require.NoError(t, os.WriteFile(c.tlsCertFile, cert, 0o600))
		require.NoError(t, os.WriteFile(c.tlsKeyFile, key, 0o600))
	}
	cert1, key1, _, err := devissuer.ThrowawayCert("127.0.0.1")
	require.NoError(t, err)
	write(cert1, key1)

	tlsConfig, cw, err := apiTLS(c)
	require.NoError(t, err)
	srv, err := newServer("api", "127.0.0.1:0", http.NotFoundHandler(), tlsConfig, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = cw.Start(ctx); done <- struct{}{} }()
	go func() { _ = srv.Start(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })

	addr := srv.Listener.Addr().String()
	served := func() *x509.Certificate {
		t.Helper()
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) // the test reads the certificate, trusts nothing
		require.NoError(t, err)
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0]
	}
	leaf := func(certPEM []byte) *x509.Certificate {
		t.Helper()
		block, _ := pem.Decode(certPEM)
		require.NotNil(t, block)
		cert, err := x509.ParseCertificate(block.Bytes)
		require.NoError(t, err)
		return cert
	}
	require.Equal(t, leaf(cert1).SerialNumber, served().SerialNumber)

	cert2, key2, _, err := devissuer.ThrowawayCert("127.0.0.1")
	require.NoError(t, err)
	write(cert2, key2)
	require.Eventually(t, func() bool { return served().SerialNumber.Cmp(leaf(cert2).SerialNumber) == 0 },
		15*time.Second, 50*time.Millisecond, "the renewed certificate is served")

	write(cert1, key2) // a certificate with another pair's key: refused
	require.Never(t, func() bool { return served().SerialNumber.Cmp(leaf(cert2).SerialNumber) != 0 },
		time.Second, 100*time.Millisecond, "a broken replacement keeps the last good certificate")
}
