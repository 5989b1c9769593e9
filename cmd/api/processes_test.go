package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/devissuer"
	"github.com/abc-inc/timesheets/pkg/policy"
	"github.com/abc-inc/timesheets/pkg/store/pgtest"
	"github.com/abc-inc/timesheets/pkg/syncbuf"
)

// TestTwoProcessesOnePostgres runs the real binary twice on one PostgreSQL
// database: both migrate at once, race the same batch, and one of them is
// killed (SIGKILL) while a large batch is in flight; a batch is all or
// nothing, and the killed replica starts again.
func TestTwoProcessesOnePostgres(t *testing.T) {
	dbURL := pgtest.Database(t)
	is := newDevIssuer(t)
	bin, policyFile := buildAPI(t, is)

	// Both start at once: the migrations must serialise between them.
	var a, b *process
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a = startProcess(t, bin, policyFile, dbURL) }()
	go func() { defer wg.Done(); b = startProcess(t, bin, policyFile, dbURL) }()
	wg.Wait()
	a.waitReady(t)
	b.waitReady(t)
	minter := &stack{issuer: is}
	importer, reader := minter.token(t, "importer"), minter.token(t, "admin")

	t.Run("the same batch through both processes at once creates each entry once", func(t *testing.T) {
		batch := uploadBatch("race", 500)
		var created [2]int
		var wg sync.WaitGroup
		for i, p := range []*process{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, body, err := p.upload(importer, batch)
				if err != nil || status != 200 {
					t.Errorf("upload: %d %v %v", status, body, err)
					return
				}
				created[i] = int(body["created"].(float64))
			}()
		}
		wg.Wait()
		require.Equal(t, 500, created[0]+created[1], "each entry created by exactly one process")
		require.Equal(t, 500, b.countSource(t, reader, "race"))
	})

	t.Run("a process killed mid-batch leaves all of the batch or none", func(t *testing.T) {
		const n = 5000 // the largest batch; about 150 ms of inserts here
		db := dbConn(t, dbURL)
		// The moments of the kill, each a condition polled for rather than
		// a time after the upload began: the request is sent (the batch is
		// being read and checked), the batch's transaction has written
		// rows, and it has been writing for a while (deeper in the batch).
		// If the upload finishes first, the kill comes after it.
		moments := []struct {
			name string
			cond func(wrote bool) bool
		}{
			{"request sent", func(wrote bool) bool { return wrote }},
			{"transaction writing", func(bool) bool { return writingFor(t, db) >= 0 }},
			{"transaction writing for 40ms", func(bool) bool { return writingFor(t, db) >= 40*time.Millisecond }},
			{"transaction writing for 90ms", func(bool) bool { return writingFor(t, db) >= 90*time.Millisecond }},
		}
		interrupted := 0
		for i, moment := range moments {
			source := fmt.Sprintf("kill-%d", i)
			done := make(chan error, 1)
			var wrote atomic.Bool
			victim, batch := a, uploadBatch(source, n)
			go func() {
				_, _, err := victim.uploadTraced(importer, batch, func() { wrote.Store(true) })
				done <- err
			}()
			var err error
			finished := false
			for !finished && !moment.cond(wrote.Load()) {
				select {
				case err = <-done:
					finished = true
				case <-time.After(time.Millisecond):
				}
			}
			a.kill(t)
			if !finished {
				err = <-done
			}
			if err != nil {
				interrupted++ // the response never came: the kill hit the request
			}
			got := b.countSource(t, reader, source)
			require.Contains(t, []int{0, n}, got, "kill at %s: %d of %d entries stored", moment.name, got, n)
			t.Logf("kill at %s: %d of %d stored (client: %v)", moment.name, got, n, err)
			// The client retries through the other replica: everything lands once.
			status, body, err := b.upload(importer, uploadBatch(source, n))
			require.NoError(t, err)
			require.Equal(t, 200, status, body)
			require.Equal(t, n, int(body["created"].(float64))+int(body["duplicates"].(float64)))
			require.Equal(t, n, b.countSource(t, reader, source))
			a = startProcess(t, bin, policyFile, dbURL)
			a.waitReady(t)
		}
		require.Positive(t, interrupted, "no kill landed while a request was in flight")
	})
}

type process struct {
	cmd                          *exec.Cmd
	apiURL, probeURL, metricsURL string         // http://ADDRESS, as the process reported it bound
	out                          syncbuf.Buffer // stdout and stderr
	waited                       chan struct{}
}

