package controller

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/devissuer"
	"github.com/abc-inc/timesheets/pkg/metrics"
	"github.com/abc-inc/timesheets/pkg/server"
	"github.com/abc-inc/timesheets/pkg/service"
	"github.com/abc-inc/timesheets/pkg/store"
)

// One kube-apiserver and etcd for the package; every test works in its own
// namespace.
var (
	cfg       *rest.Config
	k8sClient client.Client
	repoRoot  string
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repoRoot = root
	// The Makefile sets it from hack/tools.mk, the one place of the version.
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		fmt.Fprintln(os.Stderr, "FAIL: envtest needs KUBEBUILDER_ASSETS: run `make test`, or eval \"$(make -s print-tool-paths)\" first")
		return 1
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: envtest needs %s in %s (KUBEBUILDER_ASSETS): run `make test-assets`\n", bin, assets)
			return 1
		}
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	cfg, err = env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: starting envtest (kube-apiserver + etcd from %s): %v\n", assets, err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()
	k8sClient, err = client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// testLogger discards logs unless TEST_LOG is set (debug, info, warn, error).
func testLogger() *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(os.Getenv("TEST_LOG"))); err != nil || os.Getenv("TEST_LOG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

func newNamespace(t testing.TB) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ts-"}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	// envtest runs no namespace controller: the namespace never goes away,
	// but deleting it keeps the intent clear.
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), ns) })
	return ns.Name
}

const (
	testAudience = "https://timesheets.test/"
	testClient   = "test-client"
)

// newIssuer starts a development authorization server on loopback.
func newIssuer(t testing.TB) *devissuer.Server {
	t.Helper()
	iss, err := devissuer.New(devissuer.Config{
		Audience: testAudience,
		Clients:  []devissuer.Client{{ID: testClient, Secret: "secret", Scopes: []string{"read:timesheets"}}},
		Logger:   testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = iss.Start(ctx) }()
	t.Cleanup(func() { cancel(); _ = iss.Close(); <-done })
	return iss
}

// token mints a valid access token of iss carrying scopes.
func token(t testing.TB, iss *devissuer.Server, scopes ...string) string {
	t.Helper()
	tok, err := iss.Mint(iss.Claims(testClient, testAudience, scopes))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func issuerOf(iss *devissuer.Server) v1alpha1.Issuer {
	return v1alpha1.Issuer{URL: iss.Issuer(), JWKSURI: iss.JWKSURL()}
}

// spec is a policy for the issuers in which GET /timesheets needs readScope.
func spec(readScope string, issuers ...*devissuer.Server) v1alpha1.ScopePolicySpec {
	s := v1alpha1.ScopePolicySpec{
		Audiences: []string{testAudience},
		Routes: []v1alpha1.Route{
			{Path: "/timesheets", Methods: []string{"GET"}, Scopes: []string{readScope}},
			{Path: "/timesheets", Methods: []string{"POST"}, Scopes: []string{"create:timesheets"}},
			{Path: "/healthcheck", Public: true},
		},
	}
	for _, iss := range issuers {
		s.Issuers = append(s.Issuers, issuerOf(iss))
	}
	return s
}

func createPolicy(t testing.TB, ns, name string, s v1alpha1.ScopePolicySpec) *v1alpha1.ScopePolicy {
	t.Helper()
	sp := &v1alpha1.ScopePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: s}
	if err := k8sClient.Create(context.Background(), sp); err != nil {
		t.Fatal(err)
	}
	return sp
}

// updateSpec replaces the spec, retrying on conflicts, and returns the new
// generation.
func updateSpec(t testing.TB, ns, name string, mutate func(*v1alpha1.ScopePolicySpec)) int64 {
	t.Helper()
	for {
		var sp v1alpha1.ScopePolicy
		if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &sp); err != nil {
			t.Fatal(err)
		}
		mutate(&sp.Spec)
		err := k8sClient.Update(context.Background(), &sp)
		if err == nil {
			return sp.Generation
		}
		if !strings.Contains(err.Error(), "the object has been modified") {
			t.Fatal(err)
		}
	}
}

func getPolicy(t testing.TB, ns, name string) *v1alpha1.ScopePolicy {
	t.Helper()
	var sp v1alpha1.ScopePolicy
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &sp); err != nil {
		t.Fatal(err)
	}
	return &sp
}

