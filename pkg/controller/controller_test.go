package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	coordinationv1 "k8s.io/api/coordination/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/metrics"
	"github.com/abc-inc/timesheets/pkg/policy"
)

// validSpec passes both the CRD and policy.Compile.
func validSpec() v1alpha1.ScopePolicySpec {
	return v1alpha1.ScopePolicySpec{
		Issuers:   []v1alpha1.Issuer{{URL: "https://issuer.example/"}},
		Audiences: []string{testAudience},
		Routes: []v1alpha1.Route{
			{Path: "/timesheets", Methods: []string{"GET"}, Scopes: []string{"read:timesheets"}},
			{Path: "/timesheets", Methods: []string{"POST"}, Scopes: []string{"create:timesheets"}},
			{Path: "/timesheets", Scopes: []string{"admin:timesheets"}}, // the other methods
			{Path: "/healthcheck", Public: true},
		},
	}
}

// TestCRDRefusesInvalidSpecs applies specs the CRD's schema and CEL rules
// must refuse (server-side dry run) and checks the message names the rule.
func TestCRDRefusesInvalidSpecs(t *testing.T) {
	ns := newNamespace(t)
	skew := func(s string) *metav1.Duration {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		return &metav1.Duration{Duration: d}
	}
	tests := []struct {
		name   string
		mutate func(*v1alpha1.ScopePolicySpec)
		want   []string // substrings of the error; none: accepted
	}{
		{"valid", func(*v1alpha1.ScopePolicySpec) {}, nil},
		{"valid: plain http to loopback (a development issuer)", func(s *v1alpha1.ScopePolicySpec) {
			s.Issuers = []v1alpha1.Issuer{{URL: "http://127.0.0.1:9443/"}, {URL: "http://[::1]:9443/"},
				{URL: "http://localhost:9443/", JWKSURI: "http://localhost:9443/.well-known/jwks.json"}}
		}, nil},
		{"valid: method-less route beside GET and POST on one path", func(s *v1alpha1.ScopePolicySpec) {
			s.Routes = append(s.Routes, v1alpha1.Route{Path: "/timesheets/{id}", Methods: []string{"GET", "HEAD"}, Scopes: []string{"read:timesheets"}})
		}, nil},
		{"valid: the most routes (128), each with every method", func(s *v1alpha1.ScopePolicySpec) {
			s.Routes = nil
			for i := range 128 {
				s.Routes = append(s.Routes, v1alpha1.Route{Path: fmt.Sprintf("/r%03d/{id}", i),
					Methods: []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}, Scopes: []string{"s"}})
			}
		}, nil},
		{"too many routes", func(s *v1alpha1.ScopePolicySpec) {
			for i := range 129 {
				s.Routes = append(s.Routes, v1alpha1.Route{Path: fmt.Sprintf("/r%03d", i), Methods: []string{"GET"}, Scopes: []string{"s"}})
			}
		}, []string{"spec.routes", "must have at most 128 items"}},
		{"valid: clock skew of exactly 5m", func(s *v1alpha1.ScopePolicySpec) { s.ClockSkew = skew("5m") }, nil},
		{"empty issuers", func(s *v1alpha1.ScopePolicySpec) { s.Issuers = []v1alpha1.Issuer{} },
			[]string{"spec.issuers", "should have at least 1 items"}},
		{"empty audiences", func(s *v1alpha1.ScopePolicySpec) { s.Audiences = []string{} },
			[]string{"spec.audiences", "should have at least 1 items"}},
		{"empty audience string", func(s *v1alpha1.ScopePolicySpec) { s.Audiences = []string{""} },
			[]string{"spec.audiences[0]", "at least 1 chars"}},
		{"issuer that is not an http(s) URL", func(s *v1alpha1.ScopePolicySpec) { s.Issuers[0].URL = "ftp://issuer.example/" },
			[]string{"spec.issuers[0].url", "must be an https URL"}},
		{"plain http issuer off loopback", func(s *v1alpha1.ScopePolicySpec) { s.Issuers[0].URL = "http://10.244.0.1:9443/" },
			[]string{"spec.issuers[0].url", "must be an https URL"}},
		{"plain http JWKS off loopback", func(s *v1alpha1.ScopePolicySpec) { s.Issuers[0].JWKSURI = "http://keys.example/jwks.json" },
			[]string{"spec.issuers[0].jwksURI", "must be an https URL"}},
		{"plain http to a host named like loopback", func(s *v1alpha1.ScopePolicySpec) { s.Issuers[0].URL = "http://127.0.0.1.example/" },
			[]string{"spec.issuers[0].url", "must be an https URL"}},
		{"algorithm none", func(s *v1alpha1.ScopePolicySpec) { s.Algorithms = []v1alpha1.Algorithm{"none"} },
			[]string{"spec.algorithms[0]", `Unsupported value: "none"`}},
		{"algorithm HS256", func(s *v1alpha1.ScopePolicySpec) { s.Algorithms = []v1alpha1.Algorithm{"RS256", "HS256"} },
			[]string{"spec.algorithms[1]", `Unsupported value: "HS256"`}},
		{"path without leading slash", func(s *v1alpha1.ScopePolicySpec) { s.Routes[0].Path = "timesheets" },
			[]string{"spec.routes[0].path", "should match '^/'"}},
		{"unknown method", func(s *v1alpha1.ScopePolicySpec) { s.Routes[0].Methods = []string{"FETCH"} },
			[]string{"spec.routes[0].methods[0]", `Unsupported value: "FETCH"`}},
		{"duplicate method and path", func(s *v1alpha1.ScopePolicySpec) {
			s.Routes = append(s.Routes, v1alpha1.Route{Path: "/timesheets", Methods: []string{"DELETE", "GET"}, Scopes: []string{"x"}})
		}, []string{"spec.routes", "duplicate method+path"}},
		{"two method-less routes on one path", func(s *v1alpha1.ScopePolicySpec) {
			s.Routes = append(s.Routes, v1alpha1.Route{Path: "/timesheets", Scopes: []string{"x"}})
		}, []string{"spec.routes", "duplicate method+path"}},
		{"public and scoped", func(s *v1alpha1.ScopePolicySpec) { s.Routes[3].Scopes = []string{"read:timesheets"} },
			[]string{"spec.routes[3]", "either public or requires scopes"}},
		{"scope with a space", func(s *v1alpha1.ScopePolicySpec) { s.Routes[0].Scopes = []string{"read timesheets"} },
			[]string{"spec.routes[0].scopes[0]", "should match"}},
		{"clock skew over 5m", func(s *v1alpha1.ScopePolicySpec) { s.ClockSkew = skew("5m1s") },
			[]string{"spec.clockSkew", "clockSkew must be at most 5m"}},
		{"negative clock skew", func(s *v1alpha1.ScopePolicySpec) { s.ClockSkew = skew("-1s") },
			[]string{"spec.clockSkew", "should match"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := &v1alpha1.ScopePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("p%d", i)}, Spec: validSpec()}
			tt.mutate(&sp.Spec)
			err := k8sClient.Create(context.Background(), sp, client.DryRunAll)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if _, err := policy.Compile("test", 1, sp.Spec); err != nil {
					t.Fatalf("accepted by the CRD but not by policy.Compile: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestSamples applies the samples: the valid one is accepted and compiles to
// the six endpoints, the CRD-invalid one is refused on each rule, and the
// conflicting-patterns one passes the CRD but not policy.Compile.
func TestSamples(t *testing.T) {
	ns := newNamespace(t)
	load := func(file string) *v1alpha1.ScopePolicy {
		b, err := os.ReadFile(filepath.Join(repoRoot, "config", "samples", file))
		if err != nil {
			t.Fatal(err)
		}
		var sp v1alpha1.ScopePolicy
		if err := yaml.UnmarshalStrict(b, &sp); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		sp.Namespace = ns
		return &sp
	}

	sp := load("auth_v1alpha1_scopepolicy.yaml")
	if err := k8sClient.Create(context.Background(), sp); err != nil {
		t.Fatalf("valid sample refused: %v", err)
	}
	snap, err := policy.Compile("sample", sp.Generation, sp.Spec)
	if err != nil {
		t.Fatalf("valid sample does not compile: %v", err)
	}
	want := map[string][]string{
		"POST /timesheets":               {"create:timesheets"},
		"POST /timesheets/upload":        {"batch:upload"},
		"GET /timesheets":                {"read:timesheets"},
		"GET /timesheets/{id}":           {"read:timesheets"},
		"DELETE /timesheets/{id}":        {"delete:timesheets"},
		"POST /timesheets/{id}/approve":  {"approve:timesheets"},
		"GET /timesheets/123":            {"read:timesheets"},
		"POST /timesheets/123/approve":   {"approve:timesheets"},
		"DELETE /timesheets/abc-def-123": {"delete:timesheets"},
	}
	for req, scopes := range want {
		method, path, _ := strings.Cut(req, " ")
		path = strings.ReplaceAll(path, "{id}", "42")
		r, _ := http.NewRequest(method, path, nil)
		route := snap.Match(r)
		if route == nil || strings.Join(route.Scopes, " ") != strings.Join(scopes, " ") {
			t.Errorf("%s: route %+v, want scopes %v", req, route, scopes)
		}
	}
	if r, _ := http.NewRequest(http.MethodPut, "/timesheets/42", nil); snap.Match(r) != nil {
		t.Error("PUT /timesheets/42 matches a route; want none (default Deny)")
	}

	err = k8sClient.Create(context.Background(), load("auth_v1alpha1_scopepolicy_invalid_crd.yaml"), client.DryRunAll)
	if err == nil {
		t.Fatal("invalid sample accepted")
	}
	for _, w := range []string{"duplicate method+path",
		"either public or requires scopes", "clockSkew must be at most 5m"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("refusal of the invalid sample does not mention %q:\n%v", w, err)
		}
	}

	bad := load("auth_v1alpha1_scopepolicy_invalid_patterns.yaml")
	if err := k8sClient.Create(context.Background(), bad, client.DryRunAll); err != nil {
		t.Fatalf("conflicting-patterns sample refused by the CRD: %v", err)
	}
	if _, err := policy.Compile("sample", 1, bad.Spec); err == nil || !strings.Contains(err.Error(), "conflicts") {
		t.Fatalf("conflicting-patterns sample: Compile error %v, want a conflict", err)
	}
}

// TestEnforceStatusAndUpdates applies a policy, sees it enforced through
// HTTP and reported in status, then sees 50 updates enforced in turn.
func TestEnforceStatusAndUpdates(t *testing.T) {
	ns := newNamespace(t)
	iss := newIssuer(t)
	r := startReplica(t, ns, "policy", nil)

	// No policy yet: protected and public routes fail closed, readiness fails.
	r.waitStatus(t, "GET", "/timesheets", token(t, iss, "read:timesheets"), http.StatusServiceUnavailable)
	if got := r.probeStatus(t, "/readyz"); got == http.StatusOK {
		t.Errorf("/readyz = %d without a policy", got)
	}

	sp := createPolicy(t, ns, "policy", spec("read:timesheets", iss))
	r.waitStatus(t, "GET", "/timesheets", token(t, iss, "read:timesheets"), http.StatusOK)
	if got := r.call(t, "GET", "/timesheets", token(t, iss, "create:timesheets")); got != http.StatusForbidden {
		t.Errorf("GET /timesheets without read:timesheets = %d, want 403", got)
	}
	if got := r.call(t, "GET", "/timesheets", ""); got != http.StatusUnauthorized {
		t.Errorf("GET /timesheets without a token = %d, want 401", got)
	}
	if got := r.call(t, "GET", "/healthcheck", ""); got != http.StatusOK {
		t.Errorf("public route = %d, want 200", got)
	}

	got := waitReady(t, ns, "policy", sp.Generation, metav1.ConditionTrue, v1alpha1.ReasonLoaded)
	if got.Status.IssuerCount != 1 || got.Status.RouteCount != 3 {
		t.Errorf("issuerCount %d, routeCount %d; want 1, 3", got.Status.IssuerCount, got.Status.RouteCount)
	}
	if len(got.Status.Issuers) != 1 {
		t.Fatalf("status.issuers = %+v", got.Status.Issuers)
	}
	is := got.Status.Issuers[0]
	if is.URL != iss.Issuer() || is.JWKSURI != iss.JWKSURL() || is.KeyCount != 1 || is.LastFetchResult != "Success" || is.LastFetchTime == nil {
		t.Errorf("status.issuers[0] = %+v", is)
	}
	if cols := printerColumns(t, ns, "policy"); cols["Ready"] != "True" || cols["Issuers"] != "1" || cols["Routes"] != "3" || cols["Age"] == "" {
		t.Errorf("kubectl get sp columns: %v", cols)
	}
	if msg := readyOf(got).Message; !strings.Contains(msg, fmt.Sprintf("generation %d is in force", sp.Generation)) {
		t.Errorf("Ready message %q", msg)
	}
	if g := testutil.ToFloat64(r.svc.Metrics.PolicyGeneration); g != float64(sp.Generation) {
		t.Errorf("policy generation metric = %v, want %d", g, sp.Generation)
	}
	eventually(t, 5*time.Second, func() (bool, string) {
		code := r.probeStatus(t, "/readyz")
		return code == http.StatusOK, fmt.Sprintf("/readyz = %d", code)
	})
	if code := r.probeStatus(t, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d", code)
	}
	waitEvent(t, ns, "policy", v1alpha1.ReasonLoaded)

	// 50 updates: each makes GET /timesheets need a new scope, and is
	// enforced over HTTP (BenchmarkPolicyPropagation times it).
	const n = 50
	toks := make([]string, n)
	for i := range toks {
		toks[i] = token(t, iss, fmt.Sprintf("read:v%d", i))
	}
	before := testutil.ToFloat64(r.svc.Metrics.PolicyReloads.WithLabelValues(metrics.ReloadSuccess))
	var gen int64
	for i := range n {
		scope := fmt.Sprintf("read:v%d", i)
		start := time.Now()
		gen = updateSpec(t, ns, "policy", func(s *v1alpha1.ScopePolicySpec) { s.Routes[0].Scopes = []string{scope} })
		for r.call(t, "GET", "/timesheets", toks[i]) != http.StatusOK {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("update %d not enforced after 10s", i)
			}
			time.Sleep(time.Millisecond)
		}
		if i > 0 && r.call(t, "GET", "/timesheets", toks[i-1]) != http.StatusForbidden {
			t.Fatalf("update %d: the previous scope still passes", i)
		}
	}
	if d := testutil.ToFloat64(r.svc.Metrics.PolicyReloads.WithLabelValues(metrics.ReloadSuccess)) - before; d < n {
		t.Errorf("reloads{result=success} grew by %v, want >= %d", d, n)
	}
	waitReady(t, ns, "policy", gen, metav1.ConditionTrue, v1alpha1.ReasonLoaded)
}

// TestInvalidSpecKeepsLastGood applies a spec the CRD accepts but net/http
// rejects (conflicting patterns): Ready=False InvalidSpec, old policy in force.
func TestInvalidSpecKeepsLastGood(t *testing.T) {
	ns := newNamespace(t)
	iss := newIssuer(t)
	sp := createPolicy(t, ns, "policy", spec("read:timesheets", iss))
	r := startReplica(t, ns, "policy", nil)
	oldTok, newTok := token(t, iss, "read:timesheets"), token(t, iss, "read:new")
	r.waitStatus(t, "GET", "/timesheets", oldTok, http.StatusOK)
	waitReady(t, ns, "policy", sp.Generation, metav1.ConditionTrue, v1alpha1.ReasonLoaded)
	invalidBefore := testutil.ToFloat64(r.svc.Metrics.PolicyReloads.WithLabelValues(metrics.ReloadInvalid))

	gen := updateSpec(t, ns, "policy", func(s *v1alpha1.ScopePolicySpec) {
		s.Routes[0].Scopes = []string{"read:new"}
		s.Routes = append(s.Routes,
			v1alpha1.Route{Path: "/a/{x}", Methods: []string{"GET"}, Scopes: []string{"x"}},
			v1alpha1.Route{Path: "/{y}/b", Methods: []string{"GET"}, Scopes: []string{"y"}})
	})
	got := waitReady(t, ns, "policy", gen, metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec)
	msg := readyOf(got).Message
	for _, w := range []string{fmt.Sprintf("generation %d refused", gen), "spec.routes[", "/{y}/b", "conflicts",
		fmt.Sprintf("the last good policy (generation %d) stays in force", sp.Generation)} {
		if !strings.Contains(msg, w) {
			t.Errorf("Ready message does not mention %q: %s", w, msg)
		}
	}
	if got.Status.RouteCount != 3 {
		t.Errorf("routeCount = %d, want the 3 routes in force", got.Status.RouteCount)
	}
	if code := r.call(t, "GET", "/timesheets", oldTok); code != http.StatusOK {
		t.Errorf("last good policy: GET with read:timesheets = %d, want 200", code)
	}
	if code := r.call(t, "GET", "/timesheets", newTok); code != http.StatusForbidden {
		t.Errorf("refused generation enforced: GET with read:new = %d, want 403", code)
	}
	if code := r.probeStatus(t, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d: the last good policy still serves", code)
	}
	if d := testutil.ToFloat64(r.svc.Metrics.PolicyReloads.WithLabelValues(metrics.ReloadInvalid)) - invalidBefore; d < 1 {
		t.Error("reloads{result=invalid} did not grow")
	}
	waitEvent(t, ns, "policy", v1alpha1.ReasonInvalidSpec)

	// Fixing the spec puts it in force.
	gen = updateSpec(t, ns, "policy", func(s *v1alpha1.ScopePolicySpec) { s.Routes = s.Routes[:3] })
	r.waitStatus(t, "GET", "/timesheets", newTok, http.StatusOK)
	waitReady(t, ns, "policy", gen, metav1.ConditionTrue, v1alpha1.ReasonLoaded)
}

// TestKeysUnavailableKeepsLastGood adds an issuer whose JWKS answers 503:
// Ready=False KeysUnavailable, the old generation stays in force until the
// keys can be fetched.
func TestKeysUnavailableKeepsLastGood(t *testing.T) {
	ns := newNamespace(t)
	a, b := newIssuer(t), newIssuer(t)
	b.SetJWKSAvailable(false)
	sp := createPolicy(t, ns, "policy", spec("read:timesheets", a))
	r := startReplica(t, ns, "policy", nil)
	oldTok, newTok, bTok := token(t, a, "read:timesheets"), token(t, a, "read:new"), token(t, b, "read:new")
	r.waitStatus(t, "GET", "/timesheets", oldTok, http.StatusOK)
	waitReady(t, ns, "policy", sp.Generation, metav1.ConditionTrue, v1alpha1.ReasonLoaded)

	gen := updateSpec(t, ns, "policy", func(s *v1alpha1.ScopePolicySpec) {
		*s = spec("read:new", a, b)
	})
	got := waitReady(t, ns, "policy", gen, metav1.ConditionFalse, v1alpha1.ReasonKeysUnavailable)
	msg := readyOf(got).Message
	for _, w := range []string{b.Issuer(), b.JWKSURL(), "HTTP 503",
		fmt.Sprintf("the last good policy (generation %d) stays in force", sp.Generation)} {
		if !strings.Contains(msg, w) {
			t.Errorf("Ready message does not mention %q: %s", w, msg)
		}
	}
	var bStatus *v1alpha1.IssuerStatus
	for i := range got.Status.Issuers {
		if got.Status.Issuers[i].URL == b.Issuer() {
			bStatus = &got.Status.Issuers[i]
		}
	}
	if bStatus == nil || bStatus.KeyCount != 0 || !strings.Contains(bStatus.LastFetchResult, "HTTP 503") || bStatus.LastFetchTime == nil {
		t.Errorf("status.issuers for the unreachable issuer: %+v (all: %+v)", bStatus, got.Status.Issuers)
	}
	if got.Status.IssuerCount != 1 {
		t.Errorf("issuerCount = %d, want the 1 issuer in force", got.Status.IssuerCount)
	}
	if code := r.call(t, "GET", "/timesheets", oldTok); code != http.StatusOK {
		t.Errorf("last good policy: GET with read:timesheets = %d, want 200", code)
	}
	if code := r.call(t, "GET", "/timesheets", newTok); code != http.StatusForbidden {
		t.Errorf("generation without keys enforced: GET with read:new = %d, want 403", code)
	}
	if code := r.call(t, "GET", "/timesheets", bTok); code != http.StatusUnauthorized {
		t.Errorf("token of the issuer not in force = %d, want 401", code)
	}
	waitEvent(t, ns, "policy", v1alpha1.ReasonKeysUnavailable)

	// The JWKS comes back: the new generation goes in force by itself.
	b.SetJWKSAvailable(true)
	r.waitStatus(t, "GET", "/timesheets", newTok, http.StatusOK)
	if code := r.call(t, "GET", "/timesheets", bTok); code != http.StatusOK {
		t.Errorf("token of the new issuer = %d, want 200", code)
	}
	if code := r.call(t, "GET", "/timesheets", oldTok); code != http.StatusForbidden {
		t.Errorf("old scope after the switch = %d, want 403", code)
	}
	got = waitReady(t, ns, "policy", gen, metav1.ConditionTrue, v1alpha1.ReasonLoaded)
	if got.Status.IssuerCount != 2 {
		t.Errorf("issuerCount = %d, want 2", got.Status.IssuerCount)
	}
}

// TestFirstPolicyWithoutKeys: with nothing in force, a policy whose JWKS is
// down goes in force at once (its tokens get 503, public routes work) and
// readiness fails until the keys arrive.
func TestFirstPolicyWithoutKeys(t *testing.T) {
	ns := newNamespace(t)
	iss := newIssuer(t)
	iss.SetJWKSAvailable(false)
	sp := createPolicy(t, ns, "policy", spec("read:timesheets", iss))
	r := startReplica(t, ns, "policy", nil)
	tok := token(t, iss, "read:timesheets")

	waitReady(t, ns, "policy", sp.Generation, metav1.ConditionFalse, v1alpha1.ReasonKeysUnavailable)
	eventually(t, 5*time.Second, func() (bool, string) {
		msg := readyOf(getPolicy(t, ns, "policy")).Message
		return strings.Contains(msg, "cannot verify tokens") && strings.Contains(msg, iss.JWKSURL()+": HTTP 503"), "Ready message: " + msg
	})
	r.waitStatus(t, "GET", "/healthcheck", "", http.StatusOK)
	if code := r.call(t, "GET", "/timesheets", tok); code != http.StatusServiceUnavailable {
		t.Errorf("token without keys = %d, want 503", code)
	}
	if code := r.probeStatus(t, "/readyz"); code == http.StatusOK {
		t.Error("/readyz ok without keys")
	}

	iss.SetJWKSAvailable(true)
	r.waitStatus(t, "GET", "/timesheets", tok, http.StatusOK)
	waitReady(t, ns, "policy", sp.Generation, metav1.ConditionTrue, v1alpha1.ReasonLoaded)
	eventually(t, 5*time.Second, func() (bool, string) {
		code := r.probeStatus(t, "/readyz")
		return code == http.StatusOK, fmt.Sprintf("/readyz = %d", code)
	})
}

// TestDeleteFailsClosed deletes the policy: protected and public routes
// answer 503 and readiness fails.
func TestDeleteFailsClosed(t *testing.T) {
	ns := newNamespace(t)
	iss := newIssuer(t)
	sp := createPolicy(t, ns, "policy", spec("read:timesheets", iss))
	r := startReplica(t, ns, "policy", nil)
	tok := token(t, iss, "read:timesheets")
	r.waitStatus(t, "GET", "/timesheets", tok, http.StatusOK)
	eventually(t, 5*time.Second, func() (bool, string) {
		code := r.probeStatus(t, "/readyz")
		return code == http.StatusOK, fmt.Sprintf("/readyz = %d", code)
	})

	if err := k8sClient.Delete(context.Background(), sp); err != nil {
		t.Fatal(err)
	}
	r.waitStatus(t, "GET", "/timesheets", tok, http.StatusServiceUnavailable)
	if code := r.call(t, "GET", "/healthcheck", ""); code != http.StatusServiceUnavailable {
		t.Errorf("public route without a policy = %d, want 503", code)
	}
	if r.svc.Holder.Load() != nil {
		t.Error("a snapshot is still held")
	}
	if _, err := r.svc.Activator.Readiness(); err == nil || !strings.Contains(err.Error(), "no policy in force") {
		t.Errorf("Readiness = %v", err)
	}
	if code := r.probeStatus(t, "/readyz"); code == http.StatusOK {
		t.Error("/readyz ok without a policy")
	}
	if code := r.probeStatus(t, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", code)
	}
	if g := testutil.ToFloat64(r.svc.Metrics.PolicyGeneration); g != 0 {
		t.Errorf("policy generation metric = %v, want 0", g)
	}

	// Re-created under the same name: enforced again.
	createPolicy(t, ns, "policy", spec("read:timesheets", iss))
	r.waitStatus(t, "GET", "/timesheets", tok, http.StatusOK)
}

// TestOnlyLeaderWritesStatus runs two replicas with leader election: both
// enforce every generation, only the leader patches status; when it stops,
// the other takes over.
func TestOnlyLeaderWritesStatus(t *testing.T) {
	ns := newNamespace(t)
	iss := newIssuer(t)
	createPolicy(t, ns, "policy", spec("read:timesheets", iss))
	replicas := map[string]*replica{}
	for _, name := range []string{"replica-a", "replica-b"} {
		replicas[name] = startReplica(t, ns, "policy", func(o *replicaOptions) {
			o.LeaderElection = true
			o.LeaderElectionID = "timesheets-api-test"
			o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = leaseDuration, renewDeadline, retryPeriod
			o.FieldManager = name
		})
	}
	var leader, follower string
	eventually(t, 15*time.Second, func() (bool, string) {
		var elected []string
		for name, r := range replicas {
			select {
			case <-r.mgr.Elected():
				elected = append(elected, name)
			default:
			}
		}
		if len(elected) != 1 {
			return false, fmt.Sprintf("elected: %v", elected)
		}
		leader = elected[0]
		return true, ""
	})
	for name := range replicas {
		if name != leader {
			follower = name
		}
	}
	t.Logf("leader %s, follower %s", leader, follower)

	var gen int64
	for i := range 3 {
		scope := fmt.Sprintf("read:v%d", i)
		gen = updateSpec(t, ns, "policy", func(s *v1alpha1.ScopePolicySpec) { s.Routes[0].Scopes = []string{scope} })
		tok := token(t, iss, scope)
		for _, r := range replicas {
			r.waitStatus(t, "GET", "/timesheets", tok, http.StatusOK) // both enforce
		}
		waitReady(t, ns, "policy", gen, metav1.ConditionTrue, v1alpha1.ReasonLoaded)
	}
	if w := replicas[follower].rec.StatusWrites(); w != 0 {
		t.Errorf("follower wrote status %d times", w)
	}
	eventually(t, 5*time.Second, func() (bool, string) {
		return replicas[leader].rec.StatusWrites() > 0, "leader never wrote status"
	})
	if got := statusManagers(getPolicy(t, ns, "policy")); len(got) != 1 || got[0] != leader {
		t.Errorf("status written by %v, want only %s", got, leader)
	}

	// The leader stops (releasing the Lease); the follower takes over.
	replicas[leader].stop()
	select {
	case <-replicas[follower].mgr.Elected():
	case <-time.After(15 * time.Second):
		t.Fatal("follower not elected after the leader stopped")
	}
	gen = updateSpec(t, ns, "policy", func(s *v1alpha1.ScopePolicySpec) { s.Routes[0].Scopes = []string{"read:after"} })
	replicas[follower].waitStatus(t, "GET", "/timesheets", token(t, iss, "read:after"), http.StatusOK)
	waitReady(t, ns, "policy", gen, metav1.ConditionTrue, v1alpha1.ReasonLoaded)
	// The counter moves just after the patch returns, so the status can be
	// seen a moment before it: poll.
	eventually(t, 5*time.Second, func() (bool, string) {
		return replicas[follower].rec.StatusWrites() > 0, "new leader never wrote status"
	})
	if got := statusManagers(getPolicy(t, ns, "policy")); !contains(got, follower) {
		t.Errorf("status managers %v do not include the new leader %s", got, follower)
	}
}

// TestTwoPoliciesOneNamespace runs two releases side by side, each electing
// with the default Lease: each policy gets its own writer, so both reach
// Ready. With one Lease for the namespace, one policy would never get status.
func TestTwoPoliciesOneNamespace(t *testing.T) {
	ns := newNamespace(t)
	iss := newIssuer(t)
	names := []string{"release-a", "release-b"}
	for _, name := range names {
		sp := createPolicy(t, ns, name, spec("read:timesheets", iss))
		r := startReplica(t, ns, name, func(o *replicaOptions) {
			o.LeaderElection = true
			o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = leaseDuration, renewDeadline, retryPeriod
		})
		select {
		case <-r.mgr.Elected():
		case <-time.After(15 * time.Second):
			t.Fatalf("%s: not elected (Lease %s)", name, LeaseName(name))
		}
		waitReady(t, ns, name, sp.Generation, metav1.ConditionTrue, v1alpha1.ReasonLoaded)
	}
	for _, name := range names {
		var lease coordinationv1.Lease
		if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: LeaseName(name)}, &lease); err != nil {
			t.Errorf("Lease of %s: %v", name, err)
		}
	}
}

