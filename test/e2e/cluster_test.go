//go:build cluster

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	authv1 "github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/devissuer"
	"github.com/abc-inc/timesheets/pkg/policy"
)

// podUID is the importer's and the API's user (the distroless nonroot user).
const podUID = 65532

// TestClusterScenario runs the chart as users install it, on a real node
// (hack/e2e-cluster.sh starts it): pods under the restricted profile, the
// API Ready through its probes, the CronJob firing by itself; the runs after
// the first are Jobs made from the CronJob (kubectl create job --from), as an
// operator starts one, rather than waits for minute boundaries.
func TestClusterScenario(t *testing.T) {
	started := time.Now()
	phase := phases(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kubeconfig := requireEnv(t, "CLUSTER_KUBECONFIG")
	nodeIP := requireEnv(t, "CLUSTER_NODE_IP")
	tag := requireEnv(t, "IMAGE_TAG")
	c := newClient(t, kubeconfig)
	dir := t.TempDir()
	const ns = "timesheets"

	// The authorization server where pods reach it: the node's bridge
	// address, over https as a real issuer, with a CA made for this run
	// that the pods trust through the chart's trustedCA.
	importerClient := devissuer.Client{ID: "importer", Secret: mustSecret(t), Scopes: []string{"batch:upload"}}
	issuerTLS, issuerCA, err := devissuer.ThrowawayTLS(nodeIP)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := devissuer.New(devissuer.Config{ListenAddress: nodeIP + ":0", AllowNonLoopback: true, TLS: issuerTLS,
		Audience: audience, Clients: []devissuer.Client{importerClient},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = iss.Start(ctx) }()
	t.Cleanup(func() { _ = iss.Close() })

	// 1. A namespace where the API server refuses any pod that breaks the
	// restricted profile.
	kubectl(t, kubeconfig, "create", "namespace", ns)
	kubectl(t, kubeconfig, "label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
	refuseUnrestrictedPod(t, ctx, c, ns)

	// 2. The importer's Secret and the CSV source, as the chart's README says.
	const rows, more = 800, 200
	credDir := filepath.Join(dir, "credentials")
	writeFile(t, filepath.Join(credDir, "client-id"), []byte(importerClient.ID))
	writeFile(t, filepath.Join(credDir, "client-secret"), []byte(importerClient.Secret))
	kubectl(t, kubeconfig, "create", "secret", "generic", secretKey, "-n", ns,
		"--from-file=client-id="+filepath.Join(credDir, "client-id"),
		"--from-file=client-secret="+filepath.Join(credDir, "client-secret"))
	source := filepath.Join(dir, "entries.csv")
	writeFile(t, source, csvSource(rows))
	kubectl(t, kubeconfig, "create", "configmap", "contractor-hours", "-n", ns, "--from-file=entries.csv="+source)
	// The API serves https with a certificate for its Service's names, from
	// a kubernetes.io/tls Secret; its CA and the issuer's are what the pods
	// trust besides the system roots.
	apiName := release + "-timesheets." + ns + ".svc"
	apiCert, apiKey, apiCA, err := devissuer.ThrowawayCert(apiName, apiName+".cluster.local")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"issuer-ca.crt": issuerCA, "api-ca.crt": apiCA, "tls.crt": apiCert, "tls.key": apiKey} {
		writeFile(t, filepath.Join(dir, name), b)
	}
	kubectl(t, kubeconfig, "create", "secret", "tls", "api-tls", "-n", ns,
		"--cert="+filepath.Join(dir, "tls.crt"), "--key="+filepath.Join(dir, "tls.key"))
	kubectl(t, kubeconfig, "create", "configmap", "trusted-ca", "-n", ns,
		"--from-file=issuer-ca.crt="+filepath.Join(dir, "issuer-ca.crt"), "--from-file=api-ca.crt="+filepath.Join(dir, "api-ca.crt"))
	// The test reaches the pods by IP and checks the certificate by the Service's name.
	if apiClient, err = devissuer.TrustingClient(apiCA, apiName, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { apiClient = http.DefaultClient })
	// The node has no storage provisioner: a statically provisioned volume
	// for the SQLite claim, owned by the pods' user as a provisioner would
	// leave it.
	createHostPathPV(t, ctx, c, filepath.Join(dir, "pv"))

	// 3. helm install; the API becomes Ready through its probes once its
	// ScopePolicy is loaded through its in-cluster ServiceAccount.
	chart := filepath.Join(repoRoot(t), "charts", "timesheets")
	helm(t, kubeconfig, append([]string{"install", release, chart, "-n", ns,
		"--set", "image.tag=" + tag, "--set", "image.pullPolicy=Never",
		"--set", "persistence.storageClass=-",
		"--set", "importer.schedule=* * * * *",
		"--set", "importer.backoffLimit=0",
		"--set", "tls.existingSecret=api-tls",
		"--set", "trustedCA.configMap=trusted-ca"},
		importerValues(iss.TokenURL())...)...)
	dep := deployment(t, ctx, c, ns)
	policyName := policyFlag(t, dep.Spec.Template.Spec.Containers[0].Args, ns)
	spec := policy.Sample(iss.Issuer(), audience)
	gen := kubectlApplyPolicy(t, ctx, kubeconfig, c, dir, ns, policyName, spec)
	waitPolicyReady(t, ctx, c, ns, policyName, gen, 60*time.Second)
	api := waitAPIReady(t, ctx, c, ns, "", 3*time.Minute)
	phase(fmt.Sprintf("helm install: API pod %s Ready through its probes (policy generation %d)", api.Name, gen))

	// 4. The CronJob fires by itself; the second run creates nothing.
	var logs strings.Builder
	record := func(out string) string {
		logs.WriteString(out)
		return out
	}
	cron := cronJob(t, ctx, c, ns)
	runs := 0
	// run starts a Job from the CronJob, as `kubectl create job --from`
	// does, and returns its log once it has finished.
	run := func(wantExit int32, onCreated func(batchv1.Job)) string {
		runs++
		name := fmt.Sprintf("%s-%d", cron.Name, runs)
		kubectl(t, kubeconfig, "create", "job", "-n", ns, name, "--from=cronjob/"+cron.Name)
		if onCreated != nil {
			var job batchv1.Job
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &job); err != nil {
				t.Fatalf("job %s: %v", name, err)
			}
			onCreated(job)
		}
		return record(importerRun(t, ctx, kubeconfig, c, ns, func() (*batchv1.Job, error) {
			var j batchv1.Job
			return &j, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &j)
		}, wantExit))
	}
	reader := mint(t, iss, "read:timesheets")
	out := record(importerRun(t, ctx, kubeconfig, c, ns, func() (*batchv1.Job, error) {
		return firstJobAfter(ctx, c, ns, started)
	}, 0))
	if got := summaryField(t, out, "created"); got != rows {
		t.Errorf("first scheduled run created %d; want %d\n%s", got, rows, out)
	}
	// The schedule has shown it fires: suspend it, so that only the runs
	// the test starts touch the data, and let any run it started finish.
	kubectl(t, kubeconfig, "patch", "cronjob", cron.Name, "-n", ns, "--type=merge", "-p", `{"spec":{"suspend":true}}`)
	waitJobsFinished(t, ctx, c, ns)
	out = run(0, nil)
	if c, d := summaryField(t, out, "created"), summaryField(t, out, "duplicates"); c != 0 || d != rows {
		t.Errorf("second run: created %d duplicates %d; want 0 and %d", c, d, rows)
	}
	if n := countExternal(t, listAll(t, apiURL(api), reader)); n != rows {
		t.Errorf("%d distinct entries stored; want %d", n, rows)
	}
	phase(fmt.Sprintf("a scheduled run, then one from the CronJob: %d entries created, then none", rows))

	// 5. Take batch:upload away: the next run fails naming the scope, and
	// /metrics counts it; give it back: the following run succeeds.
	before := authFailures(t, scrape(t, metricsURL(api)), "insufficient_scope")
	gen = kubectlApplyPolicy(t, ctx, kubeconfig, c, dir, ns, policyName, withUploadScope(spec, "import:timesheets"))
	waitPolicyReady(t, ctx, c, ns, policyName, gen, 30*time.Second)
	out = run(1, nil)
	if !strings.Contains(out, "import:timesheets") {
		t.Errorf("the refused run does not name the missing scope import:timesheets:\n%s", out)
	}
	if after := authFailures(t, scrape(t, metricsURL(api)), "insufficient_scope"); after <= before {
		t.Errorf("insufficient_scope failures went %v -> %v; want more", before, after)
	}
	gen = kubectlApplyPolicy(t, ctx, kubeconfig, c, dir, ns, policyName, spec)
	waitPolicyReady(t, ctx, c, ns, policyName, gen, 30*time.Second)
	out = run(0, nil)
	if d := summaryField(t, out, "duplicates"); d != rows {
		t.Errorf("after the re-grant: duplicates %d; want %d", d, rows)
	}
	phase("scope taken away: the run fails with exit 1 and is counted; given back: the run succeeds")

	// 6. Kill the API pod with new entries waiting: the Deployment replaces
	// it and the next run lands each entry exactly once.
	writeFile(t, source, csvSource(rows+more))
	kubectlPipe(t, kubeconfig, kubectl(t, kubeconfig, "create", "configmap", "contractor-hours", "-n", ns,
		"--from-file=entries.csv="+source, "--dry-run=client", "-o", "yaml"), "replace", "-f", "-")
	// Kill it as soon as the next run's Job exists, so the importer starts
	// against an API that is gone and must wait, retrying, for the new pod.
	out = run(0, func(job batchv1.Job) {
		kubectl(t, kubeconfig, "delete", "pod", "-n", ns, api.Name, "--grace-period=0", "--force", "--wait=false")
		t.Logf("killed API pod %s %.1fs after job %s was created", api.Name, time.Since(job.CreationTimestamp.Time).Seconds(), job.Name)
	})
	if c, d := summaryField(t, out, "created"), summaryField(t, out, "duplicates"); c != more || d != rows {
		t.Errorf("run across the kill: created %d duplicates %d; want %d and %d\n%s", c, d, more, rows, out)
	}
	replacement := waitAPIReady(t, ctx, c, ns, api.UID, 3*time.Minute)
	if n := countExternal(t, listAll(t, apiURL(replacement), reader)); n != rows+more {
		t.Errorf("after the kill: %d distinct entries; want %d", n, rows+more)
	}
	phase(fmt.Sprintf("API pod killed: replaced by %s; the next run added %d, nothing lost or doubled", replacement.Name, more))

	// 7. helm upgrade with a changed value rolls the Deployment; the data
	// volume keeps the entries. helm uninstall leaves the CRD.
	helm(t, kubeconfig, "upgrade", release, chart, "-n", ns, "--reuse-values", "--set", "logLevel=debug")
	upgraded := waitAPIReady(t, ctx, c, ns, replacement.UID, 3*time.Minute)
	if !slices.Contains(upgraded.Spec.Containers[0].Args, "--log-level=debug") {
		t.Errorf("the rolled pod runs %v; want --log-level=debug", upgraded.Spec.Containers[0].Args)
	}
	if n := countExternal(t, listAll(t, apiURL(upgraded), reader)); n != rows+more {
		t.Errorf("after the upgrade: %d distinct entries; want %d", n, rows+more)
	}
	apiLogs := podLogs(t, kubeconfig, upgraded, "api")
	if f := lines(apiLogs, "forbidden"); len(f) > 0 {
		t.Errorf("the API pod was refused by the API server:\n%s", strings.Join(f, "\n"))
	}
	if strings.Contains(apiLogs+logs.String(), importerClient.Secret) {
		t.Error("the client secret appears in a pod's log")
	}
	helm(t, kubeconfig, "uninstall", release, "-n", ns)
	if err := c.Get(ctx, client.ObjectKey{Name: crdName}, &apiextv1.CustomResourceDefinition{}); err != nil {
		t.Errorf("helm uninstall removed the CRD: %v", err)
	}
	phase("helm upgrade rolled the API (entries kept); helm uninstall left the CRD")
	t.Logf("scenario wall time: %s", time.Since(started).Round(time.Second))
}

