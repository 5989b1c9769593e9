//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authzv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	authv1 "github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/devissuer"
	"github.com/abc-inc/timesheets/pkg/policy"
	"github.com/abc-inc/timesheets/pkg/syncbuf"
)

// TestInstallOnAPIServer installs the chart into a real kube-apiserver and
// runs the two binaries outside the cluster the way the chart would run
// them: the API with the Deployment's flags and env, as the chart's
// ServiceAccount (impersonated); the importer with the CronJob's flags and a
// credentials directory laid out as the kubelet mounts the Secret.
func TestInstallOnAPIServer(t *testing.T) {
	started := time.Now()
	phase := phases(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	const ns = "timesheets-e2e"

	env := &envtest.Environment{BinaryAssetsDirectory: requireEnv(t, "KUBEBUILDER_ASSETS")}
	if _, err := env.Start(); err != nil {
		t.Fatalf("start kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	adminKubeconfig := writeUserKubeconfig(t, env, dir, "e2e-admin", []string{"system:masters"})
	admin := newClient(t, adminKubeconfig)
	apiBin, importerBin := buildBinaries(t, dir)
	phase("kube-apiserver started and binaries built")

	// The authorization server, on loopback, knows the importer (batch:upload
	// only) and an admin client holding every scope.
	importerClient := devissuer.Client{ID: "importer", Secret: mustSecret(t), Scopes: []string{"batch:upload"}}
	// The same importer with private_key_jwt: the issuer holds only its public key.
	keyPriv, keyID, err := devissuer.NewClientKey()
	if err != nil {
		t.Fatal(err)
	}
	keyClient := devissuer.Client{ID: "importer-key", Scopes: []string{"batch:upload"},
		Keys: []devissuer.ClientKey{{KID: keyID, Public: keyPriv.Public()}}}
	iss, err := devissuer.New(devissuer.Config{Audience: audience, Clients: []devissuer.Client{importerClient, keyClient},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = iss.Start(ctx) }()
	t.Cleanup(func() { _ = iss.Close() })

	// What a user creates before helm install: the namespace, the importer's
	// Secret and the ConfigMap holding the contractors' export.
	const rows = 1200
	create(t, ctx, admin, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	create(t, ctx, admin, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: secretKey},
		StringData: map[string]string{"client-id": importerClient.ID, "client-secret": importerClient.Secret}})
	create(t, ctx, admin, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "contractor-hours"},
		Data: map[string]string{"entries.csv": string(csvSource(rows))}})

	// The importer's apiURL goes into the release before the API runs: the
	// test holds a port for it and relays it to wherever the API binds.
	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	apiURL := "http://" + apiLn.Addr().String()
	helm(t, adminKubeconfig, append([]string{"install", release, filepath.Join(repoRoot(t), "charts", "timesheets"), "-n", ns,
		"--set", "importer.apiURL=" + apiURL}, importerValues(iss.TokenURL())...)...)
	objects := checkReleaseObjects(t, ctx, admin, adminKubeconfig, ns)
	phase(fmt.Sprintf("helm install: %d objects accepted", objects))

	// The chart's objects as the API server stored them.
	dep := deployment(t, ctx, admin, ns)
	cron := cronJob(t, ctx, admin, ns)
	apiSA := dep.Spec.Template.Spec.ServiceAccountName
	importerSA := cron.Spec.JobTemplate.Spec.Template.Spec.ServiceAccountName
	if apiSA == "" || importerSA == "" || apiSA == importerSA {
		t.Fatalf("service accounts: api %q, importer %q: want two distinct ones", apiSA, importerSA)
	}
	if a := cron.Spec.JobTemplate.Spec.Template.Spec.AutomountServiceAccountToken; a == nil || *a {
		t.Error("the importer's pods mount a Kubernetes token they never need")
	}
	policyName := policyFlag(t, dep.Spec.Template.Spec.Containers[0].Args, ns)

	// Least privilege, asked of the API server for each ServiceAccount.
	apiKubeconfig := writeImpersonatingKubeconfig(t, adminKubeconfig, dir, ns, apiSA)
	importerKubeconfig := writeImpersonatingKubeconfig(t, adminKubeconfig, dir, ns, importerSA)
	checkAccess(t, ctx, newClient(t, apiKubeconfig), apiSA, []access{
		{true, "get", "auth.timesheets.dev", "scopepolicies", "", ns},
		{true, "watch", "auth.timesheets.dev", "scopepolicies", "", ns},
		{true, "patch", "auth.timesheets.dev", "scopepolicies", "status", ns},
		{true, "create", "", "events", "", ns},
		{true, "update", "coordination.k8s.io", "leases", "", ns},
		{false, "list", "auth.timesheets.dev", "scopepolicies", "", ""}, // cluster-wide
		{false, "list", "auth.timesheets.dev", "scopepolicies", "", "default"},
		{false, "update", "auth.timesheets.dev", "scopepolicies", "", ns}, // the spec is the operators'
		{false, "delete", "auth.timesheets.dev", "scopepolicies", "", ns},
		{false, "get", "", "secrets", "", ns},
		{false, "list", "", "pods", "", ns},
		{false, "list", "", "configmaps", "", ns},
	})
	checkAccess(t, ctx, newClient(t, importerKubeconfig), importerSA, []access{
		{false, "get", "auth.timesheets.dev", "scopepolicies", "", ns},
		{false, "get", "", "secrets", "", ns},
		{false, "list", "", "configmaps", "", ns},
	})
	phase("RBAC: the API's ServiceAccount has what it needs and no more; the importer's has nothing")

	// The API, with the Deployment's flags and env, as its ServiceAccount.
	apiProc := startAPI(t, ctx, apiBin, apiKubeconfig, dep, dir)
	relay(t, apiLn, apiProc.apiAddr)
	status, body := call(t, http.MethodPost, apiURL+"/timesheets/upload", mint(t, iss, "batch:upload"), []byte(`[]`))
	if status != http.StatusServiceUnavailable {
		t.Errorf("before any ScopePolicy, upload = %d %s; want 503 (fail closed)", status, body)
	}
	if ready(apiProc.probeURL) {
		t.Error("/readyz passes before any ScopePolicy is loaded")
	}

	spec := policy.Sample(iss.Issuer(), audience)
	gen := applyPolicy(t, ctx, admin, ns, policyName, spec)
	waitPolicyReady(t, ctx, admin, ns, policyName, gen, 30*time.Second)
	eventually(t, 30*time.Second, "API /readyz", func() error {
		if !ready(apiProc.probeURL) {
			return errors.New("not ready")
		}
		return nil
	})
	phase("ScopePolicy applied: status Ready, /readyz passes")

	// The importer, twice: everything lands once.
	var outputs strings.Builder
	run := func(wantExit int) string {
		out := runImporter(t, ctx, importerBin, cron, admin, dir, wantExit)
		outputs.WriteString(out)
		return out
	}
	out := run(0)
	if got := summaryField(t, out, "created"); got != rows {
		t.Errorf("first run created %d; want %d\n%s", got, rows, out)
	}
	out = run(0)
	if c, d := summaryField(t, out, "created"), summaryField(t, out, "duplicates"); c != 0 || d != rows {
		t.Errorf("second run: created %d duplicates %d; want 0 and %d\n%s", c, d, rows, out)
	}
	reader := mint(t, iss, "read:timesheets")
	if n := countExternal(t, listAll(t, apiURL, reader)); n != rows {
		t.Errorf("%d distinct entries stored; want %d", n, rows)
	}
	phase(fmt.Sprintf("importer: %d entries created by the first run, none by the second", rows))

	// A token without the scope is refused and counted.
	before := authFailures(t, scrape(t, apiProc.metricsURL), "insufficient_scope")
	status, body = call(t, http.MethodPost, apiURL+"/timesheets/upload", reader, []byte(`[]`))
	if status != http.StatusForbidden {
		t.Errorf("upload with only read:timesheets = %d %s; want 403", status, body)
	}
	if after := authFailures(t, scrape(t, apiProc.metricsURL), "insufficient_scope"); after != before+1 {
		t.Errorf("insufficient_scope failures went %v -> %v; want +1", before, after)
	}

	// The operator takes batch:upload off the upload route: the next run
	// fails, naming the scope it lacks; giving it back makes a run succeed.
	gen = applyPolicy(t, ctx, admin, ns, policyName, withUploadScope(spec, "import:timesheets"))
	waitPolicyReady(t, ctx, admin, ns, policyName, gen, 30*time.Second)
	out = run(1)
	if !strings.Contains(out, "import:timesheets") {
		t.Errorf("the refused run does not name the missing scope import:timesheets:\n%s", out)
	}
	if after := authFailures(t, scrape(t, apiProc.metricsURL), "insufficient_scope"); after <= before+1 {
		t.Errorf("the refused run was not counted as insufficient_scope (%v)", after)
	}
	gen = applyPolicy(t, ctx, admin, ns, policyName, spec)
	waitPolicyReady(t, ctx, admin, ns, policyName, gen, 30*time.Second)
	out = run(0)
	if d := summaryField(t, out, "duplicates"); d != rows {
		t.Errorf("after the re-grant: duplicates %d; want %d", d, rows)
	}
	phase("policy changes: scope taken away (run fails, 403 counted) and given back (run succeeds)")

	// private_key_jwt and DPoP, with the chart's Secret layout: a Secret of
	// client-id, private-key.pem and key-id; a policy that takes only
	// DPoP-bound tokens, with ES256 proofs; the release upgraded to both.
	keyDir := filepath.Join(dir, "key-client")
	if err := devissuer.WriteKeyCredentials(keyDir, keyClient.ID, keyPriv, keyID); err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(keyDir, devissuer.PrivateKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	create(t, ctx, admin, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "importer-key-credentials"},
		Data: map[string][]byte{"client-id": []byte(keyClient.ID), "private-key.pem": keyPEM, "key-id": []byte(keyID)}})
	dpopSpec := *spec.DeepCopy()
	dpopSpec.Algorithms = []authv1.Algorithm{"RS256", "ES256"}
	dpopSpec.DPoP = authv1.DPoPRequired
	gen = applyPolicy(t, ctx, admin, ns, policyName, dpopSpec)
	waitPolicyReady(t, ctx, admin, ns, policyName, gen, 30*time.Second)
	if out = run(1); !strings.Contains(out, "401") { // the secret client's bearer token is refused now
		t.Errorf("the bearer run under a DPoP-only policy does not say 401:\n%s", out)
	}
	helm(t, adminKubeconfig, "upgrade", release, filepath.Join(repoRoot(t), "charts", "timesheets"), "-n", ns, "--reuse-values",
		"--set", "importer.credentials.existingSecret=importer-key-credentials", "--set", "importer.credentials.method=private_key_jwt",
		"--set", "importer.credentials.keyIDKey=key-id", "--set", "importer.dpop=true", "--set", "importer.source.name=contractor-tool-key")
	keyCron := cronJob(t, ctx, admin, ns)
	keyOut := runImporter(t, ctx, importerBin, keyCron, admin, dir, 0)
	outputs.WriteString(keyOut)
	if got := summaryField(t, keyOut, "created"); got != rows {
		t.Errorf("the private_key_jwt and DPoP run created %d; want %d\n%s", got, rows, keyOut)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(keyPEM)), "\n")[1:] {
		if !strings.HasPrefix(line, "-----") && strings.Contains(apiProc.log.String()+outputs.String(), line) {
			t.Fatal("the private key appears in a process's output")
		}
	}
	phase("private_key_jwt and DPoP: the chart's key Secret layout, a DPoP-only policy; the bearer run refused, the bound one stores every entry")

	// No output of either binary repeats a credential; the API never hit a
	// forbidden call with the chart's RBAC.
	if secret := secretData(t, ctx, admin, ns, secretKey)["client-secret"]; strings.Contains(apiProc.log.String()+outputs.String(), string(secret)) {
		t.Error("the client secret appears in a process's output")
	}
	if f := lines(apiProc.log.String(), "forbidden"); len(f) > 0 {
		t.Errorf("the API was refused by the API server with the chart's RBAC:\n%s", strings.Join(f, "\n"))
	}

	helm(t, adminKubeconfig, "uninstall", release, "-n", ns)
	crd := &apiextv1.CustomResourceDefinition{}
	if err := admin.Get(ctx, client.ObjectKey{Name: crdName}, crd); err != nil {
		t.Errorf("helm uninstall removed the CRD: %v", err)
	}
	eventually(t, 30*time.Second, "release objects gone", func() error {
		var deps appsv1.DeploymentList
		if err := admin.List(ctx, &deps, client.InNamespace(ns)); err != nil || len(deps.Items) > 0 {
			return fmt.Errorf("%d deployments left (%v)", len(deps.Items), err)
		}
		return nil
	})
	phase("helm uninstall: the release is gone, the CRD stays")
	t.Logf("e2e wall time: %s", time.Since(started).Round(100*time.Millisecond))
}

