package policy_test

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/policy"
	"github.com/abc-inc/timesheets/pkg/policy/policytest"
)

func spec() v1alpha1.ScopePolicySpec {
	return v1alpha1.ScopePolicySpec{
		Issuers:   []v1alpha1.Issuer{{URL: "https://abc.eu.auth0.com/"}},
		Audiences: []string{"https://timesheets.abc-inc.example/"},
		Routes: []v1alpha1.Route{
			{Path: "/timesheets/{id}/approve", Methods: []string{"POST"}, Scopes: []string{"approve:timesheets"}},
			{Path: "/timesheets/{id}", Methods: []string{"GET"}, Scopes: []string{"read:timesheets"}},
			{Path: "/timesheets/healthcheck", Public: true},
			{Path: "/timesheets/", Scopes: []string{"read:timesheets"}},
		},
	}
}

func TestCompileDefaults(t *testing.T) {
	s, err := policy.Compile("t", 3, spec())
	require.NoError(t, err)
	require.Equal(t, []string{"RS256"}, s.Algorithms)
	require.Equal(t, 30*time.Second, s.ClockSkew)
	require.Equal(t, []string{"scope", "scp", "permissions"}, s.ScopeClaims)
	require.Equal(t, v1alpha1.DefaultActionDeny, s.DefaultAction)
	require.False(t, s.Audit)
	require.True(t, s.AlgorithmAllowed("RS256"))
	require.False(t, s.AlgorithmAllowed("HS256"))
	_, ok := s.Issuer("https://abc.eu.auth0.com")
	require.False(t, ok, "issuer match is exact: no trailing-slash normalisation")
}

func TestMatch(t *testing.T) {
	s, err := policy.Compile("t", 1, spec())
	require.NoError(t, err)
	cases := []struct{ method, path, want string }{
		{"POST", "/timesheets/14/approve", "POST /timesheets/{id}/approve"},
		{"GET", "/timesheets/14", "GET /timesheets/{id}"},
		{"GET", "/timesheets/healthcheck", "/timesheets/healthcheck"},
		{"DELETE", "/timesheets/14", "/timesheets/"},
		{"GET", "/timesheets/14/approve", "/timesheets/"},
		{"GET", "/other", ""},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := s.Match(httptest.NewRequest(tc.method, tc.path, nil))
			if tc.want == "" {
				require.Nil(t, r)
				return
			}
			require.NotNil(t, r)
			require.Equal(t, tc.want, r.Pattern)
		})
	}
}

