package oidc_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/oidc"
)

func TestConfigurationURL(t *testing.T) {
	tests := []struct{ issuer, want string }{
		{"https://tenant.auth0.com/", "https://tenant.auth0.com/.well-known/openid-configuration"},
		{"https://login.example", "https://login.example/.well-known/openid-configuration"},
		{"https://kc.example/realms/a", "https://kc.example/realms/a/.well-known/openid-configuration"},
		{"https://kc.example/realms/a/", "https://kc.example/realms/a/.well-known/openid-configuration"},
	}
	for _, tc := range tests {
		t.Run(tc.issuer, func(t *testing.T) {
			require.Equal(t, tc.want, oidc.ConfigurationURL(tc.issuer))
		})
	}
}

// provider is an OpenID Provider as OpenID Connect Discovery 1.0 §4
// describes it: its configuration at the issuer (any terminating "/"
// removed) + /.well-known/openid-configuration, naming the issuer exactly
// (§4.3). Auth0's issuer ends in "/"; Keycloak's has a path and does not.
func provider(t *testing.T, path, issuerSuffix string) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+path+oidc.WellKnownPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                   srv.URL + path + issuerSuffix,
			"jwks_uri":                 srv.URL + path + "/jwks.json",
			"token_endpoint":           srv.URL + path + "/oauth/token",
			"response_types_supported": []string{"code"},
		})
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestDiscover(t *testing.T) {
	tests := []struct {
		name         string
		path, suffix string // where the provider serves, and what ends its issuer
		ask          string // the issuer asked for, after the server's URL
		mismatch     bool
	}{
		{name: "issuer ending in / (Auth0)", suffix: "/", ask: "/"},
		{name: "issuer without /", ask: ""},
		{name: "issuer with a path", path: "/realms/a", ask: "/realms/a"},
		{name: "a / more than the provider's issuer", path: "/realms/a", ask: "/realms/a/", mismatch: true},
		{name: "a / less than the provider's issuer", suffix: "/", ask: "", mismatch: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := provider(t, tc.path, tc.suffix)
			c := &oidc.Client{HTTPClient: srv.Client()}
			md, err := c.Discover(t.Context(), srv.URL+tc.ask)
			if tc.mismatch {
				var me *oidc.IssuerMismatchError
				require.ErrorAs(t, err, &me)
				require.Equal(t, srv.URL+tc.ask, me.Want)
				require.Contains(t, err.Error(), "only a trailing \"/\" differs")
				return
			}
			require.NoError(t, err)
			require.Equal(t, srv.URL+tc.ask, md.Issuer)
			require.Equal(t, srv.URL+tc.path+"/jwks.json", md.JWKSURI)
			require.Equal(t, srv.URL+tc.path+"/oauth/token", md.TokenEndpoint)
		})
	}
}

func TestDiscoverFailures(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		check   func(t *testing.T, err error)
	}{
		{"another issuer", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"issuer":"https://evil.example/","jwks_uri":"https://evil.example/jwks"}`))
		}, func(t *testing.T, err error) {
			var me *oidc.IssuerMismatchError
			require.ErrorAs(t, err, &me)
			require.Equal(t, "https://evil.example/", me.Got)
			require.NotContains(t, err.Error(), "trailing")
		}},
		{"not 200", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusServiceUnavailable)
		}, func(t *testing.T, err error) {
			var se *oidc.StatusError
			require.ErrorAs(t, err, &se)
			require.Equal(t, http.StatusServiceUnavailable, se.StatusCode)
			require.Equal(t, "7", se.Header.Get("Retry-After"))
			require.Contains(t, err.Error(), "HTTP 503")
		}},
		{"not JSON", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`<html>`))
		}, func(t *testing.T, err error) {
			require.ErrorContains(t, err, "decode")
		}},
		{"too large", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"issuer":"` + strings.Repeat("a", 2048) + `"}`))
		}, func(t *testing.T, err error) {
			require.ErrorContains(t, err, "exceeds 1024 bytes")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			c := &oidc.Client{HTTPClient: srv.Client(), MaxBytes: 1024}
			md, err := c.Discover(t.Context(), srv.URL+"/")
			require.Nil(t, md)
			tc.check(t, err)
		})
	}
}

// A request that gets no answer is a *url.Error, which a caller may retry;
// a cancelled context ends it.
func TestDiscoverNoAnswer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	_, err := (&oidc.Client{}).Discover(t.Context(), addr+"/")
	var ue *url.Error
	require.ErrorAs(t, err, &ue)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = (&oidc.Client{}).Discover(ctx, addr+"/")
	require.True(t, errors.Is(err, context.Canceled), "%v", err)
}
