package openapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/openapi"
	"github.com/abc-inc/timesheets/pkg/openapi/openapitest"
	"github.com/abc-inc/timesheets/pkg/policy"
)

// TestDocumentIsOpenAPI31: the document loads and validates as OpenAPI
// 3.1, and its OAuth 2.0 scheme is client credentials.
func TestDocumentIsOpenAPI31(t *testing.T) {
	doc, _, err := openapitest.Load()
	require.NoError(t, err)
	require.True(t, doc.IsOpenAPI31OrLater(), doc.OpenAPI)
	require.False(t, doc.IsOpenAPI32OrLater(), doc.OpenAPI)
	scheme := doc.Components.SecuritySchemes["oauth2"].Value
	require.Equal(t, "oauth2", scheme.Type)
	require.NotNil(t, scheme.Flows.ClientCredentials)
	require.Equal(t, "https://TENANT.auth0.com/oauth/token", scheme.Flows.ClientCredentials.TokenURL)
}

// TestScopesAreTheSamplePolicys: each operation needs exactly the scope the
// sample policy gives its route, and the discovery documents none.
func TestScopesAreTheSamplePolicys(t *testing.T) {
	doc, _, err := openapitest.Load()
	require.NoError(t, err)
	want := map[string][]string{}
	for _, r := range policy.Sample("https://issuer.example/", "aud").Routes {
		for _, m := range r.Methods {
			want[m+" "+r.Path] = r.Scopes
		}
	}
	declared := doc.Components.SecuritySchemes["oauth2"].Value.Flows.ClientCredentials.Scopes
	got := map[string][]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			require.NotNil(t, op.Security, "%s %s states no security", method, path)
			if len(*op.Security) == 0 {
				continue // public
			}
			require.Len(t, *op.Security, 1, "%s %s", method, path)
			scopes := (*op.Security)[0]["oauth2"]
			for _, s := range scopes {
				require.Contains(t, declared, s, "%s %s", method, path)
			}
			got[method+" "+path] = scopes
		}
	}
	require.Equal(t, want, got)
}

// TestHandlerServesTheDocument: GET answers the embedded document as JSON
// that matches its own operation.
func TestHandlerServesTheDocument(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET "+openapi.Path, openapi.Handler())
	srv := httptest.NewServer(openapitest.Handler(t, mux, openapitest.Options{}))
	t.Cleanup(srv.Close)

	resp, err := srv.Client().Get(srv.URL + openapi.Path)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.JSONEq(t, string(openapi.Document), string(body))
}
