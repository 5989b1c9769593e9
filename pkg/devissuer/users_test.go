package devissuer_test

import (
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
	"github.com/abc-inc/timesheets/pkg/syncbuf"
)

func startWithUsers(t testing.TB, cfg devissuer.Config) *devissuer.Server {
	t.Helper()
	cfg.Users = devissuer.BuiltinUsers()
	cfg.Audiences = []string{otherAudience}
	return start(t, cfg)
}

// postUserToken posts form to the user-token endpoint.
func postUserToken(t testing.TB, s *devissuer.Server, form url.Values) *http.Response {
	t.Helper()
	resp, err := httpClient.PostForm(s.UserTokenURL(), form)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// userToken gets a token for form and verifies it against the JWKS as the
// API would, returning all its claims.
func userToken(t testing.TB, s *devissuer.Server, form url.Values, audience string) (devissuer.TokenResponse, jwt.MapClaims) {
	t.Helper()
	resp := postUserToken(t, s, form)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	tr := decode[devissuer.TokenResponse](t, resp.Body)
	assert.Equal(t, "Bearer", tr.TokenType)
	assert.Equal(t, int64(3600), tr.ExpiresIn)
	verify(t, s, tr.AccessToken, audience) // signature, iss, aud, exp, iat
	c := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(tr.AccessToken, c, jwksKeyfunc(t, s).Keyfunc, jwt.WithAudience(audience))
	require.NoError(t, err)
	return tr, c
}

func TestUserToken(t *testing.T) {
	s := startWithUsers(t, devissuer.Config{})
	require.True(t, s.UserTokens())
	alice := url.Values{"user": {"alice"}}

	t.Run("alice", func(t *testing.T) {
		before := time.Now().Unix()
		tr, c := userToken(t, s, alice, apiAudience)
		assert.Equal(t, "create:timesheets read:timesheets delete:timesheets", tr.Scope)
		assert.Equal(t, s.Issuer(), c["iss"])
		assert.Equal(t, "auth0|dev-alice", c["sub"])
		assert.Equal(t, apiAudience, c["aud"])
		assert.Equal(t, devissuer.UserTokenClientID, c["azp"])
		assert.Equal(t, "E-1001", c[devissuer.EmployeeClaim])
		assert.Equal(t, "org_abc", c["org_id"])
		assert.Equal(t, devissuer.ACRPassword, c["acr"])
		assert.Equal(t, tr.Scope, c["scope"])
		assert.Equal(t, []any{"create:timesheets", "read:timesheets", "delete:timesheets"}, c["permissions"])
		assert.NotContains(t, c, "gty", "gty marks machine tokens; a person's token has none")
		authTime := int64(c["auth_time"].(float64))
		assert.GreaterOrEqual(t, authTime, before)
		assert.LessOrEqual(t, authTime, time.Now().Unix())
		assert.Equal(t, c["iat"], c["auth_time"])
	})
	t.Run("step-up carries the multi-factor acr", func(t *testing.T) {
		_, c := userToken(t, s, url.Values{"user": {"alice"}, "step_up": {"mfa"}}, apiAudience)
		assert.Equal(t, "http://schemas.openid.net/pape/policies/2007/06/multi-factor", c["acr"])
	})
	t.Run("auth_age makes the authentication older", func(t *testing.T) {
		_, c := userToken(t, s, url.Values{"user": {"bob"}, "auth_age": {"600"}, "step_up": {"mfa"}}, apiAudience)
		assert.Equal(t, c["iat"].(float64)-600, c["auth_time"])
		assert.Equal(t, devissuer.ACRMultiFactor, c["acr"])
	})
	t.Run("bob is a manager", func(t *testing.T) {
		tr, c := userToken(t, s, url.Values{"user": {"bob"}}, apiAudience)
		assert.Equal(t, "read:timesheets read:all-timesheets approve:timesheets", tr.Scope)
		assert.Equal(t, "E-2001", c[devissuer.EmployeeClaim])
		assert.Equal(t, "auth0|dev-bob", c["sub"])
	})
	t.Run("carol is in another organisation", func(t *testing.T) {
		_, c := userToken(t, s, url.Values{"user": {"carol"}}, apiAudience)
		assert.Equal(t, "org_other", c["org_id"])
	})
	t.Run("a subset of the user's scopes, in the user's order", func(t *testing.T) {
		tr, c := userToken(t, s, url.Values{"user": {"bob"}, "scope": {"approve:timesheets read:timesheets"}}, apiAudience)
		assert.Equal(t, "read:timesheets approve:timesheets", tr.Scope)
		assert.Equal(t, tr.Scope, c["scope"])
	})
	t.Run("another known audience", func(t *testing.T) {
		_, c := userToken(t, s, url.Values{"user": {"alice"}, "audience": {otherAudience}}, otherAudience)
		assert.Equal(t, otherAudience, c["aud"])
		_, c = userToken(t, s, url.Values{"user": {"alice"}, "resource": {otherAudience}}, otherAudience)
		assert.Equal(t, otherAudience, c["aud"])
	})
	t.Run("tokens are unique", func(t *testing.T) {
		a, _ := userToken(t, s, alice, apiAudience)
		b, _ := userToken(t, s, alice, apiAudience)
		assert.NotEqual(t, a.AccessToken, b.AccessToken)
	})
}

func TestUserTokenRefusals(t *testing.T) {
	s := startWithUsers(t, devissuer.Config{})
	form := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	cases := []struct {
		name        string
		method      string
		target      string // appended to the endpoint's URL
		contentType string
		host        string
		body        string
		status      int
		code        string
		description string
	}{
		{name: "unknown user", body: form("user", "mallory"), status: 400, code: "invalid_request", description: "alice, bob, carol"},
		{name: "no user", body: form("scope", "read:timesheets"), status: 400, code: "invalid_request"},
		{name: "user given twice", body: form("user", "alice", "user", "bob"), status: 400, code: "invalid_request"},
		{name: "a scope the user lacks", body: form("user", "alice", "scope", "approve:timesheets"), status: 400, code: "invalid_scope",
			description: `scope "approve:timesheets" not granted to the user`},
		{name: "an unknown scope", body: form("user", "bob", "scope", "read:timesheets admin:everything"), status: 400, code: "invalid_scope"},
		{name: "a malformed scope", body: form("user", "bob", "scope", `read"timesheets`), status: 400, code: "invalid_scope"},
		{name: "unknown step-up", body: form("user", "bob", "step_up", "otp"), status: 400, code: "invalid_request"},
		{name: "negative auth_age", body: form("user", "bob", "auth_age", "-1"), status: 400, code: "invalid_request"},
		{name: "auth_age not in seconds", body: form("user", "bob", "auth_age", "10m"), status: 400, code: "invalid_request"},
		{name: "auth_age too long", body: form("user", "bob", "auth_age", "2592001"), status: 400, code: "invalid_request"},
		{name: "unknown audience", body: form("user", "bob", "audience", "https://evil.example/"), status: 400, code: "invalid_target"},
		{name: "parameters in the URL", target: "?user=alice", body: form("user", "alice"), status: 400, code: "invalid_request"},
		{name: "GET", method: http.MethodGet, status: 405, code: "invalid_request"},
		{name: "JSON body", contentType: "application/json", body: `{"user":"alice"}`, status: 415, code: "invalid_request"},
		{name: "a Host that is not loopback", host: "rebound.example:9443", body: form("user", "alice"), status: 403, code: "access_denied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, s.UserTokenURL()+tc.target, strings.NewReader(tc.body))
			require.NoError(t, err)
			ct := tc.contentType
			if ct == "" {
				ct = "application/x-www-form-urlencoded"
			}
			req.Header.Set("Content-Type", ct)
			if tc.host != "" {
				req.Host = tc.host
			}
			resp, err := httpClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
			e := decode[devissuer.ErrorResponse](t, resp.Body)
			assert.Equal(t, tc.code, e.Error)
			assert.Contains(t, e.Description, tc.description)
		})
	}
}

