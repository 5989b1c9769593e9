package devissuer_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/devissuer"
)

type jwks struct {
	Keys []map[string]any `json:"keys"`
}

func kids(set jwks) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k["kid"].(string))
	}
	return out
}

func TestURLs(t *testing.T) {
	s := start(t, devissuer.Config{})
	u, err := url.Parse(s.URL())
	require.NoError(t, err)
	assert.Equal(t, "http", u.Scheme)
	assert.Equal(t, "127.0.0.1", u.Hostname())
	assert.NotEqual(t, "0", u.Port())
	assert.Equal(t, s.URL()+"/", s.Issuer())
	assert.Equal(t, s.URL()+"/.well-known/jwks.json", s.JWKSURL())
	assert.Equal(t, s.URL()+"/oauth/token", s.TokenURL())
	assert.True(t, s.Loopback())
}

func TestJWKS(t *testing.T) {
	for _, alg := range devissuer.SupportedAlgorithms {
		t.Run(alg, func(t *testing.T) {
			s := start(t, devissuer.Config{Algorithm: alg})
			set, resp := getJSON[jwks](t, s.JWKSURL())
			assert.Equal(t, "public, max-age=300", resp.Header.Get("Cache-Control"))
			require.Len(t, set.Keys, 1)
			k := set.Keys[0]
			assert.Equal(t, s.KID(), k["kid"])
			assert.Equal(t, alg, k["alg"])
			assert.Equal(t, "sig", k["use"])
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
				assert.NotContains(t, k, private, "private key material published")
			}
			switch alg {
			case "RS256":
				assert.Equal(t, "RSA", k["kty"])
				assert.Equal(t, "AQAB", k["e"])
			case "ES256":
				assert.Equal(t, "EC", k["kty"])
				assert.Equal(t, "P-256", k["crv"])
			case "EdDSA":
				assert.Equal(t, "OKP", k["kty"])
				assert.Equal(t, "Ed25519", k["crv"])
			}

			// A token from the endpoint verifies with the JWKS alone.
			resp2 := postForm(t, s, url.Values{"grant_type": {"client_credentials"}}, url.UserPassword("importer", "importer-secret"))
			require.Equal(t, 200, resp2.StatusCode)
			parsed, _ := verify(t, s, decode[devissuer.TokenResponse](t, resp2.Body).AccessToken, apiAudience)
			assert.Equal(t, alg, parsed.Method.Alg())

			pub, ok := s.PublicKey(s.KID())
			require.True(t, ok)
			switch alg {
			case "RS256":
				assert.IsType(t, &rsa.PublicKey{}, pub)
			case "ES256":
				assert.IsType(t, &ecdsa.PublicKey{}, pub)
			case "EdDSA":
				assert.IsType(t, ed25519.PublicKey{}, pub)
			}
		})
	}
}

