//go:build e2e || cluster

// Package e2e installs the chart on a real Kubernetes API server and drives
// the real binaries against it. Two scenarios share these helpers:
// envtest_test.go (build tag e2e: kube-apiserver and etcd only, the binaries
// run on loopback) and cluster_test.go (build tag cluster: a whole node, the
// binaries run in pods).
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	authv1 "github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/devissuer"
	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// Names shared by both scenarios.
const (
	release   = "ts"
	audience  = "https://timesheets.abc-inc.example/"
	crdName   = "scopepolicies.auth.timesheets.dev"
	secretKey = "importer-credentials"
)

// repoRoot is the module root, two levels above this package.
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func requireEnv(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run this through the Makefile (make e2e / make e2e-cluster)", name)
	}
	return v
}

// newClient returns a controller-runtime client that knows the built-in
// types and ScopePolicy.
func newClient(t testing.TB, kubeconfig string) client.Client {
	t.Helper()
	ctrllog.SetLogger(logr.Discard()) // the client's own warnings are not this test's output
	cfg, err := restConfig(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	s := clientgoscheme.Scheme
	for _, add := range []func(*k8sruntime.Scheme) error{authv1.AddToScheme, apiextv1.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	return clientcmd.BuildConfigFromFlags("", kubeconfig)
}

func yamlUnmarshal(b []byte, v any) error { return yaml.Unmarshal(b, v) }

// importerValues turns the importer on, as both scenarios install it: the
// Secret and ConfigMap the test created, the issuer's token endpoint.
func importerValues(tokenURL string) []string {
	return []string{
		"--set", "importer.enabled=true",
		"--set", "importer.credentials.existingSecret=" + secretKey,
		"--set", "importer.oauth.tokenURL=" + tokenURL,
		"--set", "importer.oauth.audience=" + audience,
		"--set", "importer.source.name=contractor-tool",
		"--set", "importer.source.configMap.name=contractor-hours",
		"--set", "importer.source.configMap.key=entries.csv",
	}
}

// helm runs the pinned Helm binary with the given kubeconfig and returns
// its combined output.
func helm(t testing.TB, kubeconfig string, args ...string) string {
	t.Helper()
	cmd := exec.Command(requireEnv(t, "HELM"), args...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig,
		"HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// eventually polls cond every 200ms until it returns nil or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkReleaseObjects asserts that every object of the release's manifest
// exists on the API server.
func checkReleaseObjects(t testing.TB, ctx context.Context, c client.Client, kubeconfig, ns string) int {
	t.Helper()
	manifest := helm(t, kubeconfig, "get", "manifest", release, "-n", ns)
	n := 0
	for _, doc := range strings.Split(manifest, "\n---") {
		var obj struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yamlUnmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("release manifest: %v\n%s", err, doc)
		}
		if obj.Kind == "" {
			continue
		}
		gv, err := schema.ParseGroupVersion(obj.APIVersion)
		if err != nil {
			t.Fatal(err)
		}
		u := &metav1.PartialObjectMetadata{}
		u.SetGroupVersionKind(gv.WithKind(obj.Kind))
		key := client.ObjectKey{Name: obj.Metadata.Name}
		if mapping, err := c.RESTMapper().RESTMapping(gv.WithKind(obj.Kind).GroupKind(), gv.Version); err != nil {
			t.Fatalf("%s %s: kind unknown to the API server: %v", obj.Kind, obj.Metadata.Name, err)
		} else if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			key.Namespace = ns
		}
		if err := c.Get(ctx, key, u); err != nil {
			t.Errorf("%s %s of the release is not on the API server: %v", obj.Kind, key, err)
		}
		n++
	}
	if n == 0 {
		t.Fatal("the release manifest holds no object")
	}
	return n
}

// applyPolicy creates or updates the ScopePolicy and returns its generation.
func applyPolicy(t testing.TB, ctx context.Context, c client.Client, ns, name string, spec authv1.ScopePolicySpec) int64 {
	t.Helper()
	sp := &authv1.ScopePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	var gen int64
	// The CRD may have been created a moment ago: retry until it is served.
	eventually(t, 30*time.Second, "apply ScopePolicy", func() error {
		err := c.Get(ctx, client.ObjectKeyFromObject(sp), sp)
		switch {
		case err == nil:
			sp.Spec = spec
			err = c.Update(ctx, sp)
		case client.IgnoreNotFound(err) == nil:
			sp.Spec = spec
			err = c.Create(ctx, sp)
		}
		gen = sp.Generation
		return err
	})
	return gen
}

// waitPolicyReady waits until the status says generation gen is enforced.
func waitPolicyReady(t testing.TB, ctx context.Context, c client.Client, ns, name string, gen int64, timeout time.Duration) *authv1.ScopePolicy {
	t.Helper()
	sp := &authv1.ScopePolicy{}
	eventually(t, timeout, fmt.Sprintf("ScopePolicy %s/%s generation %d Ready", ns, name, gen), func() error {
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sp); err != nil {
			return err
		}
		cond := meta.FindStatusCondition(sp.Status.Conditions, authv1.ConditionReady)
		if sp.Status.ObservedGeneration != gen || cond == nil || cond.Status != metav1.ConditionTrue || cond.ObservedGeneration != gen {
			return fmt.Errorf("status %+v", sp.Status)
		}
		return nil
	})
	return sp
}

// withUploadScope returns spec with the scope of POST /timesheets/upload
// replaced, so a test can take batch:upload away and give it back.
func withUploadScope(spec authv1.ScopePolicySpec, scope string) authv1.ScopePolicySpec {
	spec = *spec.DeepCopy()
	for i, r := range spec.Routes {
		if r.Path == "/timesheets/upload" {
			spec.Routes[i].Scopes = []string{scope}
		}
	}
	return spec
}

// csvSource writes n contractor entries as the external tool exports them.
func csvSource(n int) []byte {
	var b bytes.Buffer
	b.WriteString("id,user_type,user_id,date,project,hours\n")
	day := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		fmt.Fprintf(&b, "ext-%d,Contractor,c%03d,%s,StoreZero,%d\n", i, i%50, day.AddDate(0, 0, i%28).Format(time.RFC3339), 1+i%8)
	}
	return b.Bytes()
}