func TestUserTokenHosts(t *testing.T) {
	s := startWithUsers(t, devissuer.Config{})
	_, port, err := net.SplitHostPort(s.Addr().String())
	require.NoError(t, err)
	for _, host := range []string{"127.0.0.1", "localhost", "LOCALHOST", "127.0.0.2", "[::1]"} {
		t.Run(host, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, s.UserTokenURL(), strings.NewReader("user=alice"))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Host = host + ":" + port
			resp, err := httpClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)
		})
	}
}

func TestUserTokenEndpointAbsent(t *testing.T) {
	t.Run("without users", func(t *testing.T) {
		s := start(t, devissuer.Config{})
		assert.False(t, s.UserTokens())
		resp := postUserToken(t, s, url.Values{"user": {"alice"}})
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	})
	t.Run("beyond loopback", func(t *testing.T) {
		ip := nonLoopbackIP(t)
		s := startWithUsers(t, devissuer.Config{ListenAddress: net.JoinHostPort(ip.String(), "0"), AllowNonLoopback: true})
		assert.False(t, s.UserTokens())
		resp := postUserToken(t, s, url.Values{"user": {"alice"}})
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
		// The machine-token endpoint still works there.
		resp = postForm(t, s, url.Values{"grant_type": {"client_credentials"}}, url.UserPassword("importer", "importer-secret"))
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	})
}

