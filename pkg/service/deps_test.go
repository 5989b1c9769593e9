package service_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoKubernetesClient keeps the packages that serve requests free of the
// Kubernetes client: the auth, policy, timesheets and store packages, and
// what assembles them, work the same with a policy file and no cluster.
// The ScopePolicy types they read need apimachinery, nothing more;
// client-go, controller-runtime and the built-in API types belong to
// cmd/api's cluster mode and pkg/controller.
func TestNoKubernetesClient(t *testing.T) {
	pkgs := []string{"auth", "policy", "timesheets", "store", "metrics", "server", "activation", "service"}
	for _, p := range pkgs {
		out, err := exec.Command("go", "list", "-deps", "../"+p).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps: %v\n%s", err, out)
		}
		k8s := 0
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "k8s.io/") || strings.HasPrefix(dep, "sigs.k8s.io/") {
				k8s++
			}
			if forbidden(dep) {
				t.Errorf("pkg/%s depends on %s; keep the Kubernetes client out of it", p, dep)
			}
		}
		t.Logf("pkg/%s: %d Kubernetes packages (apimachinery's)", p, k8s)
	}
}

func forbidden(dep string) bool {
	switch {
	case strings.HasPrefix(dep, "sigs.k8s.io/controller-runtime"),
		strings.HasPrefix(dep, "k8s.io/client-go"),
		strings.HasPrefix(dep, "k8s.io/api/"),
		strings.HasPrefix(dep, "k8s.io/apiextensions-apiserver"):
		return true
	}
	return false
}
