package dpop_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/dpop"
)

func TestNormalizeHTU(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://api.example.com/v1/entries", "https://api.example.com/v1/entries"},
		// RFC 3986 §6.2.2.1: scheme and host case.
		{"HTTPS://API.Example.COM/v1/Entries", "https://api.example.com/v1/Entries"},
		// §6.2.3: default and empty ports, empty path.
		{"https://api.example.com:443/x", "https://api.example.com/x"},
		{"http://api.example.com:80/x", "http://api.example.com/x"},
		{"http://api.example.com:443/x", "http://api.example.com:443/x"},
		{"https://api.example.com:80/x", "https://api.example.com:80/x"},
		{"https://api.example.com:8443/x", "https://api.example.com:8443/x"},
		{"https://api.example.com:/x", "https://api.example.com/x"},
		{"https://api.example.com", "https://api.example.com/"},
		{"https://api.example.com?q=1", "https://api.example.com/"},
		// RFC 9449 §4.2: no query, no fragment.
		{"https://api.example.com/x?a=1&b=2#frag", "https://api.example.com/x"},
		{"https://api.example.com/x?", "https://api.example.com/x"},
		{"https://api.example.com/x#", "https://api.example.com/x"},
		// The path is kept, trailing slash and case included.
		{"https://api.example.com/x/", "https://api.example.com/x/"},
		{"https://api.example.com//x", "https://api.example.com//x"},
		// §6.2.2.2: percent-encoding case; unreserved characters decoded.
		{"https://api.example.com/a%2fb", "https://api.example.com/a%2Fb"},
		{"https://api.example.com/%7Euser/%61", "https://api.example.com/~user/a"},
		{"https://api.example.com/a%20b", "https://api.example.com/a%20b"},
		{"https://api.example.com/a b", "https://api.example.com/a%20b"},
		// §6.2.2.3: dot segments.
		{"https://api.example.com/a/./b/../c", "https://api.example.com/a/c"},
		{"https://api.example.com/../a", "https://api.example.com/a"},
		{"https://api.example.com/a/..", "https://api.example.com/"},
		{"https://api.example.com/a/%2E%2E/b", "https://api.example.com/b"},
		{"https://api.example.com/a.b/c..d", "https://api.example.com/a.b/c..d"},
		// Hosts: IP literals.
		{"https://[::1]:443/x", "https://[::1]/x"},
		{"https://[2001:DB8::1]:8443/x", "https://[2001:db8::1]:8443/x"},
		{"http://127.0.0.1:8080/x", "http://127.0.0.1:8080/x"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := dpop.NormalizeHTU(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			again, err := dpop.NormalizeHTU(got)
			require.NoError(t, err)
			require.Equal(t, got, again, "idempotent")
		})
	}
	for _, in := range []string{
		"", "/v1/entries", "api.example.com/v1", "//api.example.com/v1", "ftp://api.example.com/x",
		"https:opaque", "https://", "https://user:pw@api.example.com/x", "https://user@api.example.com/x",
		"https://api.example.com:port/x", "https://api.example.com/%zz", "mailto:a@example.com", ":",
	} {
		t.Run("refuses "+in, func(t *testing.T) {
			_, err := dpop.NormalizeHTU(in)
			require.Error(t, err)
		})
	}
}