func kubectl(t testing.TB, kubeconfig string, args ...string) []byte {
	t.Helper()
	return kubectlPipe(t, kubeconfig, nil, args...)
}

func kubectlPipe(t testing.TB, kubeconfig string, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(requireEnv(t, "KUBECTL"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	if stdin != nil {
		cmd.Stdin = strings.NewReader(string(stdin))
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return out
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// kubectlApplyPolicy applies the ScopePolicy as an operator would and
// returns the generation the API server gave it.
func kubectlApplyPolicy(t testing.TB, ctx context.Context, kubeconfig string, c client.Client, dir, ns, name string, spec authv1.ScopePolicySpec) int64 {
	t.Helper()
	sp := authv1.ScopePolicy{TypeMeta: metav1.TypeMeta{APIVersion: authv1.GroupVersion.String(), Kind: "ScopePolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
	b, err := yaml.Marshal(sp)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "scopepolicy.yaml")
	writeFile(t, path, b)
	kubectl(t, kubeconfig, "apply", "--server-side", "-f", path)
	got := &authv1.ScopePolicy{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, got); err != nil {
		t.Fatal(err)
	}
	return got.Generation
}

// refuseUnrestrictedPod proves the label is enforced: a pod that may run as
// root is refused, so every pod of the release that runs met the profile.
func refuseUnrestrictedPod(t testing.TB, ctx context.Context, c client.Client, ns string) {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "may-run-as-root"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.6"}}}}
	err := c.Create(ctx, pod)
	if err == nil || !strings.Contains(err.Error(), "violates PodSecurity") {
		t.Fatalf("a pod breaking the restricted profile was not refused: %v", err)
	}
}

// createHostPathPV offers a 1Gi volume with no storage class, which the
// chart's claim (persistence.storageClass=-) binds to.
func createHostPathPV(t testing.TB, ctx context.Context, c client.Client, path string) {
	t.Helper()
	if err := os.MkdirAll(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, podUID, podUID); err != nil {
		t.Fatal(err)
	}
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "timesheets-e2e-data"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              "",
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path}},
		}}
	create(t, ctx, c, pv)
	t.Cleanup(func() { _ = c.Delete(context.Background(), pv) })
}

// waitAPIReady waits for the release's API Deployment to be fully rolled
// out with one Ready pod other than notUID, and returns that pod.
func waitAPIReady(t testing.TB, ctx context.Context, c client.Client, ns string, notUID any, timeout time.Duration) corev1.Pod {
	t.Helper()
	var ready corev1.Pod
	eventually(t, timeout, "API Deployment rolled out and Ready", func() error {
		dep := deployment(t, ctx, c, ns)
		s := dep.Status
		if s.ObservedGeneration < dep.Generation || s.UpdatedReplicas != 1 || s.ReadyReplicas != 1 || s.Replicas != 1 {
			return fmt.Errorf("deployment status %+v", s)
		}
		var pods corev1.PodList
		if err := c.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels(dep.Spec.Selector.MatchLabels)); err != nil {
			return err
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && podReady(p) && any(p.UID) != notUID {
				ready = p
				return nil
			}
		}
		return errors.New("no new Ready API pod yet")
	})
	return ready
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func apiURL(p corev1.Pod) string     { return "https://" + p.Status.PodIP + ":" + port(p, "http") }
func metricsURL(p corev1.Pod) string { return "http://" + p.Status.PodIP + ":" + port(p, "metrics") }

func port(p corev1.Pod, name string) string {
	for _, cp := range p.Spec.Containers[0].Ports {
		if cp.Name == name {
			return fmt.Sprint(cp.ContainerPort)
		}
	}
	return ""
}

// importerRun waits for the Job find returns to finish, checks its pod's
// exit code and returns the pod's log.
func importerRun(t testing.TB, ctx context.Context, kubeconfig string, c client.Client, ns string, find func() (*batchv1.Job, error), wantExit int32) string {
	t.Helper()
	var job batchv1.Job
	// The first scheduled run starts within 60s of the schedule; any run
	// may wait for the API (the importer retries within its --timeout).
	eventually(t, 4*time.Minute, "the importer run to finish", func() error {
		j, err := find()
		if err != nil {
			return err
		}
		if j.Status.Succeeded+j.Status.Failed == 0 || j.Status.Active > 0 {
			return fmt.Errorf("job %s still running", j.Name)
		}
		job = *j
		return nil
	})
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"job-name": job.Name}); err != nil || len(pods.Items) != 1 {
		t.Fatalf("job %s: want one pod, got %d (%v)", job.Name, len(pods.Items), err)
	}
	pod := pods.Items[0]
	log := podLogs(t, kubeconfig, pod, "importer")
	st := pod.Status.ContainerStatuses
	if len(st) != 1 || st[0].State.Terminated == nil {
		t.Fatalf("job %s: pod %s has not terminated: %+v", job.Name, pod.Name, st)
	}
	if code := st[0].State.Terminated.ExitCode; code != wantExit {
		t.Fatalf("job %s: importer exit %d; want %d\n%s", job.Name, code, wantExit, log)
	}
	t.Logf("run %s (%s): exit %d, %s", job.Name, job.CreationTimestamp.Format(time.TimeOnly), wantExit, lastSummary(log))
	return log
}