func writeUserKubeconfig(t testing.TB, env *envtest.Environment, dir, name string, groups []string) string {
	t.Helper()
	user, err := env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".kubeconfig")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeImpersonatingKubeconfig writes a kubeconfig whose every request
// impersonates ns/sa with the groups the API server gives a ServiceAccount,
// so RBAC judges it exactly as it judges the pod's own token.
func writeImpersonatingKubeconfig(t testing.TB, adminKubeconfig, dir, ns, sa string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(adminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.AuthInfos {
		a.Impersonate = "system:serviceaccount:" + ns + ":" + sa
		a.ImpersonateGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
	}
	path := filepath.Join(dir, sa+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

type access struct {
	allowed                                       bool
	verb, group, resource, subresource, namespace string
}

// checkAccess asks the API server, as the impersonated user, whether each
// request would be allowed.
func checkAccess(t testing.TB, ctx context.Context, c client.Client, who string, want []access) {
	t.Helper()
	for _, a := range want {
		r := &authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authzv1.ResourceAttributes{
			Verb: a.verb, Group: a.group, Resource: a.resource, Subresource: a.subresource, Namespace: a.namespace}}}
		if err := c.Create(ctx, r); err != nil {
			t.Fatalf("SelfSubjectAccessReview as %s: %v", who, err)
		}
		if r.Status.Allowed != a.allowed {
			t.Errorf("%s may %s %s/%s %s in %q: %v; want %v", who, a.verb, a.resource, a.subresource, a.group, a.namespace, r.Status.Allowed, a.allowed)
		}
	}
}

type apiProcess struct {
	apiAddr              string // host:port the API listens on
	probeURL, metricsURL string
	log                  *syncbuf.Buffer
}

// startAPI runs the API binary with the Deployment's container args and env,
// rebinding its ports to loopback and its data volume to a directory.
// Each server binds port 0 and logs the address it bound ("serving").
func startAPI(t testing.TB, ctx context.Context, bin, kubeconfig string, dep appsv1.Deployment, dir string) *apiProcess {
	t.Helper()
	ctr := dep.Spec.Template.Spec.Containers[0]
	if len(ctr.Command) != 1 || ctr.Command[0] != "/api" {
		t.Fatalf("the Deployment runs %v; want [/api]", ctr.Command)
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	rebind := map[string]string{"--listen-address": "127.0.0.1:0", "--health-probe-bind-address": "127.0.0.1:0", "--metrics-bind-address": "127.0.0.1:0"}
	var args []string
	for _, a := range ctr.Args {
		flag, value, _ := strings.Cut(a, "=")
		switch {
		case rebind[flag] != "":
			a = flag + "=" + rebind[flag]
		case flag == "--database-url" && strings.HasPrefix(value, "sqlite:///data/"):
			a = flag + "=sqlite://" + data + "/" + strings.TrimPrefix(value, "sqlite:///data/")
		}
		args = append(args, a)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(containerEnv(t, ctr, dep.Namespace), "KUBECONFIG="+kubeconfig, "PATH="+os.Getenv("PATH"))
	p := &apiProcess{log: &syncbuf.Buffer{}}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("API output:\n%s", p.log.String())
		}
	})
	eventually(t, 30*time.Second, "API listening on its three ports", func() error {
		log := p.log.String()
		addrs := map[string]string{}
		for _, name := range []string{"api", "probes", "metrics"} {
			if addrs[name] = servingAddress(log, name); addrs[name] == "" {
				return fmt.Errorf(`no "serving" record of the %s server`, name)
			}
		}
		p.apiAddr, p.probeURL, p.metricsURL = addrs["api"], "http://"+addrs["probes"], "http://"+addrs["metrics"]
		if code := getStatus(p.probeURL + "/healthz"); code != http.StatusOK {
			return fmt.Errorf("%s/healthz: %d", p.probeURL, code)
		}
		return nil
	})
	return p
}