// dbConn connects to the database at url for the test's own queries.
func dbConn(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// writingFor is how long the oldest open transaction in db that has
// written (a batch being inserted) has been open, or -1 if none is.
func writingFor(t *testing.T, db *pgx.Conn) time.Duration {
	t.Helper()
	var us int64
	require.NoError(t, db.QueryRow(context.Background(), `SELECT coalesce(max(extract(epoch FROM clock_timestamp() - xact_start) * 1e6), -1)::bigint
		FROM pg_stat_activity WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()`).Scan(&us))
	if us < 0 {
		return -1
	}
	return time.Duration(us) * time.Microsecond
}

// TestProbesWhileDatabaseDown runs the binary before its database is up:
// the probe port answers at once, /healthz ok (alive: not to be restarted)
// and /readyz 503 naming the database; API calls get 503 with Retry-After.
// Once the database starts, the same process becomes ready and serves.
func TestProbesWhileDatabaseDown(t *testing.T) {
	pg := pgtest.New(t) // its own server: the test stops it
	dbURL := pg.NewDatabase(t)
	require.NoError(t, pg.Stop())
	is := newDevIssuer(t)
	bin, policyFile := buildAPI(t, is)

	p := startProcess(t, bin, policyFile, dbURL)
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	require.Eventually(t, func() bool { code, _ := get(p.probeURL + "/healthz"); return code == 200 },
		10*time.Second, 20*time.Millisecond, "healthz while the database is down:\n%s", &p.out)
	var body string // once the policy is in force, the database is what is missing
	require.Eventually(t, func() bool {
		var code int
		code, body = get(p.probeURL + "/readyz")
		return code == 503 && strings.Contains(body, "database not open yet")
	}, 10*time.Second, 20*time.Millisecond, "readyz should name the database: %q", &body)

	admin := (&stack{issuer: is}).token(t, "admin")
	req, _ := http.NewRequest(http.MethodGet, p.apiURL+"/timesheets/1", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	require.Eventually(t, func() bool { // the policy's keys load while the database is awaited
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 503 && resp.Header.Get("Retry-After") != ""
	}, 10*time.Second, 20*time.Millisecond, "503 with Retry-After while the database is down")

	require.NoError(t, pg.Start())
	p.waitReady(t)
	status, _, err := p.upload(admin, uploadBatch("after-wait", 3))
	require.NoError(t, err)
	require.Equal(t, 200, status)
	require.Equal(t, 3, p.countSource(t, admin, "after-wait"))
}

// TestHTTPS: with --tls-cert-file and --tls-key-file the API speaks only
// https, with the given certificate; a pair that does not match stops the
// binary at start with a message naming the files.
func TestHTTPS(t *testing.T) {
	is := newDevIssuer(t)
	bin, policyFile := buildAPI(t, is)
	dir := t.TempDir()
	certPEM, keyPEM, caPEM, err := devissuer.ThrowawayCert("127.0.0.1")
	require.NoError(t, err)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	require.NoError(t, os.WriteFile(certFile, certPEM, 0o600))
	require.NoError(t, os.WriteFile(keyFile, keyPEM, 0o600))
	dbURL := "sqlite://" + filepath.Join(dir, "timesheets.db")

	p := startProcess(t, bin, policyFile, dbURL, "--tls-cert-file", certFile, "--tls-key-file", keyFile)
	p.waitReady(t) // the probe port stays plain http, for the kubelet
	client, err := devissuer.TrustingClient(caPEM, "", 5*time.Second)
	require.NoError(t, err)
	httpsURL := strings.Replace(p.apiURL, "http://", "https://", 1)
	req, _ := http.NewRequest(http.MethodGet, httpsURL+"/timesheets", nil)
	req.Header.Set("Authorization", "Bearer "+(&stack{issuer: is}).token(t, "admin"))
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, 2, resp.ProtoMajor, "HTTP/2 over TLS")

	resp, err = http.Get(p.apiURL + "/timesheets") // plain http to the TLS port
	if err == nil {
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "a plain-http request gets Go's 400, never the API")
	}

	_, otherKey, _, err := devissuer.ThrowawayCert("127.0.0.1")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(keyFile, otherKey, 0o600))
	out, err := exec.Command(bin, "--policy-file", policyFile, "--database-url", dbURL, "--listen-address", "127.0.0.1:0",
		"--tls-cert-file", certFile, "--tls-key-file", keyFile).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "private key does not match public key")
	require.Contains(t, string(out), keyFile)
}

// buildAPI returns the api binary (apiBinary: built once a run, by the
// test build itself) and writes the sample policy for issuer is.
func buildAPI(t *testing.T, is *devissuer.Server) (bin, policyFile string) {
	t.Helper()
	dir := t.TempDir()
	bin = apiBinary(t)

	sp := v1alpha1.ScopePolicy{TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ScopePolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: "timesheets"}, Spec: policy.Sample(is.Issuer(), devAudience)}
	policyYAML, err := yaml.Marshal(sp)
	require.NoError(t, err)
	policyFile = filepath.Join(dir, "policy.yaml")
	require.NoError(t, os.WriteFile(policyFile, policyYAML, 0o600))
	return bin, policyFile
}

