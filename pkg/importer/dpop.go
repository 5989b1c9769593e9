package importer

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/abc-inc/timesheets/pkg/dpop"
)

// DPoPKeyFile is the run's DPoP key in the credentials directory, when
// there is one: a PEM private key (P-256 for ES256, RSA for RS256). Without
// it the run generates an ES256 key of its own.
const DPoPKeyFile = "dpop-key.pem"

// TokenTypeDPoP is the token_type of a DPoP-bound access token (RFC 9449 §5).
const TokenTypeDPoP = "DPoP"

// DefaultDPoPAlg is the algorithm of a DPoP key made for the run: ES256,
// which every DPoP server takes (Auth0 among them).
const DefaultDPoPAlg = "ES256"

// DPoPAlgorithms are the algorithms a run's DPoP key may have (--dpop-alg).
var DPoPAlgorithms = []string{"ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA"}

// DPoP holds a run's proof-of-possession key (RFC 9449) and the latest
// nonce each server gave it (RFC 9449 §8): the token endpoint and the API
// are two servers with nonces of their own. It is safe for concurrent use.
type DPoP struct {
	Key *dpop.Key
	// Now is the clock of the proofs' iat (tests); default time.Now.
	Now func() time.Time

	mu     sync.Mutex
	nonces map[string]string // origin -> latest DPoP-Nonce
}

// NewDPoP wraps key.
func NewDPoP(key *dpop.Key) *DPoP { return &DPoP{Key: key, nonces: map[string]string{}} }

// ReadDPoPKey reads dir/dpop-key.pem; found is false when there is none.
// Each line of the key's PEM goes to redact, if set; errors never quote it.
func ReadDPoPKey(dir string, redact func(string)) (key *dpop.Key, found bool, err error) {
	p := filepath.Join(dir, DPoPKeyFile)
	b, err := os.ReadFile(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, false, nil
	case err != nil:
		return nil, false, ConfigError{fmt.Errorf("--dpop: %w", err)}
	}
	if redact != nil {
		for line := range strings.Lines(string(b)) {
			if line = strings.TrimSpace(line); !strings.HasPrefix(line, "-----") {
				redact(line)
			}
		}
	}
	if _, err := parsePrivateKey(b); err != nil {
		return nil, false, ConfigError{fmt.Errorf("--dpop: %s: %w; or remove it, and the run makes a key of its own", p, err)}
	}
	key, err = dpop.ParseKey(b)
	if err != nil {
		return nil, false, ConfigError{fmt.Errorf("--dpop: %s is not a key DPoP can use; give a P-256 or RSA private key, or remove it", p)}
	}
	return key, true, nil
}

func (d *DPoP) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// origin is the server a URL names: scheme and host (with the port).
func origin(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}

// Proof signs a proof for a request with method to rawURL: htu the URL
// without query and fragment, ath when accessToken is not empty (a request
// to a resource server, RFC 9449 §7), and the latest nonce of rawURL's
// server, if it gave one.
func (d *DPoP) Proof(method, rawURL, accessToken string) (string, error) {
	p, _, err := d.proof(method, rawURL, accessToken)
	return p, err
}

// proof is Proof that also returns the nonce it carries.
func (d *DPoP) proof(method, rawURL, accessToken string) (proof, nonce string, _ error) {
	d.mu.Lock()
	nonce = d.nonces[origin(rawURL)]
	d.mu.Unlock()
	p, err := d.Key.Proof(method, rawURL, accessToken, nonce, d.now())
	if err != nil {
		return "", "", fmt.Errorf("DPoP proof for %s %s: %w", method, redactURL(rawURL), err)
	}
	return p, nonce, nil
}

// Remember keeps the DPoP-Nonce of a response from rawURL's server, which
// a server may send with any answer (RFC 9449 §8.2): the next proofs to
// that server carry it.
func (d *DPoP) Remember(rawURL string, h http.Header) {
	if n := h.Get("DPoP-Nonce"); n != "" {
		d.mu.Lock()
		d.nonces[origin(rawURL)] = n
		d.mu.Unlock()
	}
}

// Nonce is the latest nonce of rawURL's server, "" when it gave none.
func (d *DPoP) Nonce(rawURL string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nonces[origin(rawURL)]
}

// dpopTransport adds a proof to every request (the token requests) and
// keeps the nonces the answers carry.
type dpopTransport struct {
	base http.RoundTripper
	d    *DPoP
}

func (t *dpopTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	proof, err := t.d.Proof(r.Method, r.URL.String(), "")
	if err != nil {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Header.Set("DPoP", proof)
	resp, err := t.base.RoundTrip(r)
	if err == nil {
		t.d.Remember(r.URL.String(), resp.Header)
	}
	return resp, err
}

// NotBoundError is a token endpoint's answer to a DPoP token request that
// is not a DPoP-bound token (RFC 9449 §5: token_type DPoP): the importer
// asked for a sender-constrained token and refuses a bearer one.
type NotBoundError struct {
	TokenURL  string
	TokenType string
}

func (e *NotBoundError) Error() string {
	tt := e.TokenType
	if tt == "" {
		tt = "no token_type"
	}
	return fmt.Sprintf("the authorization server (%s) answered the DPoP token request with a token of type %q, not %q: the token is not bound to the importer's key, "+
		"and the importer does not send it; let the authorization server issue DPoP-bound tokens to this client, or run without --dpop", e.TokenURL, tt, TokenTypeDPoP)
}

// DPoPAlgError is the API refusing the run's proofs for their algorithm:
// its DPoP challenge lists the algorithms it takes (RFC 9449 §7.1), and the
// key's is not among them.
type DPoPAlgError struct {
	Alg  string   // the key's
	Algs []string // the API's
}

func (e *DPoPAlgError) Error() string {
	return fmt.Sprintf("the API takes DPoP proofs signed with %s (its challenge's algs), not %s, the algorithm of the importer's key: "+
		"add %s to the ScopePolicy's algorithms, or run with --dpop-alg set to one the API takes (or a dpop-key.pem of that kind)",
		strings.Join(e.Algs, " "), e.Alg, e.Alg)
}

// isDPoPToken reports whether a token response's token_type is DPoP
// (compared case-insensitively, RFC 6749 §5.1).
func isDPoPToken(tokenType string) bool { return strings.EqualFold(tokenType, TokenTypeDPoP) }