// waitJobsFinished waits until no Job in ns is pending or running.
func waitJobsFinished(t testing.TB, ctx context.Context, c client.Client, ns string) {
	t.Helper()
	eventually(t, 4*time.Minute, "the Jobs to finish", func() error {
		var jobs batchv1.JobList
		if err := c.List(ctx, &jobs, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, j := range jobs.Items {
			if j.Status.Succeeded+j.Status.Failed == 0 || j.Status.Active > 0 {
				return fmt.Errorf("job %s still running", j.Name)
			}
		}
		return nil
	})
}

// firstJobAfter is the earliest Job in ns created after since; an error
// when there is none yet.
func firstJobAfter(ctx context.Context, c client.Client, ns string, since time.Time) (*batchv1.Job, error) {
	var jobs batchv1.JobList
	if err := c.List(ctx, &jobs, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	slices.SortFunc(jobs.Items, func(a, b batchv1.Job) int {
		return a.CreationTimestamp.Compare(b.CreationTimestamp.Time)
	})
	for i, j := range jobs.Items {
		if j.CreationTimestamp.After(since) {
			return &jobs.Items[i], nil
		}
	}
	return nil, errors.New("no Job since " + since.Format(time.TimeOnly))
}

// podLogs returns a container's output (kubectl logs, through the
// kubelet's API).
func podLogs(t testing.TB, kubeconfig string, p corev1.Pod, container string) string {
	t.Helper()
	return string(kubectl(t, kubeconfig, "logs", "-n", p.Namespace, p.Name, "-c", container))
}

func lastSummary(log string) string {
	s := lines(log, " created=")
	if len(s) == 0 {
		return "no summary"
	}
	l := s[len(s)-1]
	if i := strings.Index(l, "read="); i >= 0 {
		return l[i:]
	}
	return l
}