func getStatus(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// servingAddress reads the address of server name from a JSON log
// (pkg/server: {"msg":"serving","server":NAME,"address":ADDR}).
func servingAddress(log, name string) string {
	for _, line := range strings.Split(log, "\n") {
		var rec struct{ Msg, Server, Address string }
		if strings.Contains(line, `"msg":"serving"`) && json.Unmarshal([]byte(line), &rec) == nil && rec.Server == name {
			return rec.Address
		}
	}
	return ""
}

// relay accepts connections on ln until the test ends and relays each to
// addr, so that a URL handed out before a server started reaches it.
func relay(t testing.TB, ln net.Listener, addr string) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				up, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, conn); _ = up.(*net.TCPConn).CloseWrite() }()
				_, _ = io.Copy(conn, up)
			}()
		}
	}()
}

// containerEnv resolves the env a kubelet would give the container, for the
// sources the chart uses.
func containerEnv(t testing.TB, ctr corev1.Container, ns string) []string {
	t.Helper()
	var env []string
	for _, e := range ctr.Env {
		switch {
		case e.ValueFrom == nil:
			env = append(env, e.Name+"="+e.Value)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			env = append(env, e.Name+"="+ns)
		case e.ValueFrom.ResourceFieldRef != nil:
			q := ctr.Resources.Limits[corev1.ResourceName(e.ValueFrom.ResourceFieldRef.Resource[len("limits."):])]
			env = append(env, fmt.Sprintf("%s=%d", e.Name, q.Value()))
		default:
			t.Fatalf("env %s: source %+v not resolved by this test", e.Name, e.ValueFrom)
		}
	}
	return env
}

