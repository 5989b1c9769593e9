package v1alpha1_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestEveryFieldDescribed: kubectl explain scopepolicy shows a description
// for every field, because the generated CRD's schema has one for every
// property, at every depth (doc comments on the types).
func TestEveryFieldDescribed(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "config", "crd", "bases", "auth.timesheets.dev_scopepolicies.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Name   string
				Schema struct {
					OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
				}
			}
		}
	}
	if err := yaml.Unmarshal(b, &crd); err != nil {
		t.Fatal(err)
	}
	if len(crd.Spec.Versions) == 0 {
		t.Fatal("no versions in the CRD")
	}
	var walk func(path string, schema map[string]any)
	walked := 0
	root := ""
	walk = func(path string, schema map[string]any) {
		props, _ := schema["properties"].(map[string]any)
		for _, name := range slices.Sorted(maps.Keys(props)) {
			p := path + "." + name
			child, _ := props[name].(map[string]any)
			walked++
			// The root's metadata is ObjectMeta, which the API server
			// describes itself (controller-gen writes no description).
			if path == root && name == "metadata" {
				continue
			}
			if d, _ := child["description"].(string); d == "" {
				t.Errorf("%s has no description: add a doc comment to its field", p)
			}
			walk(p, child)
		}
		if items, ok := schema["items"].(map[string]any); ok {
			walk(path+"[]", items)
		}
	}
	for _, v := range crd.Spec.Versions {
		root = fmt.Sprintf("scopepolicy(%s)", v.Name)
		walk(root, v.Schema.OpenAPIV3Schema)
	}
	if walked < 40 {
		t.Fatalf("walked only %d properties: is the schema read at all?", walked)
	}
}
