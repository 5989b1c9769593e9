package auth_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/metrics"
	"github.com/abc-inc/timesheets/pkg/policy"
)

const pageOrigin = "https://app.example"

func withCORS(s *v1alpha1.ScopePolicySpec) {
	s.CORS = &v1alpha1.CORS{
		AllowedOrigins: []v1alpha1.Origin{pageOrigin, "http://127.0.0.1:5173"},
		AllowedHeaders: []v1alpha1.HeaderName{"traceparent"},
		MaxAge:         &metav1.Duration{Duration: 10 * time.Minute},
	}
}

// corsServer is the env's guard wrapped in CORS, as cmd/api chains them.
func corsServer(t *testing.T, e *env) *httptest.Server {
	t.Helper()
	return corsServerOf(t, e.holder, e.keys)
}

func corsServerOf(t *testing.T, holder *policy.Holder, keys *auth.Keys) *httptest.Server {
	t.Helper()
	mw := &auth.Middleware{Policy: holder, Verifier: auth.NewVerifier(keys, 1000), Logger: slog.New(slog.DiscardHandler), Realm: "timesheets"}
	srv := httptest.NewServer((&auth.CORS{Policy: holder}).Wrap(mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))))
	t.Cleanup(srv.Close)
	return srv
}

func send(t *testing.T, srv *httptest.Server, method, path string, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	require.NoError(t, err)
	req.Header = header
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp
}

func preflight(origin, method string) http.Header {
	return http.Header{"Origin": {origin}, "Access-Control-Request-Method": {method},
		"Access-Control-Request-Headers": {"authorization"}}
}

// corsHeaders are the response's Access-Control-* headers.
func corsHeaders(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			out[k] = v
		}
	}
	return out
}

func TestCORSPreflight(t *testing.T) {
	e := newEnv(t, withCORS)
	srv := corsServer(t, e)
	cases := []struct {
		name, origin, path string
		methods            string // Access-Control-Allow-Methods; "" none
	}{
		{"methods of one path", pageOrigin, "/timesheets/7", "GET, HEAD, DELETE"},
		{"another path, other methods", pageOrigin, "/timesheets/7/approve", "POST"},
		{"a path several routes match", pageOrigin, "/timesheets/upload", "GET, HEAD, POST, DELETE"},
		{"a loopback origin", "http://127.0.0.1:5173", "/timesheets/7/approve", "POST"},
		{"a path no route names: no method", pageOrigin, "/nowhere", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.failures(auth.ReasonMissingToken, metrics.RouteUnmatched)
			resp := send(t, srv, "OPTIONS", tc.path, preflight(tc.origin, "DELETE"))
			require.Equal(t, http.StatusNoContent, resp.StatusCode, "answered before authentication: no token")
			want := http.Header{
				"Access-Control-Allow-Origin":  {tc.origin},
				"Access-Control-Allow-Headers": {"Authorization, Content-Type, Dpop, If-Match, Traceparent"},
				"Access-Control-Max-Age":       {"600"},
			}
			if tc.methods != "" {
				want["Access-Control-Allow-Methods"] = []string{tc.methods}
			}
			require.Equal(t, want, corsHeaders(resp.Header), "no wildcard, no credentials")
			require.Equal(t, []string{"Origin"}, resp.Header.Values("Vary"))
			require.Empty(t, resp.Header.Get("WWW-Authenticate"))
			require.Equal(t, before, e.failures(auth.ReasonMissingToken, metrics.RouteUnmatched),
				"a preflight is no failed authentication")
		})
	}

	t.Run("other origins are no preflight", func(t *testing.T) {
		for _, origin := range []string{"https://evil.example", "https://app.example:443", "https://APP.example", "https://app.example/", "null", "http://127.0.0.1:5174"} {
			resp := send(t, srv, "OPTIONS", "/timesheets/7", preflight(origin, "GET"))
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s: refused as without CORS", origin)
			require.Empty(t, corsHeaders(resp.Header), origin)
			require.Equal(t, []string{"Origin"}, resp.Header.Values("Vary"), "Fetch §3.2.5: the answer varied by Origin")
		}
	})
	t.Run("two Origin headers are no origin", func(t *testing.T) {
		h := preflight(pageOrigin, "GET")
		h.Add("Origin", pageOrigin)
		resp := send(t, srv, "OPTIONS", "/timesheets/7", h)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Empty(t, corsHeaders(resp.Header))
	})
	t.Run("OPTIONS without Access-Control-Request-Method is no preflight", func(t *testing.T) {
		resp := send(t, srv, "OPTIONS", "/timesheets/7", http.Header{"Origin": {pageOrigin}})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Equal(t, pageOrigin, resp.Header.Get("Access-Control-Allow-Origin"), "an actual request of an allowed origin")
		require.Empty(t, resp.Header.Get("Access-Control-Allow-Methods"))
	})
}

func TestCORSPreflightDefaultAuthenticated(t *testing.T) {
	e := newEnv(t, func(s *v1alpha1.ScopePolicySpec) {
		withCORS(s)
		s.DefaultAction = v1alpha1.DefaultActionAuthenticated
	})
	resp := send(t, corsServer(t, e), "OPTIONS", "/reports", preflight(pageOrigin, "PUT"))
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Equal(t, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS", resp.Header.Get("Access-Control-Allow-Methods"),
		"any valid token may call a path no route names")
}

