package devissuer_test

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/abc-inc/timesheets/pkg/devissuer"
	"github.com/abc-inc/timesheets/pkg/syncbuf"
)

func TestTokenEndpoint(t *testing.T) {
	s := start(t, devissuer.Config{Audiences: []string{"urn:unused-api"}})
	admin := testClients[1]
	post := func(id, secret string, extra url.Values) url.Values {
		f := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
		for k, v := range extra {
			f[k] = v
		}
		return f
	}
	basic := func(extra url.Values) url.Values {
		f := url.Values{"grant_type": {"client_credentials"}}
		for k, v := range extra {
			f[k] = v
		}
		return f
	}
	tests := []struct {
		name      string
		form      url.Values
		user      *url.Userinfo // Basic credentials
		status    int
		errCode   string
		challenge bool // WWW-Authenticate expected
		client    string
		aud       string
		scopes    []string
	}{
		{name: "post auth, all scopes, default audience", form: post("importer", "importer-secret", nil),
			status: 200, client: "importer", aud: apiAudience, scopes: []string{"batch:upload"}},
		{name: "basic auth with URL-encoded secret", form: basic(nil), user: url.UserPassword(admin.ID, admin.Secret),
			status: 200, client: "admin", aud: apiAudience, scopes: allScopes},
		{name: "basic auth plus the same client_id in the body", form: basic(url.Values{"client_id": {"admin"}}), user: url.UserPassword(admin.ID, admin.Secret),
			status: 200, client: "admin", aud: apiAudience, scopes: allScopes},
		{name: "scope subset", form: post(admin.ID, admin.Secret, url.Values{"scope": {"read:timesheets  create:timesheets"}}),
			status: 200, client: "admin", aud: apiAudience, scopes: []string{"create:timesheets", "read:timesheets"}},
		{name: "ungranted scope", form: post("importer", "importer-secret", url.Values{"scope": {"batch:upload read:timesheets"}}),
			status: 400, errCode: "invalid_scope"},
		{name: "malformed scope", form: post("importer", "importer-secret", url.Values{"scope": {`batch:upload "x"`}}),
			status: 400, errCode: "invalid_scope"},
		{name: "audience parameter", form: post(admin.ID, admin.Secret, url.Values{"audience": {apiAudience}}),
			status: 200, client: "admin", aud: apiAudience, scopes: allScopes},
		{name: "resource parameter (RFC 8707)", form: post(admin.ID, admin.Secret, url.Values{"resource": {"urn:unused-api"}}),
			status: 200, client: "admin", aud: "urn:unused-api", scopes: allScopes},
		{name: "audience and resource agreeing", form: post(admin.ID, admin.Secret, url.Values{"audience": {apiAudience}, "resource": {apiAudience}}),
			status: 200, client: "admin", aud: apiAudience, scopes: allScopes},
		{name: "audience and resource disagreeing", form: post(admin.ID, admin.Secret, url.Values{"audience": {apiAudience}, "resource": {otherAudience}}),
			status: 400, errCode: "invalid_request"},
		{name: "two resources", form: post(admin.ID, admin.Secret, url.Values{"resource": {apiAudience, otherAudience}}),
			status: 400, errCode: "invalid_target"},
		{name: "relative resource", form: post(admin.ID, admin.Secret, url.Values{"resource": {"timesheets"}}),
			status: 400, errCode: "invalid_target"},
		{name: "unknown audience", form: post(admin.ID, admin.Secret, url.Values{"audience": {"https://unknown.example/"}}),
			status: 400, errCode: "invalid_target"},
		{name: "client restricted to another audience, default refused", form: post("other", "other-secret", nil),
			status: 400, errCode: "invalid_target"},
		{name: "client restricted to another audience, its own granted", form: post("other", "other-secret", url.Values{"audience": {otherAudience}}),
			status: 200, client: "other", aud: otherAudience, scopes: []string{"read:timesheets"}},
		{name: "wrong secret (post)", form: post("importer", "wrong", nil), status: 401, errCode: "invalid_client", challenge: true},
		{name: "wrong secret (basic)", form: basic(nil), user: url.UserPassword("importer", "wrong"),
			status: 401, errCode: "invalid_client", challenge: true},
		{name: "secret of another client", form: post("importer", admin.Secret, nil), status: 401, errCode: "invalid_client", challenge: true},
		{name: "unknown client", form: post("nobody", "importer-secret", nil), status: 401, errCode: "invalid_client", challenge: true},
		{name: "no client authentication", form: basic(nil), status: 401, errCode: "invalid_client", challenge: true},
		{name: "client_id without secret (public client)", form: basic(url.Values{"client_id": {"importer"}}), status: 401, errCode: "invalid_client", challenge: true},
		{name: "basic and post at once", form: basic(url.Values{"client_secret": {"importer-secret"}}), user: url.UserPassword("importer", "importer-secret"),
			status: 400, errCode: "invalid_request"},
		{name: "basic with a different body client_id", form: basic(url.Values{"client_id": {"admin"}}), user: url.UserPassword("importer", "importer-secret"),
			status: 400, errCode: "invalid_request"},
		{name: "unsupported grant", form: post("importer", "importer-secret", url.Values{"grant_type": {"password"}}),
			status: 400, errCode: "unsupported_grant_type"},
		{name: "missing grant_type", form: url.Values{"client_id": {"importer"}, "client_secret": {"importer-secret"}},
			status: 400, errCode: "invalid_request"},
		{name: "repeated parameter", form: post("importer", "importer-secret", url.Values{"scope": {"batch:upload", "batch:upload"}}),
			status: 400, errCode: "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp := postForm(t, s, tc.form, tc.user)
			assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			require.Equal(t, tc.status, resp.StatusCode)
			if tc.errCode != "" {
				e := decode[devissuer.ErrorResponse](t, resp.Body)
				assert.Equal(t, tc.errCode, e.Error)
				assert.NotEmpty(t, e.Description)
				if tc.challenge {
					assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Basic ")
				}
				return
			}
			tr := decode[devissuer.TokenResponse](t, resp.Body)
			assert.Equal(t, "Bearer", tr.TokenType)
			assert.Equal(t, int64(3600), tr.ExpiresIn)
			assert.Equal(t, strings.Join(tc.scopes, " "), tr.Scope)
			parsed, c := verify(t, s, tr.AccessToken, tc.aud)
			assert.Equal(t, "JWT", parsed.Header["typ"])
			assert.Equal(t, "RS256", parsed.Header["alg"])
			assert.Equal(t, s.KID(), parsed.Header["kid"])
			assert.Equal(t, tc.client+"@clients", c.Subject)
			assert.Equal(t, tc.client, c.AZP)
			assert.Equal(t, "client-credentials", c.GTY)
			assert.Equal(t, []string{tc.aud}, []string(c.Audience))
			assert.Equal(t, strings.Join(tc.scopes, " "), c.Scope)
			assert.Equal(t, tc.scopes, c.Permissions)
			assert.NotEmpty(t, c.ID)
			assert.Equal(t, time.Hour, c.ExpiresAt.Sub(c.IssuedAt.Time))
			assert.WithinDuration(t, time.Now(), c.IssuedAt.Time, 5*time.Second)
		})
	}
}