func TestJWKSMethods(t *testing.T) {
	s := start(t, devissuer.Config{})
	resp, err := httpClient.Post(s.JWKSURL(), "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	resp, err = httpClient.Head(s.JWKSURL())
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, err = httpClient.Get(s.URL() + "/nope")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestDiscovery(t *testing.T) {
	s := start(t, devissuer.Config{})
	for _, path := range []string{devissuer.DiscoveryPath, devissuer.ASMetadataPath} {
		doc, _ := getJSON[map[string]any](t, s.URL()+path)
		assert.Equal(t, s.Issuer(), doc["issuer"])
		assert.Equal(t, s.JWKSURL(), doc["jwks_uri"])
		assert.Equal(t, s.TokenURL(), doc["token_endpoint"])
		assert.Equal(t, []any{"client_credentials"}, doc["grant_types_supported"])
		assert.ElementsMatch(t, []any{"client_secret_basic", "client_secret_post", "private_key_jwt"}, doc["token_endpoint_auth_methods_supported"])
		assert.Equal(t, []any{"RS256", "ES256"}, doc["token_endpoint_auth_signing_alg_values_supported"])
		assert.Equal(t, []any{"RS256"}, doc["id_token_signing_alg_values_supported"])
		assert.Subset(t, doc["scopes_supported"], []any{"batch:upload", "approve:timesheets"})
		// The OIDC rule resource servers apply: discovery lives under the issuer.
		assert.Equal(t, strings.TrimSuffix(s.Issuer(), "/")+devissuer.DiscoveryPath, s.DiscoveryURL())
	}

	// The endpoints it names work: the JWKS verifies a token from its token endpoint.
	doc := s.Discovery()
	resp := postForm(t, s, url.Values{"grant_type": {"client_credentials"}}, url.UserPassword("importer", "importer-secret"))
	require.Equal(t, doc.TokenEndpoint, s.TokenURL())
	require.Equal(t, 200, resp.StatusCode)
	verify(t, s, decode[devissuer.TokenResponse](t, resp.Body).AccessToken, apiAudience)
}

func TestCustomIssuer(t *testing.T) {
	s := start(t, devissuer.Config{Issuer: "http://devissuer.dev.svc:9443/"})
	assert.Equal(t, "http://devissuer.dev.svc:9443/", s.Issuer())
	doc := s.Discovery()
	assert.Equal(t, "http://devissuer.dev.svc:9443/.well-known/jwks.json", doc.JWKSURI)
	assert.Equal(t, "http://devissuer.dev.svc:9443/oauth/token", doc.TokenEndpoint)
	resp := postForm(t, s, url.Values{"grant_type": {"client_credentials"}}, url.UserPassword("importer", "importer-secret"))
	require.Equal(t, 200, resp.StatusCode)
	_, c := verify(t, s, decode[devissuer.TokenResponse](t, resp.Body).AccessToken, apiAudience)
	assert.Equal(t, "http://devissuer.dev.svc:9443/", c.Issuer)
}

func TestKeyRotationAndRemoval(t *testing.T) {
	s := start(t, devissuer.Config{})
	first := s.KID()
	oldTok, err := s.Mint(s.Claims("importer", apiAudience, []string{"batch:upload"}))
	require.NoError(t, err)

	second, err := s.RotateKey()
	require.NoError(t, err)
	assert.NotEqual(t, first, second)
	assert.Equal(t, second, s.KID())
	set, _ := getJSON[jwks](t, s.JWKSURL())
	assert.Equal(t, []string{second, first}, kids(set), "the new key is published, the old one kept")

	// Tokens signed before and after the rotation both verify.
	verify(t, s, oldTok, apiAudience)
	newTok, err := s.Mint(s.Claims("importer", apiAudience, nil))
	require.NoError(t, err)
	parsed, _ := verify(t, s, newTok, apiAudience)
	assert.Equal(t, second, parsed.Header["kid"])

	s.RemoveKey(first)
	set, _ = getJSON[jwks](t, s.JWKSURL())
	assert.Equal(t, []string{second}, kids(set))
	_, err = jwt.Parse(oldTok, jwksKeyfunc(t, s).Keyfunc)
	require.Error(t, err, "a token of a removed key must not verify")
	verify(t, s, newTok, apiAudience)

	// Removing every key leaves the token endpoint failing, until a rotation.
	s.RemoveKey(second)
	s.RemoveKey("no-such-kid")
	assert.Empty(t, s.KIDs())
	_, err = s.Mint(jwt.MapClaims{})
	require.Error(t, err)
	resp := postForm(t, s, url.Values{"grant_type": {"client_credentials"}}, url.UserPassword("importer", "importer-secret"))
	assert.Equal(t, 500, resp.StatusCode)
	assert.Equal(t, "server_error", decode[devissuer.ErrorResponse](t, resp.Body).Error)
	third, err := s.RotateKey()
	require.NoError(t, err)
	assert.Equal(t, []string{third}, s.KIDs())
}

func TestRemovingTheCurrentKeyFallsBack(t *testing.T) {
	s := start(t, devissuer.Config{Algorithm: "ES256"})
	first := s.KID()
	second, err := s.RotateKey()
	require.NoError(t, err)
	s.RemoveKey(second)
	assert.Equal(t, first, s.KID())
	tok, err := s.Mint(s.Claims("admin", apiAudience, []string{"read:timesheets"}))
	require.NoError(t, err)
	parsed, _ := verify(t, s, tok, apiAudience)
	assert.Equal(t, first, parsed.Header["kid"])
}

func TestMint(t *testing.T) {
	s := start(t, devissuer.Config{})
	c := s.Claims("importer", otherAudience, []string{"batch:upload"})
	c["exp"] = time.Now().Add(-time.Minute).Unix()
	tok, err := s.Mint(c)
	require.NoError(t, err)
	_, err = jwt.Parse(tok, jwksKeyfunc(t, s).Keyfunc)
	require.ErrorIs(t, err, jwt.ErrTokenExpired)

	// Arbitrary claims are signed as given.
	tok, err = s.Mint(jwt.MapClaims{"iss": "https://evil.example/", "custom": 1.5})
	require.NoError(t, err)
	var mc jwt.MapClaims
	parsed, err := jwt.ParseWithClaims(tok, &mc, jwksKeyfunc(t, s).Keyfunc)
	require.NoError(t, err)
	assert.Equal(t, jwt.MapClaims{"iss": "https://evil.example/", "custom": 1.5}, mc)
	assert.Equal(t, s.KID(), parsed.Header["kid"])
}

func TestSetJWKSAvailable(t *testing.T) {
	s := start(t, devissuer.Config{})
	assert.Zero(t, s.JWKSRequests())
	getJSON[jwks](t, s.JWKSURL())
	assert.EqualValues(t, 1, s.JWKSRequests())

	s.SetJWKSAvailable(false)
	resp, err := httpClient.Get(s.JWKSURL())
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	assert.EqualValues(t, 2, s.JWKSRequests(), "failed fetches count too")

	// Only the JWKS is down: discovery and tokens still work.
	getJSON[map[string]any](t, s.DiscoveryURL())
	assert.Equal(t, 200, postForm(t, s, url.Values{"grant_type": {"client_credentials"}}, url.UserPassword("importer", "importer-secret")).StatusCode)

	s.SetJWKSAvailable(true)
	getJSON[jwks](t, s.JWKSURL())
	assert.EqualValues(t, 3, s.JWKSRequests())
}

func TestConfigRefused(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	tests := []struct {
		name string
		cfg  devissuer.Config
		want string
	}{
		{"all interfaces", devissuer.Config{ListenAddress: ":0"}, "non-loopback"},
		{"unspecified IPv4", devissuer.Config{ListenAddress: "0.0.0.0:0"}, "non-loopback"},
		{"private address", devissuer.Config{ListenAddress: "10.244.0.1:0"}, "non-loopback"},
		{"host name", devissuer.Config{ListenAddress: "example.com:0"}, "non-loopback"},
		{"all interfaces allowed but no issuer", devissuer.Config{ListenAddress: "0.0.0.0:0", AllowNonLoopback: true}, "explicit Issuer"},
		{"no port", devissuer.Config{ListenAddress: "127.0.0.1"}, "listen address"},
		{"issuer without trailing slash", devissuer.Config{Issuer: "http://127.0.0.1:1"}, "must end with"},
		{"issuer with a path", devissuer.Config{Issuer: "http://127.0.0.1:1/tenant/"}, "must end with"},
		{"issuer not http", devissuer.Config{Issuer: "ftp://127.0.0.1/"}, "scheme"},
		{"issuer with query", devissuer.Config{Issuer: "http://127.0.0.1/?a=b"}, "without user, query"},
		{"algorithm", devissuer.Config{Algorithm: "HS256"}, "not supported"},
		{"no clients", devissuer.Config{Clients: []devissuer.Client{}}, "no clients"},
		{"duplicate client", devissuer.Config{Clients: []devissuer.Client{testClients[0], testClients[0]}}, "twice"},
		{"empty secret", devissuer.Config{Clients: []devissuer.Client{{ID: "x"}}}, "empty secret"},
		{"bad scope", devissuer.Config{Clients: []devissuer.Client{{ID: "x", Secret: "y", Scopes: []string{"a b"}}}}, "invalid scope"},
		{"short TTL", devissuer.Config{TokenTTL: time.Millisecond}, "shorter than a second"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg.Clients == nil {
				cfg.Clients = testClients
			}
			cfg.Logger = quiet
			s, err := devissuer.New(cfg)
			if s != nil {
				s.Close()
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// A non-loopback address binds when allowed. The test uses this host's
// first non-loopback IP, if any.
func TestAllowNonLoopback(t *testing.T) {
	ip := nonLoopbackIP(t)
	s := start(t, devissuer.Config{ListenAddress: net.JoinHostPort(ip.String(), "0"), AllowNonLoopback: true})
	assert.False(t, s.Loopback())
	u, err := url.Parse(s.URL())
	require.NoError(t, err)
	assert.Equal(t, ip.String(), u.Hostname())
	assert.Equal(t, s.URL()+"/", s.Issuer())
	getJSON[jwks](t, s.JWKSURL())
}

func nonLoopbackIP(t *testing.T) net.IP {
	addrs, err := net.InterfaceAddrs()
	require.NoError(t, err)
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil && !n.IP.IsLinkLocalUnicast() {
			return n.IP
		}
	}
	t.Skip("no non-loopback IPv4 address on this host")
	return nil
}

func TestLifecycle(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	newServer := func() *devissuer.Server {
		s, err := devissuer.New(devissuer.Config{Clients: testClients, Audience: apiAudience, Logger: quiet})
		require.NoError(t, err)
		return s
	}

	t.Run("Close stops Start", func(t *testing.T) {
		s := newServer()
		done := make(chan error, 1)
		go func() { done <- s.Start(context.Background()) }()
		require.Eventually(t, func() bool {
			resp, err := httpClient.Get(s.JWKSURL())
			if err == nil {
				resp.Body.Close()
			}
			return err == nil
		}, 5*time.Second, 10*time.Millisecond)
		require.NoError(t, s.Close())
		require.NoError(t, <-done)
		require.NoError(t, s.Close(), "Close twice")
		_, err := httpClient.Get(s.JWKSURL())
		require.Error(t, err, "still listening after Close")
	})

	t.Run("Close without Start releases the port", func(t *testing.T) {
		s := newServer()
		addr := strings.TrimPrefix(s.URL(), "http://")
		require.NoError(t, s.Close())
		ln, err := net.Listen("tcp", addr)
		require.NoError(t, err, "port still bound")
		ln.Close()
		require.Error(t, s.Start(context.Background()), "Start after Close")
	})

	t.Run("Start twice", func(t *testing.T) {
		s := newServer()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Start(ctx) }()
		// The first Start serves once it answers (the port is bound from New,
		// so only an answer shows that Start runs).
		require.Eventually(t, func() bool {
			resp, err := http.Get(s.JWKSURL())
			if err != nil {
				return false
			}
			resp.Body.Close()
			return true
		}, 5*time.Second, time.Millisecond, "the first Start never served")
		require.ErrorContains(t, s.Start(ctx), "twice")
		cancel()
		require.NoError(t, <-done)
	})

	t.Run("URLs known before Start", func(t *testing.T) {
		s := newServer()
		defer s.Close()
		assert.NotEmpty(t, s.Issuer())
		assert.NotContains(t, s.URL(), ":0")
	})

	t.Run("fixed port in use", func(t *testing.T) {
		s := newServer()
		defer s.Close()
		_, err := devissuer.New(devissuer.Config{ListenAddress: strings.TrimPrefix(s.URL(), "http://"), Clients: testClients, Logger: quiet})
		require.ErrorContains(t, err, "listen")
	})
}
