package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	ctrl "sigs.k8s.io/controller-runtime"
)

func TestParseFlags(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string // "" = valid
	}{
		{"dev alone", []string{"--dev"}, ""},
		{"policy file", []string{"--policy-file", "p.yaml"}, ""},
		{"cluster policy", []string{"--policy", "ns/name"}, ""},
		{"no policy", nil, "no policy"},
		{"both policies", []string{"--policy-file", "p.yaml", "--policy", "ns/n"}, "not both"},
		{"dev with cluster", []string{"--dev", "--policy", "ns/n"}, "without a cluster"},
		{"negative cache", []string{"--dev", "--token-cache-size", "-1"}, "must not be negative"},
		{"stray argument", []string{"--dev", "extra"}, "unexpected arguments"},
		{"tls pair", []string{"--dev", "--tls-cert-file", "c.pem", "--tls-key-file", "k.pem"}, ""},
		{"tls cert without key", []string{"--dev", "--tls-cert-file", "c.pem"}, "together"},
		{"tls key without cert", []string{"--dev", "--tls-key-file", "k.pem"}, "together"},
		{"public URL", []string{"--dev", "--public-url", "https://api.example/ts"}, ""},
		{"public URL over http", []string{"--dev", "--public-url", "http://api.example/ts"}, "must use https"},
		{"public URL with a query", []string{"--dev", "--public-url", "https://api.example/?a=b"}, "query"},
		{"kubeconfig in cluster mode", []string{"--policy", "ns/name", "--kubeconfig", "/k"}, ""},
		{"kubeconfig without a cluster policy", []string{"--dev", "--kubeconfig", "/k"}, "--kubeconfig is for --policy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFlags(tc.args)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
			var ue usageError
			require.True(t, errors.As(err, &ue))
			require.Equal(t, 2, exitCode(err), "configuration errors exit 2")
		})
	}
}

func TestDatabaseURLFromEnvironment(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://u@127.0.0.1/db")
	c, err := parseFlags([]string{"--dev"})
	require.NoError(t, err)
	require.Equal(t, "postgres://u@127.0.0.1/db", c.databaseURL)
}

func TestSplitPolicyRef(t *testing.T) {
	ns, name, err := splitPolicyRef("team/timesheets", "")
	require.NoError(t, err)
	require.Equal(t, [2]string{"team", "timesheets"}, [2]string{ns, name})
	ns, name, err = splitPolicyRef("timesheets", "pod-ns")
	require.NoError(t, err)
	require.Equal(t, [2]string{"pod-ns", "timesheets"}, [2]string{ns, name})
	for _, bad := range []string{"timesheets", "a/b/c", "/x", "ns/"} {
		_, _, err := splitPolicyRef(bad, "")
		require.Error(t, err, bad)
	}
}

// TestKubeconfigFlag: --kubeconfig names the cluster runInCluster's
// ctrl.GetConfig talks to, ahead of $KUBECONFIG, as in controller-runtime
// managers.
func TestKubeconfigFlag(t *testing.T) {
	write := func(server string) string {
		p := filepath.Join(t.TempDir(), "kubeconfig")
		require.NoError(t, os.WriteFile(p, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: `+server+`}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600))
		return p
	}
	t.Setenv("KUBECONFIG", write("https://from-env.example:6443"))
	_, err := parseFlags([]string{"--policy", "ns/name", "--kubeconfig", write("https://from-flag.example:6443")})
	require.NoError(t, err)
	cfg, err := ctrl.GetConfig()
	require.NoError(t, err)
	require.Equal(t, "https://from-flag.example:6443", cfg.Host)

	_, err = parseFlags([]string{"--policy", "ns/name"})
	require.NoError(t, err)
	cfg, err = ctrl.GetConfig()
	require.NoError(t, err)
	require.Equal(t, "https://from-env.example:6443", cfg.Host, "without the flag, $KUBECONFIG")
}
