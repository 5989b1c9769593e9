package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/policy"
)

// writePolicy replaces the policy file atomically, as a ConfigMap update does.
func writePolicy(t *testing.T, path string, spec v1alpha1.ScopePolicySpec) {
	t.Helper()
	sp := v1alpha1.ScopePolicy{TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ScopePolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: "timesheets"}, Spec: spec}
	data, err := yaml.Marshal(sp)
	require.NoError(t, err)
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, data, 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

// deadIssuer is an http URL on loopback where nothing listens.
func deadIssuer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return "http://" + ln.Addr().String()
}

func (p *process) readyz(t *testing.T) (int, string) {
	t.Helper()
	resp, err := http.Get(p.probeURL + "/readyz")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (p *process) status(t *testing.T, method, path, token string) int {
	t.Helper()
	req, err := http.NewRequest(method, p.apiURL+path, strings.NewReader(dayEntry))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", jsonType)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestPolicyFileEdits runs the real binary on a policy file and edits it as
// an operator would. The reported faults: an issuer nobody serves froze
// every later reload, a moved jwksURI took the keys away for good.
func TestPolicyFileEdits(t *testing.T) {
	is := newDevIssuer(t)
	bin, policyFile := buildAPI(t, is)
	p := startProcess(t, bin, policyFile, "sqlite://"+filepath.Join(t.TempDir(), "ts.db"))
	p.waitReady(t)
	minter := &stack{issuer: is}
	importer, admin := minter.token(t, "importer"), minter.token(t, "admin")
	base := policy.Sample(is.Issuer(), devAudience)
	require.Equal(t, http.StatusOK, p.status(t, "GET", "/timesheets", admin))
	require.Equal(t, http.StatusCreated, p.status(t, "POST", "/timesheets/upload", importer))

	t.Run("an unserved issuer waits without blocking the next edit", func(t *testing.T) {
		withDead := base
		withDead.Issuers = append(withDead.Issuers[:1:1], v1alpha1.Issuer{URL: deadIssuer(t)})
		writePolicy(t, policyFile, withDead)
		require.Eventually(t, func() bool {
			code, body := p.readyz(t)
			return code == http.StatusOK && strings.Contains(body, "waits for signing keys")
		}, 15*time.Second, 50*time.Millisecond, "readyz should stay ok and name the waiting policy")
		require.Equal(t, http.StatusOK, p.status(t, "GET", "/timesheets", admin), "the last good policy serves")

		// A tightening edit must take effect although the previous one waits.
		tightened := v1alpha1.ScopePolicySpec{Issuers: base.Issuers, Audiences: base.Audiences, Routes: append([]v1alpha1.Route(nil), base.Routes...)}
		tightened.Routes[1].Scopes = []string{"create:timesheets"} // POST /timesheets/upload
		writePolicy(t, policyFile, tightened)
		require.Eventually(t, func() bool {
			return p.status(t, "POST", "/timesheets/upload", importer) == http.StatusForbidden
		}, 10*time.Second, 50*time.Millisecond, "the tightened scope was never enforced:\n%s", &p.out)
		code, body := p.readyz(t)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "ok\n", body, "nothing waits any more")
	})

	t.Run("a moved jwksURI keeps the old keys until the new ones come", func(t *testing.T) {
		writePolicy(t, policyFile, base)
		require.Eventually(t, func() bool {
			return p.status(t, "POST", "/timesheets/upload", importer) == http.StatusCreated
		}, 10*time.Second, 50*time.Millisecond)

		moved := base
		moved.Issuers = []v1alpha1.Issuer{{URL: is.Issuer(), JWKSURI: deadIssuer(t) + "/jwks.json"}}
		writePolicy(t, policyFile, moved)
		require.Eventually(t, func() bool {
			_, body := p.readyz(t)
			return strings.Contains(body, "waits for signing keys")
		}, 15*time.Second, 50*time.Millisecond)
		code, _ := p.readyz(t)
		require.Equal(t, http.StatusOK, code, "a bad edit of a shared file must not make the replica unready")
		require.Equal(t, http.StatusOK, p.status(t, "GET", "/timesheets", admin), "valid tokens still verify with the old keys")

		writePolicy(t, policyFile, base) // revert
		require.Eventually(t, func() bool {
			code, body := p.readyz(t)
			return code == http.StatusOK && body == "ok\n"
		}, 10*time.Second, 50*time.Millisecond)
		require.Equal(t, http.StatusOK, p.status(t, "GET", "/timesheets", admin))
	})
}

// TestPolicyFileEditDuringStartUp edits the file while the process starts:
// the edit must end up in force and stay (it was lost 2 times in 8).
func TestPolicyFileEditDuringStartUp(t *testing.T) {
	is := newDevIssuer(t)
	bin, policyFile := buildAPI(t, is)
	minter := &stack{issuer: is}
	importer := minter.token(t, "importer")
	tightened := policy.Sample(is.Issuer(), devAudience)
	tightened.Routes[1].Scopes = []string{"create:timesheets"} // POST /timesheets/upload
	// The moments of the edit, each a record in the process's log rather
	// than a time after the start: none yet (the process is starting), the
	// first server listening (the initial load proposed, the watcher
	// starting), the initial policy in force.
	moments := []struct{ name, record string }{
		{"at start", ""},
		{"once a server listens", `"msg":"serving"`},
		{"once the initial policy is in force", `"msg":"policy in force"`},
	}
	for i, moment := range moments {
		writePolicy(t, policyFile, policy.Sample(is.Issuer(), devAudience))
		p := launch(t, bin, policyFile, "sqlite://"+filepath.Join(t.TempDir(), "ts.db"))
		if moment.record != "" {
			require.Eventually(t, func() bool { return strings.Contains(p.out.String(), moment.record) },
				30*time.Second, time.Millisecond, "run %d: no %s record:\n%s", i, moment.record, &p.out)
		}
		writePolicy(t, policyFile, tightened)
		p.awaitAddresses(t)
		p.waitReady(t)
		require.Eventually(t, func() bool {
			return p.status(t, "POST", "/timesheets/upload", importer) == http.StatusForbidden
		}, 10*time.Second, 50*time.Millisecond, "run %d (edit %s): the edit made during start-up was lost", i, moment.name)
		// Past the next poll (every second): nothing older comes back. This
		// waits for something not to happen; a poll that finds the file
		// unchanged leaves no trace to wait for, so the wait is a time.
		time.Sleep(1500 * time.Millisecond)
		require.Equal(t, http.StatusForbidden, p.status(t, "POST", "/timesheets/upload", importer), "run %d", i)
	}
}
