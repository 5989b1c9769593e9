// Command chartserver checks the chart against a real kube-apiserver
// (envtest) for hack/chart-test.sh, which builds it as "server": with -helm,
// it installs, upgrades, uninstalls and reinstalls the chart; then it creates
// every object of the given files with dryRun=All and strict field validation,
// so the API server checks each field, the ScopePolicy against its CRD's
// schema and CEL rules, and Pod Security (restricted) warnings.
//
//	server -assets DIR -crds DIR [-helm HELM -chart DIR -all-on FILE] FILE...
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

const (
	release   = "timesheets"
	namespace = "timesheets"
	crdName   = "scopepolicies.auth.timesheets.dev"
)

var (
	gvrCRD         = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	gvrNamespace   = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	gvrPVC         = schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}
	gvrDeployment  = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	gvrCronJob     = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "cronjobs"}
	gvrHPA         = schema.GroupVersionResource{Group: "autoscaling", Version: "v2", Resource: "horizontalpodautoscalers"}
	gvrScopePolicy = schema.GroupVersionResource{Group: "auth.timesheets.dev", Version: "v1alpha1", Resource: "scopepolicies"}
)

func main() {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	assets := fs.String("assets", "", "directory holding kube-apiserver and etcd")
	crds := fs.String("crds", "", "CRD directory, installed when -helm is not given")
	helm := fs.String("helm", "", "Helm binary: also install, upgrade and uninstall the chart")
	chart := fs.String("chart", "", "chart directory (with -helm)")
	allOn := fs.String("all-on", "", "values file with every option on (with -helm)")
	_ = fs.Parse(os.Args[1:])
	os.Exit(run(*assets, *crds, *helm, *chart, *allOn, fs.Args()))
}

type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.list
	w.list = nil
	return l
}

type checker struct {
	ctx    context.Context
	dyn    dynamic.Interface
	mapper meta.RESTMapper
	warn   *warnings
	failed int
}

func (c *checker) errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "  "+format+"\n", args...)
	c.failed++
}

func run(assets, crds, helm, chart, allOn string, files []string) int {
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "  start kube-apiserver:", err)
		return 1
	}
	var once sync.Once
	stop := func() { once.Do(func() { _ = env.Stop() }) }
	defer stop()
	// Never leave kube-apiserver and etcd behind.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		stop()
		os.Exit(1)
	}()

	w := &warnings{}
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = w
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, " ", err)
		return 1
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, " ", err)
		return 1
	}
	c := &checker{
		ctx:    context.Background(),
		dyn:    dyn,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)),
		warn:   w,
	}
	if err := c.ensureNamespace(namespace); err != nil {
		fmt.Fprintln(os.Stderr, " ", err)
		return 1
	}
	if helm != "" {
		if err := c.lifecycle(env, helm, chart, allOn); err != nil {
			c.errorf("helm: %v", err)
			return 1
		}
	} else if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{crds}, ErrorIfPathMissing: true}); err != nil {
		c.errorf("install CRDs: %v", err)
		return 1
	}
	for _, file := range files {
		c.dryRun(file)
	}
	if c.failed > 0 {
		return 1
	}
	return 0
}