// eventually polls cond every 10ms until it reports true, failing the test
// with cond's last explanation after timeout.
func eventually(t testing.TB, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %s", timeout, why)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitReady waits for the policy's Ready condition to have status and
// reason at generation gen, and returns the policy.
func waitReady(t testing.TB, ns, name string, gen int64, status metav1.ConditionStatus, reason string) *v1alpha1.ScopePolicy {
	t.Helper()
	var sp *v1alpha1.ScopePolicy
	eventually(t, 15*time.Second, func() (bool, string) {
		sp = getPolicy(t, ns, name)
		c := readyOf(sp)
		if sp.Status.ObservedGeneration != gen || c == nil || c.Status != status || c.Reason != reason || c.ObservedGeneration != gen {
			return false, fmt.Sprintf("want generation %d Ready=%s/%s, have observedGeneration %d, condition %+v",
				gen, status, reason, sp.Status.ObservedGeneration, c)
		}
		return true, ""
	})
	return sp
}

func readyOf(sp *v1alpha1.ScopePolicy) *metav1.Condition {
	for i := range sp.Status.Conditions {
		if sp.Status.Conditions[i].Type == v1alpha1.ConditionReady {
			return &sp.Status.Conditions[i]
		}
	}
	return nil
}

// replica is one API process: the service (key store, policy in force,
// activator), a manager with the reconcilers, and an API server (a manager
// runnable) serving the policy's guard in front of a handler that answers 200.
type replica struct {
	svc     *service.Service
	mgr     manager.Manager
	rec     *Reconcilers
	apiURL  string
	probe   string // health probe address
	cancel  context.CancelFunc
	done    chan error
	stopped sync.Once
}

// Leader election timings of the replicas that elect: a renew deadline of
// seconds, so a loaded 2-core machine does not lose a lease between two
// renewals; a release on stop hands over at the next retry anyway.
const (
	leaseDuration = 8 * time.Second
	renewDeadline = 6 * time.Second
	retryPeriod   = 250 * time.Millisecond
)

// replicaOptions are the reconcilers' Options and the manager's election
// settings, as cmd/api sets them from its flags.
type replicaOptions struct {
	Options
	LeaderElection                            bool
	LeaderElectionID                          string
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// startReplica runs a manager for ns/name as cmd/api builds it; tweak
// adjusts the options.
func startReplica(t testing.TB, ns, name string, tweak func(*replicaOptions)) *replica {
	t.Helper()
	logger := testLogger()
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "ts.db"), store.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &replica{done: make(chan error, 1)}
	r.svc = service.New(service.Options{Store: st, Logger: logger, Metrics: metrics.New(prometheus.NewRegistry()),
		Keys:    auth.KeyOptions{HTTPClient: &http.Client{Timeout: 2 * time.Second}, RetryInterval: 200 * time.Millisecond},
		KeyWait: 500 * time.Millisecond, RetryInterval: 200 * time.Millisecond})

	o := replicaOptions{Options: Options{
		Namespace: ns, Name: name, Activator: r.svc.Activator, Keys: r.svc.Keys, Logger: logger,
		RetryInterval: 200 * time.Millisecond, ResyncInterval: 2 * time.Second,
		SkipControllerNameValidation: true,
	}}
	if tweak != nil {
		tweak(&o)
	}
	mo := manager.Options{
		Scheme: Scheme(), Logger: logr.FromSlogHandler(logger.Handler()),
		Cache:   CacheOptions(ns, name),
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		LeaderElection: o.LeaderElection, LeaderElectionID: o.LeaderElectionID, LeaderElectionNamespace: ns,
		LeaderElectionResourceLock: "leases", LeaderElectionReleaseOnCancel: true,
	}
	if mo.LeaderElectionID == "" {
		mo.LeaderElectionID = LeaseName(name)
	}
	if o.LeaseDuration > 0 {
		mo.LeaseDuration, mo.RenewDeadline, mo.RetryPeriod = &o.LeaseDuration, &o.RenewDeadline, &o.RetryPeriod
	}
	mgr, err := ctrl.NewManager(cfg, mo)
	if err != nil {
		t.Fatal(err)
	}
	r.mgr = mgr
	if r.rec, err = SetupWithManager(mgr, o.Options); err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mw := &auth.Middleware{Policy: r.svc.Holder, Verifier: auth.NewVerifier(r.svc.Keys, 100), Logger: logger, Realm: "test"}
	api, probes := listen(t, mw.Wrap(ok)), listen(t, server.Probes(r.svc.Ready))
	r.apiURL, r.probe = "http://"+api.Listener.Addr().String(), probes.Listener.Addr().String()
	for _, run := range []manager.Runnable{api, probes, r.svc} {
		if err := mgr.Add(run); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- mgr.Start(ctx) }()
	t.Cleanup(r.stop)
	return r
}

// listen is a manager.Server of h on a loopback port of its own.
func listen(t testing.TB, h http.Handler) *manager.Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	timeout := time.Second
	return &manager.Server{Server: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}, Listener: ln, ShutdownTimeout: &timeout}
}

// stop stops the manager and waits for it.
func (r *replica) stop() {
	r.stopped.Do(func() {
		r.cancel()
		select {
		case <-r.done:
		case <-time.After(15 * time.Second):
		}
	})
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// call sends method path with a bearer token (none when tok is "") and
// returns the status code.
func (r *replica) call(t testing.TB, method, path, tok string) int {
	t.Helper()
	return get(t, method, r.apiURL+path, tok)
}

func get(t testing.TB, method, url, tok string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// waitStatus polls the replica until method path with tok answers want.
func (r *replica) waitStatus(t testing.TB, method, path, tok string, want int) {
	t.Helper()
	eventually(t, 10*time.Second, func() (bool, string) {
		got := r.call(t, method, path, tok)
		return got == want, fmt.Sprintf("%s %s answered %d, want %d", method, path, got, want)
	})
}

// probeStatus returns the status of GET /healthz or /readyz.
func (r *replica) probeStatus(t testing.TB, path string) int {
	t.Helper()
	return get(t, http.MethodGet, "http://"+r.probe+path, "")
}
