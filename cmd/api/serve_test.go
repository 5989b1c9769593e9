package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"math/big"
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
	leaf := func(certPEM []byte) *x509.Certificate {
		t.Helper()
		block, _ := pem.Decode(certPEM)
		require.NotNil(t, block)
		cert, err := x509.ParseCertificate(block.Bytes)
		require.NoError(t, err)
		return cert
	}
	// served is the serial of the certificate the server presents, or nil.
	// It asserts nothing: Eventually and Never may run it after they return.
	served := func() *big.Int {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) // the test reads the certificate, trusts nothing
		if err != nil {
			return nil
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber
	}
	is := func(cert []byte) func() bool {
		want := leaf(cert).SerialNumber
		return func() bool { s := served(); return s != nil && s.Cmp(want) == 0 }
	}
	require.True(t, is(cert1)(), "the certificate read at start is served")

	cert2, key2, _, err := devissuer.ThrowawayCert("127.0.0.1")
	require.NoError(t, err)
	write(cert2, key2)
	require.Eventually(t, is(cert2), 15*time.Second, 50*time.Millisecond, "the renewed certificate is served")

	write(cert1, key2) // a certificate with another pair's key: refused
	stillCert2 := is(cert2)
	require.Never(t, func() bool { return !stillCert2() }, time.Second, 100*time.Millisecond,
		"a broken replacement keeps the last good certificate")
}
