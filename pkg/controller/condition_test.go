package controller

import (
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
)

// TestConditionCompileErrorKeepsLastGood: the CRD admits any condition of
// the right length; one that does not compile is refused by the reconciler,
// Ready=False InvalidSpec naming the route's when field and the CEL error,
// and the last good policy stays in force.
func TestConditionCompileErrorKeepsLastGood(t *testing.T) {
	ns := newNamespace(t)
	iss := newIssuer(t)
	sp := createPolicy(t, ns, "policy", spec("read:timesheets", iss))
	r := startReplica(t, ns, "policy", nil)
	tok := token(t, iss, "read:timesheets")
	r.waitStatus(t, "GET", "/timesheets", tok, http.StatusOK)
	waitReady(t, ns, "policy", sp.Generation, metav1.ConditionTrue, v1alpha1.ReasonLoaded)

	gen := updateSpec(t, ns, "policy", func(s *v1alpha1.ScopePolicySpec) { s.Routes[0].When = `claims.sub ==` })
	got := waitReady(t, ns, "policy", gen, metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec)
	for _, w := range []string{"spec.routes[0].when: does not compile: 1:14: Syntax error"} {
		if msg := readyOf(got).Message; !strings.Contains(msg, w) {
			t.Errorf("Ready message does not mention %q: %s", w, msg)
		}
	}
	gen = updateSpec(t, ns, "policy", func(s *v1alpha1.ScopePolicySpec) { s.Routes[0].When = `claims.sub` })
	got = waitReady(t, ns, "policy", gen, metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec)
	if msg, w := readyOf(got).Message, "spec.routes[0].when: must be a boolean expression, is dyn"; !strings.Contains(msg, w) {
		t.Errorf("Ready message does not mention %q: %s", w, msg)
	}
	if code := r.call(t, "GET", "/timesheets", tok); code != http.StatusOK {
		t.Errorf("last good policy: GET = %d, want 200", code)
	}

	// A condition that compiles is enforced: the development issuer's
	// tokens carry no org_id, so the condition fails and refuses.
	gen = updateSpec(t, ns, "policy", func(s *v1alpha1.ScopePolicySpec) { s.Routes[0].When = `claims.org_id == "org_abc"` })
	waitReady(t, ns, "policy", gen, metav1.ConditionTrue, v1alpha1.ReasonLoaded)
	r.waitStatus(t, "GET", "/timesheets", tok, http.StatusForbidden)
}

// TestPeopleSampleAdmitted: the people sample passes the CRD as it is
// shown, conditions, step-up and identity included.
func TestPeopleSampleAdmitted(t *testing.T) {
	admitSample(t, "auth_v1alpha1_scopepolicy_people.yaml")
}
