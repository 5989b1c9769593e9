package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/policy"
	"github.com/abc-inc/timesheets/pkg/service"
	"github.com/abc-inc/timesheets/pkg/store"
)

// mdStack is the service with a --public-url, at hand so a test can change
// the policy in force as a reload would.
type mdStack struct {
	srv    *httptest.Server
	svc    *service.Service
	client *http.Client
}

func newMDStack(t *testing.T, spec v1alpha1.ScopePolicySpec, publicURL string, tlsOn bool) *mdStack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	logger := slog.New(slog.DiscardHandler)
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "ts.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	var pub *url.URL
	if publicURL != "" {
		pub, err = auth.ParsePublicURL(publicURL)
		require.NoError(t, err)
	}
	s := &mdStack{svc: startService(t, service.Options{Store: st, Logger: logger, TokenCacheSize: 100, PublicURL: pub}, spec)}
	h := s.svc.Handler()
	if tlsOn {
		s.srv = httptest.NewTLSServer(h)
	} else {
		s.srv = httptest.NewServer(h)
	}
	t.Cleanup(s.srv.Close)
	s.client = s.srv.Client()
	if pub != nil {
		// The public host resolves to the test server, as through an ingress.
		tr := s.client.Transport.(*http.Transport).Clone()
		addr := s.srv.Listener.Addr().String()
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
		s.client = &http.Client{Transport: tr}
	}
	return s
}

func (s *mdStack) apply(t *testing.T, spec v1alpha1.ScopePolicySpec) {
	t.Helper()
	snap, err := policy.Compile("test", 2, spec)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.svc.Enforce(ctx, snap))
}

func (s *mdStack) get(t *testing.T, rawURL, token string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

var resourceMetadataParam = regexp.MustCompile(`resource_metadata="([^"]*)"`)

// challengeMetadata is the resource_metadata of a response's challenge.
func challengeMetadata(t *testing.T, resp *http.Response) string {
	t.Helper()
	m := resourceMetadataParam.FindStringSubmatch(resp.Header.Get("WWW-Authenticate"))
	require.NotNil(t, m, "challenge without resource_metadata: %q", resp.Header.Get("WWW-Authenticate"))
	return m[1]
}

func decodeMetadata(t *testing.T, resp *http.Response, b []byte) auth.ProtectedResource {
	t.Helper()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var doc auth.ProtectedResource
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&doc))
	return doc
}

// metadata fetches the document at rawURL without a token.
func (s *mdStack) metadata(t *testing.T, rawURL string) auth.ProtectedResource {
	t.Helper()
	resp, b := s.get(t, rawURL, "")
	return decodeMetadata(t, resp, b)
}

// wellKnownFor forms a metadata URL from a resource identifier as RFC 9728
// §3.1 says, written apart from auth.Metadata so the test can catch it: the
// well-known path goes between the host and the path, a terminating "/"
// after the host removed.
func wellKnownFor(t *testing.T, resource string) string {
	t.Helper()
	u, err := url.Parse(resource)
	require.NoError(t, err)
	p := u.EscapedPath()
	if p == "/" {
		p = ""
	}
	return u.Scheme + "://" + u.Host + "/.well-known/oauth-protected-resource" + p
}

