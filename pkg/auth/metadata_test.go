package auth_test

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/policy"
)

func TestParsePublicURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://api.example":          "https://api.example",
		"https://api.example/":         "https://api.example",
		"https://api.example/ts/":      "https://api.example/ts",
		"https://api.example:8443/a/b": "https://api.example:8443/a/b",
		"http://localhost:8080":        "http://localhost:8080",
		"http://127.0.0.1:8080/ts":     "http://127.0.0.1:8080/ts",
		"http://api.example":           "",
		"ftp://api.example":            "",
		"/ts":                          "",
		"https://u@api.example":        "",
		"https://api.example/?a=b":     "",
		"https://api.example/?":        "",
		"https://api.example/#x":       "",
		"https://api.example/{id}":     "",
		`https://api.example/a"b`:      "",
	} {
		u, err := auth.ParsePublicURL(raw)
		if want == "" {
			require.Error(t, err, raw)
			continue
		}
		require.NoError(t, err, raw)
		require.Equal(t, want, u.String(), raw)
	}
}

// TestMetadataURL: RFC 9728 §3.1, the well-known path between the host and
// the base URL's path; without a public URL, the request's scheme (by TLS)
// and Host.
func TestMetadataURL(t *testing.T) {
	for _, tc := range []struct {
		public, host string
		tls          bool
		want         string
	}{
		{"", "api.internal:8080", false, "http://api.internal:8080/.well-known/oauth-protected-resource"},
		{"", "api.internal:8443", true, "https://api.internal:8443/.well-known/oauth-protected-resource"},
		{"https://api.example/", "ignored", false, "https://api.example/.well-known/oauth-protected-resource"},
		{"https://api.example/ts", "ignored", false, "https://api.example/.well-known/oauth-protected-resource/ts"},
		{"https://api.example:8443/a/b/", "ignored", true, "https://api.example:8443/.well-known/oauth-protected-resource/a/b"},
	} {
		m := &auth.Metadata{Policy: &policy.Holder{}}
		if tc.public != "" {
			u, err := auth.ParsePublicURL(tc.public)
			require.NoError(t, err)
			m.PublicURL = u
		}
		r := httptest.NewRequest("GET", "/timesheets", nil)
		r.Host = tc.host
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
		}
		require.Equal(t, tc.want, m.URL(r), "public %q, host %q", tc.public, tc.host)
	}
}