func TestCompileRefuses(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*v1alpha1.ScopePolicySpec)
		want   string
	}{
		{"no issuers", func(s *v1alpha1.ScopePolicySpec) { s.Issuers = nil }, "spec.issuers: need 1 to 8"},
		{"no audiences", func(s *v1alpha1.ScopePolicySpec) { s.Audiences = nil }, "spec.audiences: need 1 to 16"},
		{"HS256", func(s *v1alpha1.ScopePolicySpec) { s.Algorithms = []v1alpha1.Algorithm{"HS256"} }, `spec.algorithms[0]: "HS256" is not allowed`},
		{"none", func(s *v1alpha1.ScopePolicySpec) { s.Algorithms = []v1alpha1.Algorithm{"none"} }, `"none" is not allowed`},
		{"skew over 5m", func(s *v1alpha1.ScopePolicySpec) { s.ClockSkew = &metav1.Duration{Duration: 6 * time.Minute} }, "spec.clockSkew"},
		{"relative path", func(s *v1alpha1.ScopePolicySpec) { s.Routes[0].Path = "timesheets" }, "must start with /"},
		{"unknown method", func(s *v1alpha1.ScopePolicySpec) { s.Routes[0].Methods = []string{"FETCH"} }, `method "FETCH"`},
		{"public and scoped", func(s *v1alpha1.ScopePolicySpec) { s.Routes[2].Scopes = []string{"x"} }, "either public or requires scopes"},
		{"duplicate method and path", func(s *v1alpha1.ScopePolicySpec) {
			s.Routes = append(s.Routes, v1alpha1.Route{Path: "/timesheets/{id}", Methods: []string{"GET"}})
		}, "GET /timesheets/{id} is already covered"},
		{"patterns net/http finds ambiguous", func(s *v1alpha1.ScopePolicySpec) {
			s.Routes = append(s.Routes,
				v1alpha1.Route{Path: "/a/{x}", Methods: []string{"GET"}},
				v1alpha1.Route{Path: "/{y}/b", Methods: []string{"GET"}})
		}, "conflicts with"},
		{"bad pattern syntax", func(s *v1alpha1.ScopePolicySpec) { s.Routes[0].Path = "/a/{x" }, "spec.routes[0]"},
		{"issuer not a URL", func(s *v1alpha1.ScopePolicySpec) { s.Issuers[0].URL = "abc.eu.auth0.com" }, "absolute http(s) URL"},
		{"plain http issuer off loopback", func(s *v1alpha1.ScopePolicySpec) { s.Issuers[0].URL = "http://abc.eu.auth0.com/" },
			`spec.issuers[0].url: "http://abc.eu.auth0.com/" must use https`},
		{"plain http JWKS off loopback", func(s *v1alpha1.ScopePolicySpec) { s.Issuers[0].JWKSURI = "http://10.0.0.7/jwks.json" },
			`spec.issuers[0].jwksURI: "http://10.0.0.7/jwks.json" must use https`},
		{"bad scope claim", func(s *v1alpha1.ScopePolicySpec) { s.ScopeClaims = []v1alpha1.ScopeClaim{"roles"} }, `"roles" is not supported`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sp := spec()
			tc.mutate(&sp)
			_, err := policy.Compile("t", 1, sp)
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), "registered at", "errors name the policy, not our source files")
		})
	}
}

// TestCompileLoopbackHTTP: a development issuer on this machine may speak
// plain http; nothing else may.
func TestCompileLoopbackHTTP(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:9443/", "http://localhost:9443/", "http://[::1]:9443/"} {
		sp := spec()
		sp.Issuers[0].URL, sp.Issuers[0].JWKSURI = u, u+".well-known/jwks.json"
		_, err := policy.Compile("t", 1, sp)
		require.NoError(t, err, u)
	}
}

func TestLoadFileAndWatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	doc := `apiVersion: auth.timesheets.dev/v1alpha1
kind: ScopePolicy
metadata: {name: timesheets}
spec:
  issuers: [{url: "https://abc.eu.auth0.com/"}]
  audiences: ["https://timesheets.abc-inc.example/"]
  routes:
  - {path: /timesheets, methods: [GET], scopes: [read:timesheets]}
`
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
	s, err := policy.LoadFile(path)
	require.NoError(t, err)
	require.Len(t, s.Routes, 1)

	t.Run("unknown fields are refused", func(t *testing.T) {
		bad := filepath.Join(dir, "typo.yaml")
		require.NoError(t, os.WriteFile(bad, []byte(strings.Replace(doc, "scopes:", "scope:", 1)), 0o600))
		_, err := policy.LoadFile(bad)
		require.ErrorContains(t, err, "scope")
	})
	t.Run("wrong kind is refused", func(t *testing.T) {
		bad := filepath.Join(dir, "kind.yaml")
		require.NoError(t, os.WriteFile(bad, []byte(strings.Replace(doc, "kind: ScopePolicy", "kind: ConfigMap", 1)), 0o600))
		_, err := policy.LoadFile(bad)
		require.ErrorContains(t, err, "kind ScopePolicy")
	})
}