func ready(probeURL string) bool {
	resp, err := http.Get(probeURL + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// runImporter runs the importer binary with the CronJob's args, each volume
// mount materialised in a directory as the kubelet lays it out (Secret and
// ConfigMap keys as symlinks into a timestamped ..data directory, with the
// volume's defaultMode), and wants the given exit code.
func runImporter(t testing.TB, ctx context.Context, bin string, cron batchv1.CronJob, c client.Client, dir string, wantExit int) string {
	t.Helper()
	pod := cron.Spec.JobTemplate.Spec.Template.Spec
	ctr := pod.Containers[0]
	if len(ctr.Command) != 1 || ctr.Command[0] != "/importer" {
		t.Fatalf("the CronJob runs %v; want [/importer]", ctr.Command)
	}
	root, err := os.MkdirTemp(dir, "importer-pod-")
	if err != nil {
		t.Fatal(err)
	}
	mounts := map[string]string{}
	for i, m := range ctr.VolumeMounts {
		local := filepath.Join(root, fmt.Sprintf("volume-%d", i))
		for _, v := range pod.Volumes {
			if v.Name == m.Name {
				materialise(t, ctx, c, cron.Namespace, v, local)
			}
		}
		mounts[m.MountPath] = local
	}
	var args []string
	for _, a := range ctr.Args {
		flag, value, _ := strings.Cut(a, "=")
		for mountPath, local := range mounts {
			if value == mountPath || strings.HasPrefix(value, mountPath+"/") {
				a = flag + "=" + local + strings.TrimPrefix(value, mountPath)
			}
		}
		args = append(args, a)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(containerEnv(t, ctr, cron.Namespace), "PATH="+os.Getenv("PATH"), "TMPDIR="+mounts["/tmp"])
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != wantExit {
		t.Fatalf("importer exit %d; want %d\n%s", code, wantExit, out.String())
	}
	return out.String()
}

// materialise writes a volume's content into local as the kubelet would.
func materialise(t testing.TB, ctx context.Context, c client.Client, ns string, v corev1.Volume, local string) {
	t.Helper()
	files := map[string][]byte{}
	mode := os.FileMode(0o644)
	switch {
	case v.Secret != nil:
		s := &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: v.Secret.SecretName}, s); err != nil {
			t.Fatal(err)
		}
		files = pick(s.Data, v.Secret.Items)
		if v.Secret.DefaultMode != nil {
			mode = os.FileMode(*v.Secret.DefaultMode)
		}
	case v.ConfigMap != nil:
		cm := &corev1.ConfigMap{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: v.ConfigMap.Name}, cm); err != nil {
			t.Fatal(err)
		}
		data := map[string][]byte{}
		for k, s := range cm.Data {
			data[k] = []byte(s)
		}
		files = pick(data, v.ConfigMap.Items)
		if v.ConfigMap.DefaultMode != nil {
			mode = os.FileMode(*v.ConfigMap.DefaultMode)
		}
	case v.EmptyDir != nil:
		if err := os.MkdirAll(local, 0o777); err != nil {
			t.Fatal(err)
		}
		return
	default:
		t.Fatalf("volume %s: kind not materialised by this test", v.Name)
	}
	ts := "..2026_11_23_00_00_00.000000001"
	if err := os.MkdirAll(filepath.Join(local, ts), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(local, ts, name), b, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(local, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(ts, filepath.Join(local, "..data")); err != nil {
		t.Fatal(err)
	}
}

// pick applies a volume's items (key -> path) to data; no items keeps all.
func pick(data map[string][]byte, items []corev1.KeyToPath) map[string][]byte {
	if len(items) == 0 {
		return data
	}
	out := map[string][]byte{}
	for _, it := range items {
		out[it.Path] = data[it.Key]
	}
	return out
}
