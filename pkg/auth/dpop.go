package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/dpop"
	"github.com/abc-inc/timesheets/pkg/policy"
)

// DPoP is what the middleware needs to check DPoP proofs (RFC 9449) beyond
// the policy: where replays are remembered, the nonces' secret, and the
// API's public URL (the proofs' htu).
type DPoP struct {
	// Ledger remembers every proof's (jkt, jti) for as long as the proof
	// is valid; it must be shared by the replicas (the store), or a proof
	// replayed to another replica passes.
	Ledger dpop.Ledger
	// NonceSecret returns the secret of the server nonces (RFC 9449 §8),
	// shared by the replicas; it is asked once, when a policy first
	// requires nonces, and again after an error. Nil: a random secret of
	// this replica's own.
	NonceSecret func(ctx context.Context) ([]byte, error)
	// PublicURL is --public-url: the scheme, host and path prefix of htu
	// behind an ingress; nil: the request's own.
	PublicURL *url.URL

	mu     sync.Mutex
	nonces *dpop.Nonces
}

// DefaultMemoryLedgerSize bounds the proofs a ledger in memory remembers:
// proofs within the window past it are refused (dpop_unavailable), not
// forgotten.
const DefaultMemoryLedgerSize = 1 << 20

// htu is the URI a proof for r must name (RFC 9449 §4.3 check 9): without
// query and fragment, from the public URL when there is one.
func (d *DPoP) htu(r *http.Request) string {
	var u url.URL
	if d != nil && d.PublicURL != nil {
		u = *d.PublicURL
		u.Path = strings.TrimSuffix(u.Path, "/") + r.URL.Path
	} else {
		u = url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path}
		if r.TLS != nil {
			u.Scheme = "https"
		}
	}
	u.RawQuery, u.Fragment, u.RawPath = "", "", ""
	return u.String()
}

// nonceSource returns the nonces, reading their secret on first use.
func (d *DPoP) nonceSource(ctx context.Context) (*dpop.Nonces, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.nonces != nil {
		return d.nonces, nil
	}
	var secret []byte
	if d.NonceSecret == nil {
		// One replica's own: its nonces are good only on it.
		secret = make([]byte, 64)
		if _, err := rand.Read(secret); err != nil {
			return nil, err
		}
	} else {
		var err error
		if secret, err = d.NonceSecret(ctx); err != nil {
			return nil, err
		}
	}
	d.nonces = &dpop.Nonces{Secret: secret}
	return d.nonces, nil
}

// checkDPoP decides on the token's binding under the route's dpop mode:
// "" when the request may go on. scheme is the Authorization scheme (its
// case folded), raw the access token. A nonce to send back is set on w.
func (m *Middleware) checkDPoP(w http.ResponseWriter, r *http.Request, snap *policy.Snapshot, route *policy.Route, tok *Token, scheme, raw string) Reason {
	mode := snap.DPoPFor(route)
	isDPoP := scheme == "dpop"
	switch {
	case !isDPoP && !tok.Bound():
		if mode == v1alpha1.DPoPRequired {
			return ReasonDPoPRequired
		}
		return "" // a bearer token where bearer tokens are taken
	case mode == v1alpha1.DPoPDisabled:
		return ReasonDPoPDisabled
	case tok.boundOtherwise:
		return ReasonDPoPUnsupportedBinding
	case !isDPoP:
		return ReasonDPoPBoundAsBearer // RFC 9449 §7.2: not as a bearer token
	case !tok.Bound():
		return ReasonDPoPNotBound // RFC 9449 §7.1: the DPoP scheme needs a bound token
	}
	// RFC 9449 §4.3 check 1: exactly one DPoP header field.
	proofs := r.Header.Values("DPoP")
	if len(proofs) != 1 {
		return ReasonDPoPInvalidProof
	}
	now := m.Verifier.now()
	opts := dpop.Options{Algorithms: snap.Algorithms, MaxAge: snap.DPoPMaxAge, Skew: snap.ClockSkew, Now: func() time.Time { return now }}
	p, err := dpop.Verify(proofs[0], r.Method, m.DPoP.htu(r), opts)
	if err != nil {
		return ReasonDPoPInvalidProof
	}
	if err := p.Bind(raw, tok.jkt); err != nil {
		return ReasonDPoPProofMismatch
	}
	if snap.DPoPNonce {
		n, err := m.DPoP.nonceSource(r.Context())
		if err != nil {
			return ReasonDPoPUnavailable
		}
		// A fresh nonce with every answer (RFC 9449 §8.2), to retry with.
		w.Header().Set("DPoP-Nonce", n.Issue())
		if !n.Valid(p.Nonce) {
			return ReasonDPoPNonce
		}
	}
	// The proof is remembered as long as it could be accepted.
	var refusal *dpop.Error
	switch err := dpop.CheckReplay(r.Context(), m.DPoP.Ledger, p, opts); {
	case errors.As(err, &refusal):
		return ReasonDPoPReplay
	case err != nil:
		m.Logger.Warn("the DPoP replay ledger is unavailable; refusing the request", "error", err.Error())
		return ReasonDPoPUnavailable
	}
	return ""
}

// dpopChallenge is the DPoP challenge of RFC 9449 §7.1 with the
// algorithms the policy takes for proofs.
func dpopChallenge(snap *policy.Snapshot) string {
	if snap == nil {
		return "DPoP"
	}
	return `DPoP algs="` + strings.Join(snap.Algorithms, " ") + `"`
}