// TestMetadataFollowingTheChallenge: a client refused without a token (401)
// or for a missing scope (403) follows resource_metadata, with no token,
// and gets the document the well-known URL serves: the policy's issuers,
// every scope its routes need, the first audience as resource. The policy
// naming the well-known path (even requiring a scope) does not guard it.
func TestMetadataFollowingTheChallenge(t *testing.T) {
	is := newDevIssuer(t)
	spec := policy.Sample(is.Issuer(), devAudience)
	spec.Routes = append(spec.Routes, v1alpha1.Route{Path: "/.well-known/", Scopes: []string{"admin"}})
	s := newMDStack(t, spec, "", false)

	resp, _ := s.get(t, s.srv.URL+"/timesheets", "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	mdURL := challengeMetadata(t, resp)
	require.Equal(t, s.srv.URL+"/.well-known/oauth-protected-resource", mdURL, "formed from the request's scheme and Host")

	tok, err := is.Mint(is.Claims("importer", devAudience, []string{"batch:upload"}))
	require.NoError(t, err)
	resp, _ = s.get(t, s.srv.URL+"/timesheets", tok)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Equal(t, mdURL, challengeMetadata(t, resp), "403 insufficient_scope names it too")

	followed := s.metadata(t, mdURL)
	direct := s.metadata(t, s.srv.URL+auth.WellKnownPath)
	require.Equal(t, direct, followed)
	require.Equal(t, auth.ProtectedResource{
		Resource:               devAudience,
		AuthorizationServers:   []string{is.Issuer()},
		ScopesSupported:        []string{"admin", "approve:timesheets", "batch:upload", "create:timesheets", "delete:timesheets", "read:timesheets", "update:timesheets"},
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "Timesheets API",
		OpenAPIURL:             s.srv.URL + "/openapi.json",
		// The sample policy allows DPoP (RFC 9449) with its algorithms.
		DPoPSigningAlgValuesSupported: []string{"RS256"},
	}, followed)
}

// TestMetadataFollowsThePolicy: a new policy changes the document at once;
// with no policy in force it is 503, as the protected routes are.
func TestMetadataFollowsThePolicy(t *testing.T) {
	is := newDevIssuer(t)
	spec := policy.Sample(is.Issuer(), devAudience)
	s := newMDStack(t, spec, "", false)
	mdURL := s.srv.URL + auth.WellKnownPath

	spec.Resource = "https://api.abc-inc.example/timesheets"
	spec.Identity = &v1alpha1.Identity{EmployeeClaim: "https://abc-inc.example/employee_id", AllEntriesScope: "read:all-timesheets"}
	s.apply(t, spec)
	doc := s.metadata(t, mdURL)
	require.Equal(t, spec.Resource, doc.Resource)
	require.Contains(t, doc.ScopesSupported, "read:all-timesheets")

	s.svc.Activator.Remove() // as a deleted ScopePolicy
	resp, b := s.get(t, mdURL, "")
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, string(b))
	require.Equal(t, "5", resp.Header.Get("Retry-After"))
	require.JSONEq(t, `{"error":"temporarily_unavailable","error_description":"no access policy is loaded; try again later"}`, string(b))
}

// TestMetadataUnderAPublicURL: behind an ingress at https://example.com/ts
// (--public-url, equal to spec.resource), the challenge names the
// path-aware metadata URL of RFC 9728 §3.1, and the document passes the
// client's check of §3.3: its resource is the identifier the metadata URL
// was formed from.
func TestMetadataUnderAPublicURL(t *testing.T) {
	const public = "https://example.com/ts" // httptest's certificate names example.com
	is := newDevIssuer(t)
	spec := policy.Sample(is.Issuer(), devAudience)
	spec.Resource = public
	s := newMDStack(t, spec, public, true)

	resp, _ := s.get(t, "https://example.com/timesheets", "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	mdURL := challengeMetadata(t, resp)
	require.Equal(t, "https://example.com/.well-known/oauth-protected-resource/ts", mdURL)

	doc := s.metadata(t, mdURL)
	require.Equal(t, public, doc.Resource)
	require.Equal(t, mdURL, wellKnownFor(t, doc.Resource), "RFC 9728 §3.3: resource must match the URL the metadata was fetched from")
	require.Equal(t, "https://example.com/ts/openapi.json", doc.OpenAPIURL)
	// The root form stays served for clients that try it first.
	require.Equal(t, doc, s.metadata(t, "https://example.com"+auth.WellKnownPath))
}

// TestMetadataSchemeByTLS: without --public-url, a request over TLS gets an
// https metadata URL.
func TestMetadataSchemeByTLS(t *testing.T) {
	is := newDevIssuer(t)
	s := newMDStack(t, policy.Sample(is.Issuer(), devAudience), "", true)
	resp, _ := s.get(t, s.srv.URL+"/timesheets", "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.True(t, strings.HasPrefix(s.srv.URL, "https://"))
	require.Equal(t, s.srv.URL+auth.WellKnownPath, challengeMetadata(t, resp))
}