// startProcess runs the API binary on loopback ports of its own choosing
// and returns once it has reported every address it listens on.
func startProcess(t *testing.T, bin, policyFile, dbURL string, extraArgs ...string) *process {
	t.Helper()
	p := launch(t, bin, policyFile, dbURL, extraArgs...)
	p.awaitAddresses(t)
	return p
}

// launch is startProcess without waiting for the addresses: the process
// is starting up when it returns; awaitAddresses fills them in.
func launch(t *testing.T, bin, policyFile, dbURL string, extraArgs ...string) *process {
	t.Helper()
	// Port 0: each server binds a free port and logs it ("serving"), so no
	// port is chosen here and released for another process to take.
	cmd := exec.Command(bin, append([]string{"--policy-file", policyFile, "--listen-address", "127.0.0.1:0",
		"--health-probe-bind-address", "127.0.0.1:0", "--metrics-bind-address", "127.0.0.1:0", "--log-level", "info"}, extraArgs...)...)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL)
	p := &process{cmd: cmd, waited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	require.NoError(t, cmd.Start())
	go func() { _ = cmd.Wait(); close(p.waited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-p.waited
		if t.Failed() {
			t.Logf("api %s (pid %d) output:\n%s", p.apiURL, cmd.Process.Pid, p.out.String())
		}
	})
	return p
}

// awaitAddresses waits until the process has logged the address of each
// of its servers (pkg/server: {"msg":"serving","server":NAME,"address":ADDR}).
func (p *process) awaitAddresses(t *testing.T) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		addrs := servingAddresses(p.out.String())
		if api, probes, metrics := addrs["api"], addrs["probes"], addrs["metrics"]; api != "" && probes != "" && metrics != "" {
			p.apiURL, p.probeURL, p.metricsURL = "http://"+api, "http://"+probes, "http://"+metrics
			return
		}
		select {
		case <-p.waited:
			t.Fatalf("the api exited before listening:\n%s", &p.out)
		case <-deadline:
			t.Fatalf("the api reported no address of its servers within 30s:\n%s", &p.out)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// servingAddresses reads the "serving" records of a JSON log: server name
// to bound address.
func servingAddresses(log string) map[string]string {
	addrs := map[string]string{}
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, `"msg":"serving"`) {
			continue
		}
		var rec struct{ Msg, Server, Address string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "serving" {
			addrs[rec.Server] = rec.Address
		}
	}
	return addrs
}

func (p *process) waitReady(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, err := http.Get(p.probeURL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 30*time.Second, 50*time.Millisecond, "readyz of %s:\n%s", p.apiURL, &p.out)
}

// kill sends SIGKILL: no shutdown, no rollback by the process itself.
func (p *process) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Kill())
	<-p.waited
}

func (p *process) upload(token, batch string) (int, map[string]any, error) {
	return p.uploadTraced(token, batch, nil)
}

// uploadTraced is upload calling wrote, if not nil, once the whole request
// is written.
func (p *process) uploadTraced(token, batch string, wrote func()) (int, map[string]any, error) {
	req, err := http.NewRequest(http.MethodPost, p.apiURL+"/timesheets/upload", strings.NewReader(batch))
	if err != nil {
		return 0, nil, err
	}
	if wrote != nil {
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) { wrote() },
		}))
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", jsonType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return resp.StatusCode, nil, err
	}
	return resp.StatusCode, body, nil
}

// countSource counts the entries of one source.
func (p *process) countSource(t *testing.T, token, source string) int {
	t.Helper()
	return len(p.entriesOf(t, token, source))
}

type listedEntry struct {
	ID         int64   `json:"id"`
	UserID     string  `json:"user_id"`
	Date       string  `json:"date"`
	Project    string  `json:"project"`
	Hours      float64 `json:"hours"`
	Source     string  `json:"source"`
	ExternalID string  `json:"external_id"`
}

// entriesOf pages through the entries and returns those of one source.
func (p *process) entriesOf(t *testing.T, token, source string) []listedEntry {
	t.Helper()
	var out []listedEntry
	cursor := ""
	for {
		req, err := http.NewRequest(http.MethodGet, p.apiURL+"/timesheets?limit=500&cursor="+cursor, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		var page struct {
			Items      []listedEntry `json:"items"`
			NextCursor string        `json:"next_cursor"`
		}
		require.Equal(t, 200, resp.StatusCode)
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
		resp.Body.Close()
		for _, e := range page.Items {
			if e.Source == source {
				out = append(out, e)
			}
		}
		if page.NextCursor == "" {
			return out
		}
		cursor = page.NextCursor
	}
}

func uploadBatch(source string, n int) string {
	entries := make([]string, n)
	for i := range entries {
		entries[i] = fmt.Sprintf(`{"user_type":"Contractor","user_id":"c-%d","date":"2021-04-%02dT08:00:00Z","project":"P","hours":3,"source":%q,"external_id":"e-%d"}`, i%50, i%28+1, source, i)
	}
	return "[" + strings.Join(entries, ",") + "]"
}
