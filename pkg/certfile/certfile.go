// Package certfile serves a TLS certificate from PEM files that may be
// replaced while the process runs, as a Kubernetes Secret mount is when
// cert-manager renews it: no restart, and a broken replacement keeps the
// last good certificate in use.
package certfile

import (
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// CheckInterval is how often, at most, the files are looked at again.
const CheckInterval = 10 * time.Second

// Reloader holds the certificate of a cert/key file pair.
type Reloader struct {
	certFile, keyFile string
	logger            *slog.Logger
	now               func() time.Time

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     string // digest of the files cert was parsed from
	checkedAt time.Time
}

// New reads the pair once; an unreadable or mismatched pair is an error, so
// a misconfigured server fails at start rather than at its first client.
func New(certFile, keyFile string, logger *slog.Logger) (*Reloader, error) {
	if logger == nil {
		logger = slog.Default()
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile, logger: logger, now: time.Now}
	certPEM, keyPEM, stamp, err := r.readFiles()
	if err != nil {
		return nil, err
	}
	cert, err := r.parse(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	r.cert, r.stamp, r.checkedAt = cert, stamp, r.now()
	return r, nil
}

// TLSConfig is a server configuration that always presents the current
// certificate; TLS 1.2 at least.
func (r *Reloader) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
}

// GetCertificate returns the current certificate, reading the files again
// when they changed since the last look (at most once per CheckInterval).
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); now.Sub(r.checkedAt) >= CheckInterval {
		r.checkedAt = now
		if certPEM, keyPEM, stamp, err := r.readFiles(); err == nil && stamp != r.stamp {
			cert, err := r.parse(certPEM, keyPEM)
			if err != nil {
				r.logger.Error("TLS certificate files changed but cannot be used; serving the previous certificate", "error", err)
			} else {
				r.cert, r.stamp = cert, stamp
				r.logger.Info("TLS certificate reloaded", "cert_file", r.certFile, "not_after", cert.Leaf.NotAfter)
			}
		}
	}
	return r.cert, nil
}

func (r *Reloader) parse(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	return &cert, nil
}

// readFiles reads both files (through symlinks, as a Secret mount's ..data
// swap replaces them) and a digest of their contents: sizes and times can
// be equal for two certificates written in the same instant.
func (r *Reloader) readFiles() (certPEM, keyPEM []byte, stamp string, err error) {
	if certPEM, err = os.ReadFile(r.certFile); err != nil {
		return nil, nil, "", fmt.Errorf("TLS certificate: %w", err)
	}
	if keyPEM, err = os.ReadFile(r.keyFile); err != nil {
		return nil, nil, "", fmt.Errorf("TLS key: %w", err)
	}
	h := sha256.New()
	h.Write(certPEM)
	h.Write(keyPEM)
	return certPEM, keyPEM, string(h.Sum(nil)), nil
}
