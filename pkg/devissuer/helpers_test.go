package devissuer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/devissuer"
)

const (
	apiAudience   = "https://timesheets.abc-inc.example/"
	otherAudience = "https://other.abc-inc.example/"
)

var allScopes = []string{"batch:upload", "create:timesheets", "read:timesheets", "delete:timesheets", "approve:timesheets"}

// testClients: a secret with characters Basic credentials must URL-encode.
var testClients = []devissuer.Client{
	{ID: "importer", Secret: "importer-secret", Scopes: []string{"batch:upload"}},
	{ID: "admin", Secret: "p@ss:w+rd/ %&=é", Scopes: allScopes},
	{ID: "other", Secret: "other-secret", Scopes: []string{"read:timesheets"}, Audiences: []string{otherAudience}},
}

// start runs a server for the test; zero fields of cfg get test defaults.
func start(t testing.TB, cfg devissuer.Config) *devissuer.Server {
	t.Helper()
	if cfg.Clients == nil {
		cfg.Clients = testClients
	}
	if cfg.Audience == "" {
		cfg.Audience = apiAudience
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := devissuer.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("Start did not return after its context ended")
		}
	})
	return s
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// postForm posts a form to the token endpoint, with Basic credentials when
// user is not nil.
func postForm(t testing.TB, s *devissuer.Server, form url.Values, user *url.Userinfo) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.TokenURL(), strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != nil {
		pw, _ := user.Password()
		req.SetBasicAuth(url.QueryEscape(user.Username()), url.QueryEscape(pw))
	}
	resp, err := httpClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func decode[T any](t testing.TB, r io.Reader) T {
	t.Helper()
	var v T
	require.NoError(t, json.NewDecoder(r).Decode(&v))
	return v
}

func getJSON[T any](t testing.TB, u string) (T, *http.Response) {
	t.Helper()
	resp, err := httpClient.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	return decode[T](t, resp.Body), resp
}

// jwksKeys is a JWKS as a resource server reads it: the key the token's kid
// names, refused when its "alg" is not the token's (RFC 7517 §4.4).
type jwksKeys struct{ set jwkset.Storage }

// Keyfunc is a jwt.Keyfunc.
func (k jwksKeys) Keyfunc(tok *jwt.Token) (any, error) {
	kid, _ := tok.Header["kid"].(string)
	jwk, err := k.set.KeyRead(context.Background(), kid)
	if err != nil {
		return nil, err
	}
	if a := jwk.Marshal().ALG; a != "" && a.String() != tok.Method.Alg() {
		return nil, fmt.Errorf("the JWK names alg %s, the token %s", a, tok.Method.Alg())
	}
	return jwk.Key(), nil
}

// jwksKeyfunc reads the JWKS the server publishes now.
func jwksKeyfunc(t testing.TB, s *devissuer.Server) jwksKeys {
	t.Helper()
	resp, err := httpClient.Get(s.JWKSURL())
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var set jwkset.JWKSMarshal
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&set))
	st, err := set.ToStorage()
	require.NoError(t, err)
	return jwksKeys{st}
}

type accessClaims struct {
	jwt.RegisteredClaims
	Scope       string   `json:"scope"`
	Permissions []string `json:"permissions"`
	AZP         string   `json:"azp"`
	GTY         string   `json:"gty"`
}

// verify checks tok against the published JWKS as a resource server would.
func verify(t testing.TB, s *devissuer.Server, tok, audience string) (*jwt.Token, *accessClaims) {
	t.Helper()
	var c accessClaims
	parsed, err := jwt.ParseWithClaims(tok, &c, jwksKeyfunc(t, s).Keyfunc,
		jwt.WithIssuer(s.Issuer()), jwt.WithAudience(audience), jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(), jwt.WithStrictDecoding(),
		jwt.WithValidMethods([]string{"RS256", "ES256", "EdDSA"}))
	require.NoError(t, err)
	return parsed, &c
}