func TestTokenEndpointRefusesBadRequests(t *testing.T) {
	s := start(t, devissuer.Config{})
	good := url.Values{"grant_type": {"client_credentials"}, "client_id": {"importer"}, "client_secret": {"importer-secret"}}.Encode()
	tests := []struct {
		name     string
		method   string
		url      string
		ctype    string
		body     string
		auth     string
		status   int
		wantCode string
	}{
		{name: "GET", method: http.MethodGet, url: s.TokenURL() + "?" + good, status: 405, wantCode: "invalid_request"},
		{name: "PUT", method: http.MethodPut, ctype: "application/x-www-form-urlencoded", body: good, status: 405, wantCode: "invalid_request"},
		{name: "JSON body", method: http.MethodPost, ctype: "application/json", body: `{"grant_type":"client_credentials"}`, status: 415, wantCode: "invalid_request"},
		{name: "no content type", method: http.MethodPost, body: good, status: 415, wantCode: "invalid_request"},
		{name: "credentials in the query", method: http.MethodPost, url: s.TokenURL() + "?client_secret=importer-secret",
			ctype: "application/x-www-form-urlencoded", body: good, status: 400, wantCode: "invalid_request"},
		{name: "oversized body", method: http.MethodPost, ctype: "application/x-www-form-urlencoded",
			body: good + "&pad=" + strings.Repeat("a", devissuer.MaxTokenRequestBytes), status: 413, wantCode: "invalid_request"},
		{name: "malformed form", method: http.MethodPost, ctype: "application/x-www-form-urlencoded", body: good + "&%zz", status: 400, wantCode: "invalid_request"},
		{name: "bearer instead of basic", method: http.MethodPost, ctype: "application/x-www-form-urlencoded",
			body: "grant_type=client_credentials", auth: "Bearer abc", status: 401, wantCode: "invalid_client"},
		{name: "malformed basic", method: http.MethodPost, ctype: "application/x-www-form-urlencoded",
			body: "grant_type=client_credentials", auth: "Basic !!!", status: 401, wantCode: "invalid_client"},
		{name: "basic without colon", method: http.MethodPost, ctype: "application/x-www-form-urlencoded",
			body: "grant_type=client_credentials", auth: "Basic " + base64.StdEncoding.EncodeToString([]byte("importer")), status: 401, wantCode: "invalid_client"},
		{name: "basic with bad escape", method: http.MethodPost, ctype: "application/x-www-form-urlencoded",
			body: "grant_type=client_credentials", auth: "Basic " + base64.StdEncoding.EncodeToString([]byte("importer:%zz")), status: 401, wantCode: "invalid_client"},
		{name: "basic secret not URL-decoded by the client", method: http.MethodPost, ctype: "application/x-www-form-urlencoded",
			body: "grant_type=client_credentials", auth: "Basic " + base64.StdEncoding.EncodeToString([]byte("importer:importer%2Dsecret")), status: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.url
			if u == "" {
				u = s.TokenURL()
			}
			req, err := http.NewRequest(tc.method, u, strings.NewReader(tc.body))
			require.NoError(t, err)
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := httpClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, tc.status, resp.StatusCode)
			if tc.status == 405 {
				assert.Equal(t, "POST", resp.Header.Get("Allow"))
			}
			if tc.wantCode != "" {
				assert.Equal(t, tc.wantCode, decode[devissuer.ErrorResponse](t, resp.Body).Error)
			}
		})
	}
}

