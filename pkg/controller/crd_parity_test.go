package controller

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/policy"
	"github.com/abc-inc/timesheets/pkg/policy/policytest"
)

// TestCRDJudgesLikeCompile runs policytest's table against the CRD on the
// suite's kube-apiserver (a dry-run create: admitted or refused as invalid)
// and against policy.Compile; pkg/policy runs the same table against
// Compile alone. A verdict that differs is a rule stated in one place only.
func TestCRDJudgesLikeCompile(t *testing.T) {
	ns := newNamespace(t)
	create := func(t *testing.T, spec v1alpha1.ScopePolicySpec) error {
		sp := &v1alpha1.ScopePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "parity"}, Spec: spec}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return k8sClient.Create(ctx, sp, client.DryRunAll)
	}
	for _, tc := range policytest.Cases() {
		t.Run(tc.Name, func(t *testing.T) {
			err := create(t, tc.Spec)
			switch {
			case tc.Valid && err != nil:
				t.Fatalf("CRD refuses a valid spec: %v", err)
			case !tc.Valid && err == nil:
				t.Fatal("CRD admits an invalid spec")
			case !tc.Valid && !apierrors.IsInvalid(err):
				t.Fatalf("CRD refuses for another reason than validation: %v", err)
			}
			if _, err := policy.Compile("parity", 1, tc.Spec); (err == nil) != tc.Valid {
				t.Fatalf("Compile's verdict differs from the CRD's: %v", err)
			}
		})
	}
	// What no schema can state: the CRD admits, Compile refuses, and the
	// API keeps its last good policy (Ready=False/InvalidSpec).
	for _, tc := range policytest.CompileOnly() {
		t.Run("compile only: "+tc.Name, func(t *testing.T) {
			if err := create(t, tc.Spec); err != nil {
				t.Fatalf("CRD refuses: %v; move the case to policytest.Cases", err)
			}
			if _, err := policy.Compile("parity", 1, tc.Spec); err == nil {
				t.Fatal("Compile admits it")
			}
		})
	}
}

// TestStrictSampleAdmitted: the second sample (requireTokenType, maxTokenAge)
// passes the CRD, and the CRD defaults maxTokenAge to Compile's default.
func TestStrictSampleAdmitted(t *testing.T) {
	sp := admitSample(t, "auth_v1alpha1_scopepolicy_strict.yaml")
	if sp.Spec.RequireTokenType != "at+jwt" || sp.Spec.MaxTokenAge == nil || sp.Spec.MaxTokenAge.Duration != time.Hour {
		t.Fatalf("strict sample spec as admitted: %+v", sp.Spec)
	}

	plain := &v1alpha1.ScopePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: sp.Namespace, Name: "defaults"}, Spec: policytest.Base()}
	if err := k8sClient.Create(context.Background(), plain, client.DryRunAll); err != nil {
		t.Fatal(err)
	}
	if plain.Spec.MaxTokenAge == nil || plain.Spec.MaxTokenAge.Duration != policy.DefaultMaxTokenAge {
		t.Fatalf("CRD default maxTokenAge %v, Compile's %s", plain.Spec.MaxTokenAge, policy.DefaultMaxTokenAge)
	}
}

// admitSample dry-run creates a sample of config/samples as it is shown and
// returns it as the API server admitted it (defaults applied).
func admitSample(t *testing.T, file string) *v1alpha1.ScopePolicy {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "config", "samples", file))
	if err != nil {
		t.Fatal(err)
	}
	var sp v1alpha1.ScopePolicy
	if err := yaml.UnmarshalStrict(b, &sp); err != nil {
		t.Fatal(err)
	}
	sp.Namespace = newNamespace(t)
	if err := k8sClient.Create(context.Background(), &sp, client.DryRunAll); err != nil {
		t.Fatalf("%s refused: %v", file, err)
	}
	return &sp
}
