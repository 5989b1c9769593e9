package policy

import (
	"bytes"
	"fmt"
	"os"

	"sigs.k8s.io/yaml"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
)

// Parse reads a ScopePolicy from YAML or JSON, the same document one would
// kubectl apply. Unknown fields are errors, so a typo cannot silently drop a rule.
func Parse(data []byte) (*v1alpha1.ScopePolicy, error) {
	var sp v1alpha1.ScopePolicy
	if err := yaml.UnmarshalStrict(bytes.TrimSpace(data), &sp); err != nil {
		return nil, fmt.Errorf("parse policy: %w", err)
	}
	if sp.APIVersion != v1alpha1.GroupVersion.String() || sp.Kind != "ScopePolicy" {
		return nil, fmt.Errorf("parse policy: want apiVersion %s and kind ScopePolicy, got %q and %q",
			v1alpha1.GroupVersion, sp.APIVersion, sp.Kind)
	}
	return &sp, nil
}

// LoadFile parses and compiles the policy in a file. Generation is taken from
// metadata.generation when set, so logs and metrics can tell versions apart.
func LoadFile(path string) (*Snapshot, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	return compileFile(path, data)
}

func compileFile(path string, data []byte) (*Snapshot, error) {
	sp, err := Parse(data)
	if err != nil {
		return nil, err
	}
	gen := sp.Generation
	if gen == 0 {
		gen = 1
	}
	s, err := Compile(path, gen, sp.Spec)
	if err != nil {
		return nil, fmt.Errorf("invalid policy %s: %w", path, err)
	}
	return s, nil
}