// listAll pages through GET /timesheets and returns every entry.
func listAll(t testing.TB, apiURL, token string) []timesheets.Entry {
	t.Helper()
	var all []timesheets.Entry
	cursor := ""
	for {
		u := apiURL + "/timesheets?limit=500"
		if cursor != "" {
			u += "&cursor=" + cursor
		}
		var page struct {
			Items      []timesheets.Entry `json:"items"`
			NextCursor string             `json:"next_cursor"`
		}
		status, body := call(t, http.MethodGet, u, token, nil)
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", u, status, body)
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
}

// apiClient sends call's requests; the cluster test swaps in one that
// trusts the API's CA (tlsClient).
var apiClient = http.DefaultClient

// call sends one request with a bearer token and returns status and body.
func call(t testing.TB, method, url, token string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// countExternal counts entries per (source, external_id) and fails on a
// duplicate; it returns how many distinct external ids landed.
func countExternal(t testing.TB, entries []timesheets.Entry) int {
	t.Helper()
	seen := map[string]int{}
	for _, e := range entries {
		if e.ExternalID == "" {
			continue
		}
		seen[e.Source+"\x00"+e.ExternalID]++
	}
	for k, n := range seen {
		if n > 1 {
			t.Errorf("entry %q landed %d times", strings.ReplaceAll(k, "\x00", "/"), n)
		}
	}
	return len(seen)
}

// authFailures parses Prometheus text and returns
// timesheets_auth_failures_total summed over routes, for one reason.
func authFailures(t testing.TB, metrics []byte, reason string) float64 {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(metrics))
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	var sum float64
	if f := families["timesheets_auth_failures_total"]; f != nil {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// buildBinaries builds cmd/api and cmd/importer as the Dockerfile does
// (static, trimmed) into dir.
func buildBinaries(t testing.TB, dir string) (api, importer string) {
	t.Helper()
	for _, name := range []string{"api", "importer"} {
		cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, name), "./cmd/"+name)
		cmd.Dir = repoRoot(t)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build ./cmd/%s: %v\n%s", name, err, out)
		}
	}
	return filepath.Join(dir, "api"), filepath.Join(dir, "importer")
}

// lines returns the lines of s that contain sub.
func lines(s, sub string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), sub) {
			out = append(out, sc.Text())
		}
	}
	return out
}

// summaryField reads one key=value of the importer's summary line.
func summaryField(t testing.TB, output, key string) int {
	t.Helper()
	for _, line := range lines(output, " created=") {
		for _, f := range strings.Fields(line) {
			f = strings.Trim(f, `"`)
			if v, ok := strings.CutPrefix(f, key+"="); ok {
				n, err := strconv.Atoi(strings.Trim(v, `",`))
				if err != nil {
					t.Fatalf("summary %s=%q: %v", key, v, err)
				}
				return n
			}
		}
	}
	t.Fatalf("no %s= in the importer's summary:\n%s", key, output)
	return 0
}

// secretData returns the Secret's data, to check that no output repeats it.
func secretData(t testing.TB, ctx context.Context, c client.Client, ns, name string) map[string][]byte {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	return s.Data
}

// phases returns a function that logs each phase with its own duration.
func phases(t *testing.T) func(string) {
	last := time.Now()
	return func(what string) {
		t.Logf("%6.1fs  %s", time.Since(last).Seconds(), what)
		last = time.Now()
	}
}

func mustSecret(t testing.TB) string {
	s, err := devissuer.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mint(t testing.TB, iss *devissuer.Server, scopes ...string) string {
	t.Helper()
	tok, err := iss.Mint(iss.Claims("e2e", audience, scopes))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func create(t testing.TB, ctx context.Context, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(ctx, obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

func deployment(t testing.TB, ctx context.Context, c client.Client, ns string) appsv1.Deployment {
	t.Helper()
	var l appsv1.DeploymentList
	if err := c.List(ctx, &l, client.InNamespace(ns)); err != nil || len(l.Items) != 1 {
		t.Fatalf("want one Deployment in %s: %d (%v)", ns, len(l.Items), err)
	}
	return l.Items[0]
}

func cronJob(t testing.TB, ctx context.Context, c client.Client, ns string) batchv1.CronJob {
	t.Helper()
	var l batchv1.CronJobList
	if err := c.List(ctx, &l, client.InNamespace(ns)); err != nil || len(l.Items) != 1 {
		t.Fatalf("want one CronJob in %s: %d (%v)", ns, len(l.Items), err)
	}
	return l.Items[0]
}

// policyFlag returns the ScopePolicy name of the API's --policy=NS/NAME.
func policyFlag(t testing.TB, args []string, ns string) string {
	t.Helper()
	for _, a := range args {
		if ref, ok := strings.CutPrefix(a, "--policy="); ok {
			gotNS, name, _ := strings.Cut(ref, "/")
			if gotNS != ns || name == "" {
				t.Fatalf("--policy=%s: want %s/NAME", ref, ns)
			}
			return name
		}
	}
	t.Fatalf("the Deployment passes no --policy: %v", args)
	return ""
}

func scrape(t testing.TB, metricsURL string) []byte {
	t.Helper()
	resp, err := http.Get(metricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
