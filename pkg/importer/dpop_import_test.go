package importer_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/apitest"
	"github.com/abc-inc/timesheets/pkg/dpop"
	"github.com/abc-inc/timesheets/pkg/importer"
	"github.com/abc-inc/timesheets/pkg/syncbuf"
)

// dpopGate stands in front of the API and checks the importer's side of
// RFC 9449 §7 on every call, apart from the API's own checks: Authorization:
// DPoP <token>, exactly one DPoP header, a proof dpop.Verify accepts for
// the request's method and URI (without query), with ath the token's hash
// and the key the token's cnf.jkt (Proof.Bind), and a jti never seen
// before. With nonce set it demands that nonce first (401 use_dpop_nonce,
// RFC 9449 §9). It forwards each good call as it came, with the gate's Host
// (the URI the proof names), so the API checks the proof too.
type dpopGate struct {
	URL   string
	nonce string

	ledger *dpop.MemoryLedger
	mu     sync.Mutex
	calls  int
	paths  []string
	jkts   map[string]bool
	nonced int // calls answered use_dpop_nonce
	errs   []string
}

func newDPoPGate(t *testing.T, api *apitest.API, nonce string) *dpopGate {
	t.Helper()
	g := &dpopGate{nonce: nonce, ledger: dpop.NewMemoryLedger(0), jkts: map[string]bool{}}
	target, _ := url.Parse(api.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, refusal := g.check(r)
		if refusal == "use_dpop_nonce" {
			w.Header().Set("WWW-Authenticate", `DPoP algs="ES256", error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`)
			w.Header().Set("DPoP-Nonce", g.nonce)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if refusal != "" {
			w.Header().Set("WWW-Authenticate", `DPoP algs="ES256", error="invalid_dpop_proof", error_description="`+refusal+`"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

// check returns the access token of a good call, or why it is refused.
func (g *dpopGate) check(r *http.Request) (token, refusal string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls++
	g.paths = append(g.paths, r.Method+" "+r.URL.Path)
	fail := func(format string, args ...any) (string, string) {
		msg := fmt.Sprintf(format, args...)
		g.errs = append(g.errs, r.Method+" "+r.URL.String()+": "+msg)
		return "", msg
	}
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if scheme != "DPoP" || tok == "" {
		return fail("Authorization scheme %q, want DPoP", scheme)
	}
	proofs := r.Header.Values("DPoP")
	if len(proofs) != 1 {
		return fail("%d DPoP headers", len(proofs))
	}
	htu := "http://" + r.Host + r.URL.Path // the request URI without query (RFC 9449 §4.3 (9))
	p, err := dpop.Verify(proofs[0], r.Method, htu, dpop.Options{})
	if err != nil {
		return fail("%v", err)
	}
	var claims struct {
		jwt.RegisteredClaims
		CNF struct {
			JKT string `json:"jkt"`
		} `json:"cnf"`
	}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &claims); err != nil || claims.CNF.JKT == "" {
		return fail("the token is not DPoP-bound (no cnf.jkt): %v", err)
	}
	if err := p.Bind(tok, claims.CNF.JKT); err != nil {
		return fail("%v", err)
	}
	if err := dpop.CheckReplay(context.Background(), g.ledger, p, dpop.Options{}); err != nil {
		return fail("%v", err)
	}
	if g.nonce != "" && p.Nonce != g.nonce {
		g.nonced++
		return "", "use_dpop_nonce"
	}
	g.jkts[p.JKT] = true
	return tok, ""
}

func (g *dpopGate) errors() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.errs...)
}

func TestDPoP(t *testing.T) {
	path := writeFile(t, filepath.Join(t.TempDir(), "e.csv"), csvOf(genRows(50, "")))

	t.Run("a bound token, every call with a proof", func(t *testing.T) {
		api := apitest.Start(t, apitest.Options{EditPolicy: withES256})
		gate := newDPoPGate(t, api, "")
		logs := &syncbuf.Buffer{}
		cfg := config(t, api, path, logs)
		cfg.APIURL, cfg.DPoP, cfg.BatchSize = gate.URL, true, 10
		s := run(t, cfg)
		wantSummary(t, s, 50, 50, 0, 0, 0)
		if errs := gate.errors(); len(errs) > 0 || gate.calls < 5 || len(gate.jkts) != 1 {
			t.Fatalf("%d calls, keys %v, refusals %v; want every upload proven with one key", gate.calls, gate.jkts, errs)
		}
		if rec := records(logs, "DPoP: tokens are bound to a key, and every call proves it"); len(rec) != 1 || !gate.jkts[rec[0]["jkt"].(string)] || rec[0]["key"] != "generated for this run" {
			t.Fatalf("log records %v", rec)
		}
	})

	t.Run("with private_key_jwt and a key from the credentials dir", func(t *testing.T) {
		api := apitest.Start(t, apitest.Options{EditPolicy: withES256})
		gate := newDPoPGate(t, api, "")
		cfg := config(t, api, path, &syncbuf.Buffer{})
		cfg.APIURL, cfg.DPoP = gate.URL, true
		cfg.CredentialsDir, cfg.TokenURL, cfg.Issuer = api.Credentials(t, apitest.ImporterKeyClient), "", api.Issuer.Issuer()
		key, err := dpop.NewKey("ES256")
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(cfg.CredentialsDir, importer.DPoPKeyFile), pkcs8PEM(t, key))
		s := run(t, cfg)
		wantSummary(t, s, 50, 50, 0, 0, 0)
		if errs := gate.errors(); len(errs) > 0 || !gate.jkts[key.Thumbprint()] || len(gate.jkts) != 1 {
			t.Fatalf("keys %v, refusals %v; want every call proven with the key of dpop-key.pem", gate.jkts, errs)
		}
	})

	t.Run("use_dpop_nonce from the API: once more with its nonce", func(t *testing.T) {
		api := apitest.Start(t, apitest.Options{EditPolicy: withES256})
		gate := newDPoPGate(t, api, "api-nonce-1")
		cfg := config(t, api, path, &syncbuf.Buffer{})
		cfg.APIURL, cfg.DPoP, cfg.BatchSize, cfg.InFlight = gate.URL, true, 10, 1
		before := api.TokenRequests()
		s := run(t, cfg)
		wantSummary(t, s, 50, 50, 0, 0, 0)
		if errs := gate.errors(); len(errs) > 0 || gate.nonced != 1 || gate.calls != 6 {
			t.Fatalf("%d calls, %d asked for the nonce, refusals %v; want 5 uploads and one nonce challenge", gate.calls, gate.nonced, errs)
		}
		if api.TokenRequests()-before != 1 {
			t.Fatal("a nonce challenge fetched a new token")
		}
	})

	t.Run("use_dpop_nonce from the token endpoint: once more with its nonce", func(t *testing.T) {
		api := apitest.Start(t, apitest.Options{DPoPNonce: true, EditPolicy: withES256})
		gate := newDPoPGate(t, api, "")
		cfg := config(t, api, path, &syncbuf.Buffer{})
		cfg.APIURL, cfg.DPoP = gate.URL, true
		s := run(t, cfg)
		wantSummary(t, s, 50, 50, 0, 0, 0)
		if n := api.TokenRequests(); n != 2 {
			t.Fatalf("%d token requests; want 2: the refusal asking for a nonce, then the one with it", n)
		}
		// The same with private_key_jwt: the second request signs a new assertion.
		cfg = config(t, api, path, &syncbuf.Buffer{})
		cfg.APIURL, cfg.DPoP, cfg.AssertionAudience = gate.URL, true, api.Issuer.Issuer()
		cfg.CredentialsDir = api.Credentials(t, apitest.ImporterKeyClient)
		cfg.SourceName = "contractor-tool-2" // the other client's keys are its own
		s = run(t, cfg)
		wantSummary(t, s, 50, 50, 0, 0, 0)
		if n := api.TokenRequests(); n != 4 {
			t.Fatalf("%d token requests; want 4", n)
		}
		if errs := gate.errors(); len(errs) > 0 {
			t.Fatal(errs)
		}
	})

	t.Run("the API requires DPoP and its nonce", func(t *testing.T) {
		api := apitest.Start(t, apitest.Options{EditPolicy: func(s *v1alpha1.ScopePolicySpec) {
			withES256(s)
			s.DPoP = v1alpha1.DPoPRequired
			s.DPoPProofs = &v1alpha1.DPoPProofs{RequireNonce: true}
		}})
		logs := &syncbuf.Buffer{}
		cfg := config(t, api, path, logs)
		cfg.DPoP, cfg.BatchSize, cfg.InFlight = true, 10, 1
		before := api.UploadRequests()
		s := run(t, cfg)
		wantSummary(t, s, 50, 50, 0, 0, 0)
		if n := api.UploadRequests() - before; n != 6 {
			t.Fatalf("%d upload requests; want 6: one answered use_dpop_nonce, then five with the nonce", n)
		}

		// A bearer token is refused there.
		cfg = config(t, api, path, &syncbuf.Buffer{})
		if s := run(t, cfg); s.ExitCode() != importer.ExitFailed || s.Created != 0 {
			t.Fatalf("a bearer run against a DPoP-only API: exit %d, %q", s.ExitCode(), s.Line())
		}
	})

	t.Run("the API takes RS256 proofs only", func(t *testing.T) {
		api := apitest.Start(t, apitest.Options{}) // the sample policy: RS256
		cfg := config(t, api, path, &syncbuf.Buffer{})
		cfg.DPoP = true
		s := run(t, cfg)
		var ae *importer.DPoPAlgError
		if !errors.As(s.Err, &ae) || ae.Alg != "ES256" || !strings.Contains(s.Err.Error(), "add ES256 to the ScopePolicy's algorithms") || s.ExitCode() != importer.ExitFailed {
			t.Fatalf("err %v, exit %d; want a DPoPAlgError saying what to fix", s.Err, s.ExitCode())
		}
		cfg.DPoPAlg = "RS256"
		wantSummary(t, run(t, cfg), 50, 50, 0, 0, 0)
	})

	t.Run("a bearer token is refused", func(t *testing.T) {
		api := apitest.Start(t, apitest.Options{EditPolicy: withES256})
		bearer := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"access_token":"`+api.Token(t, apitest.ImporterClient)+`","token_type":"Bearer","expires_in":3600}`)
		}))
		cfg := config(t, api, path, &syncbuf.Buffer{})
		cfg.TokenURL, cfg.DPoP = bearer+"/oauth/token", true
		s := run(t, cfg)
		var nb *importer.NotBoundError
		if !errors.As(s.Err, &nb) || s.ExitCode() != importer.ExitFailed || s.Read != 0 {
			t.Fatalf("err %v, exit %d, read %d; want a NotBoundError, 1, nothing read", s.Err, s.ExitCode(), s.Read)
		}
		if api.UploadRequests() != 0 {
			t.Fatal("the importer sent a bearer token it did not ask for")
		}
	})

	t.Run("without --dpop, Bearer as before", func(t *testing.T) {
		api := apitest.Start(t, apitest.Options{EditPolicy: withES256})
		gate := newDPoPGate(t, api, "")
		cfg := config(t, api, path, &syncbuf.Buffer{})
		cfg.APIURL = gate.URL
		s := run(t, cfg)
		if s.Err == nil || len(gate.errors()) == 0 || !strings.Contains(gate.errors()[0], `scheme "Bearer"`) {
			t.Fatalf("err %v, gate %v: the gate should see a bearer token", s.Err, gate.errors())
		}
	})
}

func pkcs8PEM(t *testing.T, k *dpop.Key) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k.Signer())
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// withES256 lets the API take ES256, the importer's DPoP proofs, besides
// the sample policy's RS256.
func withES256(s *v1alpha1.ScopePolicySpec) { s.Algorithms = []v1alpha1.Algorithm{"RS256", "ES256"} }

// ecPEM is a new P-256 key in PKCS#8 PEM.
func ecPEM(t *testing.T) string {
	t.Helper()
	k, err := dpop.NewKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	return pkcs8PEM(t, k)
}