func TestNoDefaultAudience(t *testing.T) {
	s, err := devissuer.New(devissuer.Config{Clients: testClients, Audiences: []string{apiAudience}, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	resp := postForm(t, s, url.Values{"grant_type": {"client_credentials"}}, url.UserPassword("importer", "importer-secret"))
	require.Equal(t, 400, resp.StatusCode)
	assert.Equal(t, "invalid_target", decode[devissuer.ErrorResponse](t, resp.Body).Error)

	resp = postForm(t, s, url.Values{"grant_type": {"client_credentials"}, "audience": {apiAudience}}, url.UserPassword("importer", "importer-secret"))
	require.Equal(t, 200, resp.StatusCode)
}

// The client library the importer uses must work against the server, with
// Auth0's audience parameter, in both client authentication styles.
func TestOAuth2ClientCredentials(t *testing.T) {
	s := start(t, devissuer.Config{})
	admin := testClients[1]
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams, oauth2.AuthStyleAutoDetect} {
		cfg := clientcredentials.Config{
			ClientID:       admin.ID,
			ClientSecret:   admin.Secret,
			TokenURL:       s.TokenURL(),
			Scopes:         []string{"read:timesheets"},
			EndpointParams: url.Values{"audience": {apiAudience}},
			AuthStyle:      style,
		}
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, httpClient)
		tok, err := cfg.Token(ctx)
		require.NoError(t, err, "auth style %d", style)
		assert.Equal(t, "Bearer", tok.Type())
		assert.WithinDuration(t, time.Now().Add(time.Hour), tok.Expiry, time.Minute)
		_, c := verify(t, s, tok.AccessToken, apiAudience)
		assert.Equal(t, []string{"read:timesheets"}, c.Permissions)

		// A wrong secret surfaces as an oauth2.RetrieveError carrying the RFC 6749 code.
		cfg.ClientSecret = "wrong"
		_, err = cfg.Token(ctx)
		var re *oauth2.RetrieveError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, "invalid_client", re.ErrorCode)
	}
}