func TestCORSActualResponses(t *testing.T) {
	e := newEnv(t, withCORS)
	srv := corsServer(t, e)
	cases := []struct {
		name   string
		method string
		path   string
		token  string
		status int
	}{
		{"allowed", "GET", "/timesheets/7", e.token(t, "read:timesheets"), http.StatusOK},
		{"no token", "GET", "/timesheets/7", "", http.StatusUnauthorized},
		{"bad token", "GET", "/timesheets/7", "not-a-jwt", http.StatusUnauthorized},
		{"insufficient scope", "DELETE", "/timesheets/7", e.token(t, "read:timesheets"), http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Origin": {pageOrigin}}
			if tc.token != "" {
				h.Set("Authorization", "Bearer "+tc.token)
			}
			resp := send(t, srv, tc.method, tc.path, h)
			require.Equal(t, tc.status, resp.StatusCode)
			require.Equal(t, http.Header{
				"Access-Control-Allow-Origin":   {pageOrigin},
				"Access-Control-Expose-Headers": {"WWW-Authenticate, Retry-After, Location, ETag, DPoP-Nonce"},
			}, corsHeaders(resp.Header), "no wildcard, no credentials")
			require.Equal(t, []string{"Origin"}, resp.Header.Values("Vary"))
			if tc.status != http.StatusOK {
				require.NotEmpty(t, resp.Header.Get("WWW-Authenticate"), "the challenge a page can now read")
			}
		})
	}
	t.Run("503: the issuer's keys unavailable", func(t *testing.T) {
		is := newIssuer(t)
		is.setDown(true)
		spec := baseSpec(is)
		withCORS(&spec)
		snap, err := policy.Compile("t", 1, spec)
		require.NoError(t, err)
		holder := &policy.Holder{}
		holder.Store(snap)
		srv := corsServerOf(t, holder, keysAfterFirstFetch(t, time.Hour, snap.Issuers))
		tok := is.sign(t, jwt.SigningMethodRS256, "rsa-1", jwt.MapClaims{"iss": is.iss(), "aud": audience, "exp": time.Now().Add(time.Hour).Unix()})
		resp := send(t, srv, "GET", "/timesheets/7", http.Header{"Origin": {pageOrigin}, "Authorization": {"Bearer " + tok}})
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		require.Equal(t, pageOrigin, resp.Header.Get("Access-Control-Allow-Origin"))
		require.Contains(t, resp.Header.Get("Access-Control-Expose-Headers"), "Retry-After")
		require.NotEmpty(t, resp.Header.Get("Retry-After"))
	})
	t.Run("another origin gets no CORS headers", func(t *testing.T) {
		resp := send(t, srv, "GET", "/timesheets/7", http.Header{"Origin": {"https://evil.example"},
			"Authorization": {"Bearer " + e.token(t, "read:timesheets")}})
		require.Equal(t, http.StatusOK, resp.StatusCode, "CORS guards browsers' reading, not the API")
		require.Empty(t, corsHeaders(resp.Header))
		require.Equal(t, []string{"Origin"}, resp.Header.Values("Vary"))
	})
	t.Run("no Origin: same-origin or not a browser", func(t *testing.T) {
		resp := send(t, srv, "GET", "/timesheets/7", http.Header{"Authorization": {"Bearer " + e.token(t, "read:timesheets")}})
		require.Empty(t, corsHeaders(resp.Header))
		require.Equal(t, []string{"Origin"}, resp.Header.Values("Vary"))
	})
}

func TestCORSFollowsThePolicy(t *testing.T) {
	e := newEnv(t, withCORS)
	srv := corsServer(t, e)
	allowed := func() bool {
		return send(t, srv, "OPTIONS", "/timesheets/7", preflight(pageOrigin, "GET")).Header.Get("Access-Control-Allow-Origin") == pageOrigin
	}
	require.True(t, allowed())

	t.Run("a policy without cors", func(t *testing.T) {
		e.apply(t, baseSpec(e.is))
		require.False(t, allowed())
		resp := send(t, srv, "GET", "/timesheets/7", http.Header{"Origin": {pageOrigin}})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Empty(t, corsHeaders(resp.Header))
		require.Empty(t, resp.Header.Values("Vary"), "nothing varies by Origin")
	})
	t.Run("another origin only", func(t *testing.T) {
		spec := baseSpec(e.is)
		spec.CORS = &v1alpha1.CORS{AllowedOrigins: []v1alpha1.Origin{"https://other.example"}}
		e.apply(t, spec)
		require.False(t, allowed())
		resp := send(t, srv, "OPTIONS", "/timesheets/7", preflight("https://other.example", "GET"))
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
		require.Equal(t, "Authorization, Content-Type, Dpop, If-Match", resp.Header.Get("Access-Control-Allow-Headers"))
		require.Empty(t, resp.Header.Get("Access-Control-Max-Age"), "unset: the browser's default")
	})
	t.Run("no policy in force", func(t *testing.T) {
		e.holder.Store(nil)
		resp := send(t, srv, "OPTIONS", "/timesheets/7", preflight("https://other.example", "GET"))
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "fails closed as without CORS")
		require.Empty(t, corsHeaders(resp.Header))
	})
	t.Run("back again, without a restart", func(t *testing.T) {
		spec := baseSpec(e.is)
		withCORS(&spec)
		e.apply(t, spec)
		require.True(t, allowed())
	})
}
