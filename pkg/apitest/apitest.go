// Package apitest runs the real Timesheets API in-process for tests: the
// service as cmd/api assembles it (pkg/service), with a compiled ScopePolicy
// trusting a local development authorization server (pkg/devissuer), over
// SQLite in a temporary directory. Everything listens on loopback.
//
//	api := apitest.Start(t, apitest.Options{})
//	dir := api.Credentials(t, apitest.ImporterClient) // client-id, client-secret
//	dir = api.Credentials(t, apitest.ImporterKeyClient) // client-id, private-key.pem, key-id
//	... call api.URL with a token from api.TokenURL ...
//	n := api.Count(t)
package apitest

import (
	"context"
	"crypto"
	"crypto/rsa"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/devissuer"
	"github.com/abc-inc/timesheets/pkg/policy"
	"github.com/abc-inc/timesheets/pkg/service"
	"github.com/abc-inc/timesheets/pkg/store"
	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// Audience is the API identifier the test policy accepts.
const Audience = "https://timesheets.abc-inc.example/"

// Client ids of the default clients (devissuer.BuiltinClients).
const (
	ImporterClient    = devissuer.ImporterClient    // batch:upload only, like the Auth0 scenario's importer
	ImporterKeyClient = devissuer.ImporterKeyClient // the same with private_key_jwt: a key pair, no secret
	ReaderClient      = devissuer.ReaderClient      // read:timesheets only: no batch:upload
	AdminClient       = devissuer.AdminClient       // every scope
)

// AllScopes are the scopes of the sample policy.
var AllScopes = devissuer.APIScopes

// Options tune Start. The zero value is a working API.
type Options struct {
	// Clients of the authorization server; default the builtin clients
	// (importer, importer-key, reader, admin) with random secrets, and for
	// importer-key a new key pair (its private key in ClientKeys).
	Clients []devissuer.Client
	// ClientKeys are the private keys of the private_key_jwt clients among
	// Clients, by id, with their kid; Credentials writes them.
	ClientKeys map[string]ClientKey
	// TokenTTL of issued tokens; default the issuer's (1h).
	TokenTTL time.Duration
	// DPoPNonce makes the issuer demand its nonce in DPoP proofs
	// (devissuer.Config.DPoPNonce).
	DPoPNonce bool
	// Logger for the API and the issuer; default discarded.
	Logger *slog.Logger
	// DatabaseURL overrides the SQLite file in t.TempDir() (e.g. a
	// PostgreSQL URL).
	DatabaseURL string
	// EditPolicy, if set, changes the sample policy before it is enforced
	// (e.g. its dpop mode).
	EditPolicy func(*v1alpha1.ScopePolicySpec)
}

// API is a running API with its authorization server.
type API struct {
	// URL is the API's base URL (http://127.0.0.1:PORT).
	URL string
	// Issuer is the authorization server; Issuer.Issuer() is the iss URL
	// (with OIDC discovery), Issuer.TokenURL() its token endpoint.
	Issuer *devissuer.Server
	// TokenURL is the token endpoint through a counting proxy: requests to
	// it are counted by TokenRequests.
	TokenURL string
	// Store is the API's store, for assertions.
	Store timesheets.Store

	clients map[string]devissuer.Client
	keys    map[string]ClientKey

	failLeft   atomic.Int64
	passLeft   atomic.Int64 // uploads let through before failLeft applies
	retryAfter atomic.Pointer[string]
	uploads    atomic.Int64
	failed     atomic.Int64
	tokens     atomic.Int64
	inFlight   atomic.Int64
}

// Start runs the API until the test ends.
func Start(t testing.TB, o Options) *API {
	t.Helper()
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &API{clients: map[string]devissuer.Client{}, keys: map[string]ClientKey{}}
	for id, k := range o.ClientKeys {
		a.keys[id] = k
	}
	if o.Clients == nil {
		for _, c := range devissuer.BuiltinClients() {
			if c.PrivateKeyJWT {
				priv, kid, err := devissuer.NewClientKey()
				if err != nil {
					t.Fatal(err)
				}
				a.keys[c.ID] = ClientKey{Private: priv, KID: kid}
				o.Clients = append(o.Clients, devissuer.Client{ID: c.ID, Scopes: c.Scopes,
					Keys: []devissuer.ClientKey{{KID: kid, Public: priv.Public()}}})
				continue
			}
			secret, err := devissuer.NewSecret()
			if err != nil {
				t.Fatal(err)
			}
			o.Clients = append(o.Clients, devissuer.Client{ID: c.ID, Secret: secret, Scopes: c.Scopes})
		}
	}
	for _, c := range o.Clients {
		a.clients[c.ID] = c
	}

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	iss, err := devissuer.New(devissuer.Config{Audience: Audience, Clients: o.Clients, TokenTTL: o.TokenTTL, DPoPNonce: o.DPoPNonce, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	issDone := make(chan struct{})
	go func() {
		defer close(issDone)
		if err := iss.Start(ctx); err != nil {
			logger.Error("devissuer stopped", "error", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-issDone })
	a.Issuer = iss

	dbURL := o.DatabaseURL
	if dbURL == "" {
		dbURL = "sqlite://" + filepath.Join(t.TempDir(), "timesheets.db")
	}
	st, err := store.Open(ctx, dbURL, store.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a.Store = st

	spec := Policy(iss.Issuer())
	if o.EditPolicy != nil {
		o.EditPolicy(&spec)
	}
	snap, err := policy.Compile("apitest", 1, spec)
	if err != nil {
		t.Fatal(err)
	}
	// The API as cmd/api serves it.
	svc := service.New(service.Options{Store: st, Logger: logger, TokenCacheSize: 10000})
	svcDone := make(chan struct{})
	go func() { defer close(svcDone); _ = svc.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-svcDone })
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := svc.Enforce(wctx, snap); err != nil {
		t.Fatalf("apitest: %v", err)
	}
	handler := svc.Handler()

	srv := httptest.NewServer(a.faults(handler))
	t.Cleanup(srv.Close)
	a.URL = srv.URL

	issURL, _ := url.Parse(iss.URL())
	proxy := httputil.NewSingleHostReverseProxy(issURL)
	tokSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == devissuer.TokenPath {
			a.tokens.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(tokSrv.Close)
	a.TokenURL = tokSrv.URL + devissuer.TokenPath
	return a
}

// faults counts uploads and answers 503 while FailUploads says so.
func (a *API) faults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.inFlight.Add(1)
		defer a.inFlight.Add(-1)
		if r.Method == http.MethodPost && r.URL.Path == "/timesheets/upload" {
			a.uploads.Add(1)
			if a.passLeft.Add(-1) < 0 && a.failLeft.Add(-1) >= 0 {
				a.failed.Add(1)
				if ra := a.retryAfter.Load(); ra != nil && *ra != "" {
					w.Header().Set("Retry-After", *ra)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(`{"error":"unavailable","message":"the database is unavailable; retry later"}` + "\n"))
				return
			}
			if a.passLeft.Load() < 0 {
				a.failLeft.Store(0)
				a.passLeft.Store(0)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// WaitIdle waits until no request is being served. A client that gave up
// on a request (a killed run) leaves its handler running: the batch may
// still commit, so count entries only after this.
func (a *API) WaitIdle(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for a.inFlight.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("apitest: %d requests still being served after 10s", a.inFlight.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// FailUploads makes the next n upload requests answer 503 with Retry-After
// (seconds or an HTTP date; empty sends none), as the API does while its
// database is down. Nothing reaches the store for them.
func (a *API) FailUploads(n int, retryAfter string) { a.FailUploadsAfter(0, n, retryAfter) }

// FailUploadsAfter lets the next pass uploads through and makes the n after
// them answer 503, as FailUploads does.
func (a *API) FailUploadsAfter(pass, n int, retryAfter string) {
	a.retryAfter.Store(&retryAfter)
	a.failLeft.Store(int64(n))
	a.passLeft.Store(int64(pass))
}

// UploadRequests counts POST /timesheets/upload requests, failed ones included.
func (a *API) UploadRequests() int64 { return a.uploads.Load() }

// FailedUploads counts the uploads FailUploads answered with 503.
func (a *API) FailedUploads() int64 { return a.failed.Load() }

// TokenRequests counts requests to TokenURL.
func (a *API) TokenRequests() int64 { return a.tokens.Load() }

// Client returns a configured client by id.
func (a *API) Client(t testing.TB, id string) devissuer.Client {
	t.Helper()
	c, ok := a.clients[id]
	if !ok {
		t.Fatalf("apitest: no client %q", id)
	}
	return c
}

// ClientKey is a private_key_jwt client's private key and kid.
type ClientKey struct {
	Private crypto.Signer
	KID     string
}

// Credentials writes a client's credentials into a new directory, laid out
// like the mounted Kubernetes Secret, and returns it: client-id and
// client-secret, or for a private_key_jwt client client-id,
// private-key.pem and key-id.
func (a *API) Credentials(t testing.TB, id string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "credentials-"+id)
	c := a.Client(t, id)
	var err error
	if k, ok := a.keys[id]; ok && c.Secret == "" {
		err = devissuer.WriteKeyCredentials(dir, id, k.Private, k.KID)
	} else {
		err = devissuer.WriteCredentials(dir, c)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// Token gets an access token for a client with the client-credentials
// grant, straight from the issuer (not counted by TokenRequests); a
// private_key_jwt client signs a client assertion for it.
func (a *API) Token(t testing.TB, id string) string {
	t.Helper()
	c := a.Client(t, id)
	cc := clientcredentials.Config{ClientID: c.ID, ClientSecret: c.Secret, TokenURL: a.Issuer.TokenURL(),
		EndpointParams: url.Values{"audience": {Audience}}}
	if k, ok := a.keys[id]; ok && c.Secret == "" {
		cc.AuthStyle = oauth2.AuthStyleInParams
		cc.EndpointParams.Set("client_assertion_type", devissuer.ClientAssertionType)
		cc.EndpointParams.Set("client_assertion", a.assertion(t, id, k))
	}
	tok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatalf("apitest: token for %s: %v", id, err)
	}
	return tok.AccessToken
}

// assertion is a private_key_jwt client assertion for the issuer.
func (a *API) assertion(t testing.TB, id string, k ClientKey) string {
	t.Helper()
	method := jwt.SigningMethod(jwt.SigningMethodES256)
	if _, ok := k.Private.Public().(*rsa.PublicKey); ok {
		method = jwt.SigningMethodRS256
	}
	now := time.Now()
	jti, err := devissuer.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(method, jwt.MapClaims{"iss": id, "sub": id, "aud": a.Issuer.Issuer(),
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": jti})
	if k.KID != "" {
		tok.Header["kid"] = k.KID
	}
	s, err := tok.SignedString(k.Private)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Entries returns every stored entry in id order.
func (a *API) Entries(t testing.TB) []timesheets.Entry {
	t.Helper()
	var all []timesheets.Entry
	var after int64
	for {
		page, err := a.Store.List(context.Background(), timesheets.Filter{AfterID: after, Limit: timesheets.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < timesheets.MaxPageSize {
			return all
		}
		after = page[len(page)-1].ID
	}
}

// Count returns how many entries are stored.
func (a *API) Count(t testing.TB) int {
	t.Helper()
	return len(a.Entries(t))
}

// Policy is the sample ScopePolicy (config/samples) trusting issuer.
func Policy(issuer string) v1alpha1.ScopePolicySpec { return policy.Sample(issuer, Audience) }