// TestCompileJudgesLikeTheCRD runs the table the CRD test in pkg/controller
// runs on a real kube-apiserver: Compile must reach the same verdict.
func TestCompileJudgesLikeTheCRD(t *testing.T) {
	for _, tc := range append(policytest.Cases(), policytest.CompileOnly()...) {
		t.Run(tc.Name, func(t *testing.T) {
			_, err := policy.Compile("t", 1, tc.Spec)
			if tc.Valid {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}

func TestCompileTokenTypeAndAge(t *testing.T) {
	s, err := policy.Compile("t", 1, spec())
	require.NoError(t, err)
	require.Equal(t, 24*time.Hour, s.MaxTokenAge, "Auth0's default access-token lifetime")
	require.Empty(t, s.TokenType, "any typ unless required")

	for in, want := range map[string]string{"at+jwt": "application/at+jwt", "AT+JWT": "application/at+jwt", "Application/At+JWT": "application/at+jwt"} {
		sp := spec()
		sp.RequireTokenType = in
		sp.MaxTokenAge = &metav1.Duration{Duration: time.Hour}
		s, err := policy.Compile("t", 1, sp)
		require.NoError(t, err, in)
		require.Equal(t, want, s.TokenType, in)
		require.Equal(t, time.Hour, s.MaxTokenAge)
	}
}

func TestScopeToken(t *testing.T) {
	for s, want := range map[string]bool{
		"read:timesheets": true, "!": true, "~": true, "[x]": true, "#": true,
		"": false, " ": false, "a b": false, "a\u00a0b": false, `a"b`: false, `a\b`: false, "a\x7f": false, "\u00e4": false,
	} {
		require.Equal(t, want, policy.ScopeToken(s), "%q", s)
	}
}

// The strict sample requires at+jwt tokens valid for at most an hour; the
// main sample leaves both at their defaults, so the development issuer's
// tokens (typ JWT, 1h) pass it.
func TestStrictSample(t *testing.T) {
	load := func(name string) *policy.Snapshot {
		t.Helper()
		s, err := policy.LoadFile(filepath.Join("..", "..", "config", "samples", name))
		require.NoError(t, err)
		return s
	}
	strict := load("auth_v1alpha1_scopepolicy_strict.yaml")
	require.Equal(t, "application/at+jwt", strict.TokenType)
	require.Equal(t, time.Hour, strict.MaxTokenAge)
	main := load("auth_v1alpha1_scopepolicy.yaml")
	require.Empty(t, main.TokenType)
	require.Equal(t, policy.DefaultMaxTokenAge, main.MaxTokenAge)
	require.Equal(t, len(main.Routes), len(strict.Routes), "the same endpoints")
}

// TestCompileResourceAndCORS: the snapshot fields the metadata and CORS
// handlers read.
func TestCompileResourceAndCORS(t *testing.T) {
	spec := policytest.Base()
	s, err := policy.Compile("t", 1, spec)
	if err != nil {
		t.Fatal(err)
	}
	if s.Resource != spec.Audiences[0] || s.CORS != nil {
		t.Fatalf("defaults: resource %q, cors %+v; want the first audience and no CORS", s.Resource, s.CORS)
	}
	spec.Resource = "https://api.abc-inc.example/ts"
	spec.CORS = &v1alpha1.CORS{
		AllowedOrigins: []v1alpha1.Origin{"https://app.example", "http://localhost:5173"},
		AllowedHeaders: []v1alpha1.HeaderName{"traceparent", "authorization", "TRACEPARENT"},
		MaxAge:         &metav1.Duration{Duration: 90*time.Second + 500*time.Millisecond},
	}
	if s, err = policy.Compile("t", 1, spec); err != nil {
		t.Fatal(err)
	}
	if s.Resource != spec.Resource {
		t.Errorf("resource %q, want %q", s.Resource, spec.Resource)
	}
	if want := []string{"Authorization", "Content-Type", "Dpop", "If-Match", "Traceparent"}; !slices.Equal(s.CORS.AllowedHeaders, want) {
		t.Errorf("allowed headers %q, want %q", s.CORS.AllowedHeaders, want)
	}
	if s.CORS.MaxAge != 90*time.Second {
		t.Errorf("max age %s, want 1m30s (whole seconds)", s.CORS.MaxAge)
	}
	if !s.CORS.OriginAllowed("http://localhost:5173") || s.CORS.OriginAllowed("http://localhost:5174") || s.CORS.OriginAllowed("https://APP.example") {
		t.Error("origins must match exactly")
	}
}
