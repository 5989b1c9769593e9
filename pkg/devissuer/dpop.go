package devissuer

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/abc-inc/timesheets/pkg/dpop"
)

// TokenTypeDPoP is the token_type of a DPoP-bound access token (RFC 9449 §5).
const TokenTypeDPoP = "DPoP"

// DPoPProofMaxAge is how old a DPoP proof's iat may be at the token
// endpoint, with DPoPSkew either way.
const (
	DPoPProofMaxAge = time.Minute
	DPoPSkew        = 30 * time.Second
)

// dpopState is the token endpoint's DPoP verifier: the proofs' replay
// ledger and, when Config.DPoPNonce, its nonces.
type dpopState struct {
	opts   dpop.Options
	ledger *dpop.MemoryLedger
	nonces *dpop.Nonces // nil: no nonce required
}

func newDPoPState(requireNonce bool, now func() time.Time) *dpopState {
	st := &dpopState{
		opts:   dpop.Options{MaxAge: DPoPProofMaxAge, Skew: DPoPSkew, Now: now},
		ledger: dpop.NewMemoryLedger(0),
	}
	if requireNonce {
		st.nonces = &dpop.Nonces{Secret: []byte(rand.Text() + rand.Text()), Now: now}
	}
	return st
}

// DPoPAlgorithms are the proof algorithms the token endpoint accepts, as
// its discovery document lists them (dpop_signing_alg_values_supported).
func (s *Server) DPoPAlgorithms() []string { return s.dpop.opts.AllowedAlgorithms() }

// checkDPoP verifies the DPoP proof of a token request (RFC 9449 §4.3,
// §5), if it has one: exactly one DPoP header, a valid proof of a POST to
// this token endpoint (as the discovery document names it, or as the
// request reached it), a jti not seen before, and with Config.DPoPNonce a
// nonce this server issued (else use_dpop_nonce with a new DPoP-Nonce). It
// returns the proof's key thumbprint, the token's cnf.jkt; "" without a
// proof.
func (s *Server) checkDPoP(w http.ResponseWriter, r *http.Request) (string, *oauthError) {
	values := r.Header.Values("DPoP")
	switch len(values) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", s.refuseDPoP("more than one DPoP header", nil)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	var (
		p   *dpop.Proof
		err error
	)
	for _, htu := range slices.Compact([]string{s.publicURL + TokenPath, scheme + "://" + r.Host + TokenPath}) {
		p, err = dpop.Verify(values[0], http.MethodPost, htu, s.dpop.opts)
		if !errors.Is(err, &dpop.Error{Reason: dpop.ReasonURI}) {
			break
		}
	}
	if err != nil {
		return "", s.refuseDPoP("invalid DPoP proof", err)
	}
	if n := s.dpop.nonces; n != nil {
		if err := n.Check(p.Nonce); err != nil {
			w.Header().Set("DPoP-Nonce", n.Issue())
			s.log.Info("token request refused", "reason", "DPoP nonce required", "proof_nonce", p.Nonce != "")
			return "", badRequest("use_dpop_nonce", "Authorization server requires nonce in DPoP proof")
		}
	}
	if err := dpop.CheckReplay(context.Background(), s.dpop.ledger, p, s.dpop.opts); err != nil {
		return "", s.refuseDPoP("DPoP proof replayed", err)
	}
	if n := s.dpop.nonces; n != nil {
		w.Header().Set("DPoP-Nonce", n.Issue()) // the next one (RFC 9449 §8.2)
	}
	return p.JKT, nil
}

// refuseDPoP is invalid_dpop_proof (RFC 9449 §5): the description is
// dpop's fixed sentence, which never quotes the proof.
func (s *Server) refuseDPoP(reason string, err error) *oauthError {
	desc := reason
	var de *dpop.Error
	if errors.As(err, &de) {
		desc = de.Description
		s.log.Info("token request refused", "reason", reason, "dpop_reason", de.Reason)
	} else {
		if err != nil {
			desc = "the DPoP proof could not be checked"
		}
		s.log.Info("token request refused", "reason", reason)
	}
	return badRequest("invalid_dpop_proof", desc)
}
