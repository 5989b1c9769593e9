package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoKubernetesDependency keeps client-go and controller-runtime out of
// the importer: it runs in a CronJob with no API rights, and linking them
// nearly tripled its size (9 MB stripped without them, 25 MB with).
func TestNoKubernetesDependency(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "k8s.io/") || strings.HasPrefix(pkg, "sigs.k8s.io/") {
			t.Errorf("cmd/importer depends on %s; keep Kubernetes packages out of it", pkg)
		}
	}
}