func TestMachineTokensKeepGTY(t *testing.T) {
	s := startWithUsers(t, devissuer.Config{})
	resp := postForm(t, s, url.Values{"grant_type": {"client_credentials"}}, url.UserPassword("importer", "importer-secret"))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	tr := decode[devissuer.TokenResponse](t, resp.Body)
	_, c := verify(t, s, tr.AccessToken, apiAudience)
	assert.Equal(t, "client-credentials", c.GTY)
	assert.Equal(t, "importer@clients", c.Subject)
}

func TestUserClaims(t *testing.T) {
	s := startWithUsers(t, devissuer.Config{})
	bob := devissuer.BuiltinUsers()[1]
	c := s.UserClaims(bob, apiAudience)
	c["acr"] = devissuer.ACRMultiFactor
	tok, err := s.Mint(c)
	require.NoError(t, err)
	_, got := verify(t, s, tok, apiAudience)
	assert.Equal(t, "auth0|dev-bob", got.Subject)
	assert.Equal(t, "read:timesheets read:all-timesheets approve:timesheets", got.Scope)
	assert.Empty(t, got.GTY)
}

func TestUsersRefused(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	valid := devissuer.User{Name: "dave", Subject: "auth0|dev-dave", EmployeeID: "E-4001", Scopes: []string{"read:timesheets"}}
	cases := map[string][]devissuer.User{
		"no name":        {{Subject: "auth0|x", EmployeeID: "E-1"}},
		"no subject":     {{Name: "x", EmployeeID: "E-1"}},
		"no employee id": {{Name: "x", Subject: "auth0|x"}},
		"twice":          {valid, valid},
		"invalid scope":  {{Name: "x", Subject: "auth0|x", EmployeeID: "E-1", Scopes: []string{"read timesheets"}}},
	}
	for name, users := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := devissuer.New(devissuer.Config{Clients: testClients, Users: users, Audience: apiAudience, Logger: quiet})
			require.Error(t, err)
		})
	}
}

func TestUserTokenLogsNoToken(t *testing.T) {
	var buf syncbuf.Buffer
	s := startWithUsers(t, devissuer.Config{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	tr, _ := userToken(t, s, url.Values{"user": {"alice"}, "step_up": {"mfa"}}, apiAudience)
	postUserToken(t, s, url.Values{"user": {"mallory\nlevel=ERROR"}})
	out := buf.String()
	assert.Contains(t, out, "issued a development user token")
	assert.Contains(t, out, "user=alice")
	assert.Contains(t, out, s.UserTokenURL())
	assert.NotContains(t, out, tr.AccessToken)
	assert.NotContains(t, out, "mallory", "an unknown user name is not logged")
	assert.NotContains(t, out, strings.Split(tr.AccessToken, ".")[2], "nor its signature")
}