// lifecycle installs the chart, turns the ScopePolicy on, turns every option
// on, uninstalls it (the CRD and the data claim stay) and installs it again
// (adopting what stayed).
func (c *checker) lifecycle(env *envtest.Environment, helm, chart, allOn string) error {
	user, err := env.AddUser(envtest.User{Name: "chart-test", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return err
	}
	home, err := os.MkdirTemp("", "chart-test-helm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(home)
	if err := os.WriteFile(filepath.Join(home, "kubeconfig"), kubeconfig, 0o600); err != nil {
		return err
	}
	helmEnv := append(os.Environ(),
		"KUBECONFIG="+filepath.Join(home, "kubeconfig"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	run := func(args ...string) error {
		cmd := exec.Command(helm, append(args, "--namespace", namespace)...)
		cmd.Env = helmEnv
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	exists := func(gvr schema.GroupVersionResource, ns, name string) bool {
		var ri dynamic.ResourceInterface = c.dyn.Resource(gvr)
		if ns != "" {
			ri = c.dyn.Resource(gvr).Namespace(ns)
		}
		_, err := ri.Get(c.ctx, name, metav1.GetOptions{})
		return err == nil
	}
	want := func(step string, gvr schema.GroupVersionResource, ns, name string, present bool) {
		if exists(gvr, ns, name) != present {
			c.errorf("after %s: %s %s present=%v, want %v", step, gvr.Resource, name, !present, present)
		}
	}
	failed := c.failed
	done := func(msg string) {
		if c.failed == failed {
			fmt.Println("      " + msg)
		}
		failed = c.failed
	}
	scopePolicy := []string{"--set", "scopePolicy.create=true",
		"--set", "scopePolicy.issuers[0].url=https://abc-inc.eu.auth0.com/",
		"--set", "scopePolicy.audiences[0]=https://timesheets.abc-inc.example/"}

	if err := run("install", release, chart); err != nil {
		return err
	}
	want("install", gvrCRD, "", crdName, true)
	want("install", gvrDeployment, namespace, release, true)
	want("install", gvrPVC, namespace, release+"-data", true)
	done("helm install: CRD, Deployment and PVC created")

	if err := run(append([]string{"upgrade", release, chart}, scopePolicy...)...); err != nil {
		return err
	}
	want("upgrade with scopePolicy.create", gvrScopePolicy, namespace, release, true)
	done("helm upgrade --set scopePolicy.create=true: the ScopePolicy passes the CRD's validation")

	// Without the Prometheus Operator's CRDs a ServiceMonitor cannot be created.
	if err := run("upgrade", release, chart, "-f", allOn, "--set", "metrics.serviceMonitor.enabled=false"); err != nil {
		return err
	}
	want("upgrade with every option", gvrCronJob, namespace, release+"-importer", true)
	want("upgrade with every option", gvrHPA, namespace, release, true)
	done("helm upgrade -f ci/all-on-values.yaml: CronJob and autoscaler created")

	if err := run("uninstall", release); err != nil {
		return err
	}
	want("uninstall", gvrCRD, "", crdName, true)
	want("uninstall", gvrPVC, namespace, release+"-data", true)
	want("uninstall", gvrDeployment, namespace, release, false)
	done("helm uninstall: CRD and PVC kept (helm.sh/resource-policy: keep), the rest deleted")

	if err := run(append([]string{"install", release, chart}, scopePolicy...)...); err != nil {
		return err
	}
	want("reinstall", gvrScopePolicy, namespace, release, true)
	done("helm install again: the kept CRD and PVC are adopted")
	return nil
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

// dryRun creates every object of a file with dryRun=All and strict field validation.
func (c *checker) dryRun(file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		c.errorf("%v", err)
		return
	}
	for _, doc := range docSep.Split(string(data), -1) {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil || m == nil {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		name := fmt.Sprintf("%s: %s %s", filepath.Base(file), u.GetKind(), u.GetName())
		gvk := u.GroupVersionKind()
		mapping, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			fmt.Printf("      %s: kind unknown to a bare kube-apiserver, not checked\n", name)
			continue
		}
		if err != nil {
			c.errorf("%s: %v", name, err)
			continue
		}
		var ri dynamic.ResourceInterface = c.dyn.Resource(mapping.Resource)
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			ns := u.GetNamespace()
			if ns == "" {
				ns = "default"
			}
			if err := c.ensureNamespace(ns); err != nil {
				c.errorf("namespace %s: %v", ns, err)
				return
			}
			ri = c.dyn.Resource(mapping.Resource).Namespace(ns)
		}
		c.warn.take()
		_, err = ri.Create(c.ctx, u, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
		// Objects that exist already (the CRD, the Namespace) were validated before the conflict.
		if err != nil && !apierrors.IsAlreadyExists(err) {
			c.errorf("%s: %v", name, err)
			continue
		}
		if ws := c.warn.take(); len(ws) > 0 {
			c.errorf("%s: warnings: %s", name, strings.Join(ws, "; "))
		}
	}
}

var namespaces = map[string]bool{}

// ensureNamespace creates a namespace that enforces, and warns about, the
// restricted Pod Security profile: workloads that would break it get warnings.
func (c *checker) ensureNamespace(ns string) error {
	if namespaces[ns] {
		return nil
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": ns, "labels": map[string]any{
			"pod-security.kubernetes.io/enforce": "restricted",
			"pod-security.kubernetes.io/warn":    "restricted",
		}},
	}}
	_, err := c.dyn.Resource(gvrNamespace).Create(c.ctx, u, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		err = nil
	}
	namespaces[ns] = err == nil
	return err
}
