package main

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/openapi"
	"github.com/abc-inc/timesheets/pkg/openapi/openapitest"
	"github.com/abc-inc/timesheets/pkg/policy"
	"github.com/abc-inc/timesheets/pkg/service"
	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// routeList lists the patterns registered on it.
type routeList []string

func (l *routeList) Handle(pattern string, _ http.Handler) { *l = append(*l, pattern) }

func (l *routeList) HandleFunc(pattern string, _ func(http.ResponseWriter, *http.Request)) {
	*l = append(*l, pattern)
}

// TestRoutesAreDocumented: the document has an operation for every route
// the API serves and no other, and the operations without security are
// exactly the routes served outside the policy.
func TestRoutesAreDocumented(t *testing.T) {
	var guarded, public routeList
	(&timesheets.API{}).Register(&guarded)
	service.RegisterPublic(&public, &auth.Metadata{})
	served := slices.Sorted(slices.Values(append(slices.Clone(guarded), public...)))
	slices.Sort(public)

	doc, _, err := openapitest.Load()
	require.NoError(t, err)
	var documented, documentedPublic []string
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			pattern := method + " " + path
			documented = append(documented, pattern)
			if op.Security != nil && len(*op.Security) == 0 {
				documentedPublic = append(documentedPublic, pattern)
			}
		}
	}
	slices.Sort(documented)
	slices.Sort(documentedPublic)
	require.Equal(t, documented, served, "routes served (right) and documented (left)")
	require.Equal(t, documentedPublic, []string(public), "routes served outside the policy (right) and documented without security (left)")
}

// TestOpenAPIIsPublic: the document is served without a token, where the
// protected-resource metadata says, even by a policy whose default denies
// and whose routes name its path with a scope; other methods on its path
// are the policy's, as any unknown route.
func TestOpenAPIIsPublic(t *testing.T) {
	is := newDevIssuer(t)
	spec := policy.Sample(is.Issuer(), devAudience)
	spec.DefaultAction = v1alpha1.DefaultActionDeny
	spec.Routes = append(spec.Routes, v1alpha1.Route{Path: openapi.Path, Methods: []string{"GET"}, Scopes: []string{"admin:everything"}})
	s := newStackPolicy(t, true, "sqlite://"+t.TempDir()+"/ts.db", is, spec)

	// As a client finds it: the protected-resource metadata links to it.
	md := s.do(t, "GET", auth.WellKnownPath, "", "", "")
	require.Equal(t, http.StatusOK, md.status, md.raw)
	require.Equal(t, s.srv.URL+openapi.Path, md.body["openapi_url"])

	resp, err := s.srv.Client().Get(md.body["openapi_url"].(string))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.JSONEq(t, string(openapi.Document), string(body))

	r := s.do(t, "POST", openapi.Path, "", jsonType, "{}")
	require.Equal(t, http.StatusUnauthorized, r.status, r.raw)
}

// TestPolicyRefusalsMatchTheDocument: each kind of refusal by the policy
// (RFC 6750 bodies and challenges on 400, 401 and 403) is checked against
// the document by the stack's checks.
func TestPolicyRefusalsMatchTheDocument(t *testing.T) {
	s := newStack(t, true)
	importer := s.token(t, "importer")
	for _, tc := range []struct {
		name, token, path string
		status            int
		header            map[string]string
	}{
		{name: "no token", path: "/timesheets", status: http.StatusUnauthorized},
		{name: "not a JWT", token: "not-a-jwt", path: "/timesheets", status: http.StatusUnauthorized},
		{name: "two Authorization headers", token: importer, path: "/timesheets",
			header: map[string]string{"Authorization": "Bearer x"}, status: http.StatusBadRequest},
		{name: "token in the query", token: importer, path: "/timesheets?access_token=x", status: http.StatusBadRequest},
		{name: "a scope short", token: importer, path: "/timesheets/1", status: http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest("DELETE", s.srv.URL+tc.path, nil)
			if tc.status != http.StatusForbidden {
				req, err = http.NewRequest("GET", s.srv.URL+tc.path, nil)
			}
			require.NoError(t, err)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			for k, v := range tc.header {
				req.Header.Add(k, v)
			}
			resp, err := s.srv.Client().Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, tc.status, resp.StatusCode)
			require.True(t, strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer "), resp.Header)
		})
	}
}