func TestTokensAreUnique(t *testing.T) {
	s := start(t, devissuer.Config{})
	seen := map[string]bool{}
	for range 5 {
		resp := postForm(t, s, url.Values{"grant_type": {"client_credentials"}}, url.UserPassword("importer", "importer-secret"))
		require.Equal(t, 200, resp.StatusCode)
		_, c := verify(t, s, decode[devissuer.TokenResponse](t, resp.Body).AccessToken, apiAudience)
		require.False(t, seen[c.ID], "jti repeated")
		seen[c.ID] = true
	}
}

func TestTokenTTL(t *testing.T) {
	s := start(t, devissuer.Config{TokenTTL: 90 * time.Second})
	resp := postForm(t, s, url.Values{"grant_type": {"client_credentials"}}, url.UserPassword("importer", "importer-secret"))
	require.Equal(t, 200, resp.StatusCode)
	tr := decode[devissuer.TokenResponse](t, resp.Body)
	assert.Equal(t, int64(90), tr.ExpiresIn)
	_, c := verify(t, s, tr.AccessToken, apiAudience)
	assert.Equal(t, 90*time.Second, c.ExpiresAt.Sub(c.IssuedAt.Time))
}

// Neither a secret nor a token may reach the log.
func TestLogsNoSecrets(t *testing.T) {
	var logs syncbuf.Buffer
	s := start(t, devissuer.Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	admin := testClients[1]
	var tokens []string
	for _, f := range []url.Values{
		{"grant_type": {"client_credentials"}, "client_id": {"admin"}, "client_secret": {admin.Secret}},
		{"grant_type": {"client_credentials"}, "client_id": {"admin"}, "client_secret": {admin.Secret + "x"}},
		{"grant_type": {"client_credentials"}, "client_id": {"importer"}, "client_secret": {"importer-secret"}, "scope": {"nope"}},
		{"grant_type": {"password"}, "client_id": {"importer"}, "client_secret": {"importer-secret"}},
	} {
		resp := postForm(t, s, f, nil)
		if resp.StatusCode == 200 {
			tokens = append(tokens, decode[devissuer.TokenResponse](t, resp.Body).AccessToken)
		}
	}
	resp := postForm(t, s, url.Values{"grant_type": {"client_credentials"}}, url.UserPassword("importer", "importer-secret"))
	require.Equal(t, 200, resp.StatusCode)
	tokens = append(tokens, decode[devissuer.TokenResponse](t, resp.Body).AccessToken)
	require.Len(t, tokens, 2)

	out := logs.String()
	assert.Contains(t, out, "not for production")
	assert.Contains(t, out, s.Issuer())
	assert.Contains(t, out, "issued an access token")
	for _, secret := range []string{admin.Secret, "importer-secret", "p@ss"} {
		assert.NotContains(t, out, secret)
	}
	for _, tok := range tokens {
		assert.NotContains(t, out, tok)
		assert.NotContains(t, out, strings.Split(tok, ".")[2]) // not even the signature
	}
}