func TestLeaseName(t *testing.T) {
	long := strings.Repeat("a", validation.DNS1123SubdomainMaxLength)
	for _, policy := range []string{"timesheets", "my.policy-1", long, long[:240]} {
		got := LeaseName(policy)
		if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 {
			t.Errorf("LeaseName(%d chars) = %q: %v", len(policy), got, errs)
		}
	}
	if LeaseName(long) == LeaseName(long[:252]) {
		t.Error("two long names share a Lease")
	}
	if got := LeaseName("timesheets"); got != "timesheets-status.timesheets" {
		t.Errorf("LeaseName(timesheets) = %q", got)
	}
}

// statusManagers lists the field managers of the status subresource.
func statusManagers(sp *v1alpha1.ScopePolicy) []string {
	var out []string
	for _, mf := range sp.ManagedFields {
		if mf.Subresource == "status" {
			out = append(out, mf.Manager)
		}
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// waitEvent waits for an events.k8s.io Event about the policy with reason.
func waitEvent(t *testing.T, ns, name, reason string) {
	t.Helper()
	eventually(t, 10*time.Second, func() (bool, string) {
		var list eventsv1.EventList
		if err := k8sClient.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range list.Items {
			if e.Regarding.Name == name && e.Regarding.Kind == "ScopePolicy" && e.Reason == reason && e.Action == EventAction && e.Note != "" {
				return true, ""
			}
			seen = append(seen, e.Reason+": "+e.Note)
		}
		return false, fmt.Sprintf("no %s event; events: %v", reason, seen)
	})
}

// printerColumns fetches the policy as the server-side Table kubectl prints
// and returns the cells of the default columns by name.
func printerColumns(t *testing.T, ns, name string) map[string]string {
	t.Helper()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/apis/%s/namespaces/%s/scopepolicies/%s",
		strings.TrimSuffix(cfg.Host, "/"), v1alpha1.GroupVersion.String(), ns, name), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var table metav1.Table
	if err := json.NewDecoder(resp.Body).Decode(&table); err != nil {
		t.Fatal(err)
	}
	if len(table.Rows) != 1 {
		t.Fatalf("table has %d rows", len(table.Rows))
	}
	cols := map[string]string{}
	for i, c := range table.ColumnDefinitions {
		if c.Priority == 0 && i < len(table.Rows[0].Cells) {
			cols[c.Name] = fmt.Sprint(table.Rows[0].Cells[i])
		}
	}
	return cols
}

// BenchmarkPolicyPropagation times a ScopePolicy update, from just before
// the update request to the first request its new scope lets through, on a
// replica as cmd/api runs it against a real kube-apiserver:
//
//	go test -run '^$' -bench PolicyPropagation ./pkg/controller/
func BenchmarkPolicyPropagation(b *testing.B) {
	ns := newNamespace(b)
	iss := newIssuer(b)
	r := startReplica(b, ns, "policy", nil)
	createPolicy(b, ns, "policy", spec("read:timesheets", iss))
	r.waitStatus(b, "GET", "/timesheets", token(b, iss, "read:timesheets"), http.StatusOK)
	i := 0
	for b.Loop() {
		b.StopTimer()
		scope := fmt.Sprintf("read:b%d", i)
		tok := token(b, iss, scope)
		i++
		b.StartTimer()
		updateSpec(b, ns, "policy", func(s *v1alpha1.ScopePolicySpec) { s.Routes[0].Scopes = []string{scope} })
		for r.call(b, "GET", "/timesheets", tok) != http.StatusOK {
			time.Sleep(time.Millisecond)
		}
	}
}
