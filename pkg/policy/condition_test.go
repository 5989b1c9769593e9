package policy_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/policy"
)

// A condition that does not compile or is not boolean refuses the policy,
// naming the route's when field and where in the expression it fails.
func TestConditionRefusesPolicy(t *testing.T) {
	cases := []struct{ name, when, want string }{
		{"syntax", `claims.gty ==`, "spec.routes[1].when: does not compile: 1:14: Syntax error"},
		{"undeclared", `request.auth.claims.sub == "x"`, "spec.routes[1].when: does not compile: 1:1: undeclared reference to 'request'"},
		{"not boolean", `claims.sub`, "spec.routes[1].when: must be a boolean expression, is dyn"},
		{"string", `method + path`, "spec.routes[1].when: must be a boolean expression, is string"},
		{"bad overload", `method == 1`, "spec.routes[1].when: does not compile: 1:8: found no matching overload for '_==_'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := spec()
			s.Routes[1].When = tc.when
			_, err := policy.Compile("t", 1, s)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// The policy file path goes through Compile: a file with a broken
// condition is refused with the same message.
func TestConditionRefusesPolicyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`apiVersion: auth.timesheets.dev/v1alpha1
kind: ScopePolicy
metadata: {name: p}
spec:
  issuers: [{url: "https://abc.eu.auth0.com/"}]
  audiences: ["https://timesheets.abc-inc.example/"]
  routes:
  - path: /timesheets/{id}/approve
    methods: [POST]
    scopes: [approve:timesheets]
    when: 'claims.org_id = "org_abc"'
`), 0o600))
	_, err := policy.LoadFile(path)
	require.ErrorContains(t, err, "spec.routes[0].when: does not compile: 1:15: Syntax error")
}

func TestMatchParams(t *testing.T) {
	s := spec()
	s.Routes = append(s.Routes, v1alpha1.Route{Path: "/files/{dir}/{rest...}", Methods: []string{"GET"}, Scopes: []string{"x"}},
		v1alpha1.Route{Path: "/exact/{$}", Methods: []string{"GET"}, Scopes: []string{"x"}})
	snap, err := policy.Compile("t", 1, s)
	require.NoError(t, err)
	cases := []struct {
		method, path, pattern string
		params                map[string]string
	}{
		{"POST", "/timesheets/14/approve", "POST /timesheets/{id}/approve", map[string]string{"id": "14"}},
		{"GET", "/timesheets/a%2Fb", "GET /timesheets/{id}", map[string]string{"id": "a/b"}},
		{"GET", "/files/x/y/z", "GET /files/{dir}/{rest...}", map[string]string{"dir": "x", "rest": "y/z"}},
		{"GET", "/exact/", "GET /exact/{$}", nil},
		{"GET", "/timesheets/healthcheck", "/timesheets/healthcheck", nil},
		{"GET", "/nowhere", "", nil},
		{"GET", "/timesheets/../timesheets/1", "", nil}, // the mux would redirect: no route
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, nil)
			route, params := snap.MatchParams(r)
			if tc.pattern == "" {
				require.Nil(t, route)
				return
			}
			require.NotNil(t, route)
			require.Equal(t, tc.pattern, route.Pattern)
			require.Equal(t, tc.params, params)
			require.Equal(t, "", r.Pattern, "the caller's request is not changed")
		})
	}
}

func TestConditionEval(t *testing.T) {
	s := spec()
	s.Routes[0].When = `params.id != claims.sub && claims["https://abc-inc.example/roles"].exists(r, r == "manager") && method == "POST" && path.startsWith("/timesheets/")`
	s.Routes[1].When = `claims.list.all(x, x.all(y, y.all(z, z == z)))`
	snap, err := policy.Compile("t", 1, s)
	require.NoError(t, err)
	approve, big := snap.Routes[0].When, snap.Routes[1].When
	ctx := context.Background()

	ok, err := approve.Eval(ctx, map[string]any{"sub": "7", "https://abc-inc.example/roles": []any{"manager"}}, "POST", "/timesheets/8/approve", map[string]string{"id": "8"})
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = approve.Eval(ctx, map[string]any{"sub": "8", "https://abc-inc.example/roles": []any{"manager"}}, "POST", "/timesheets/8/approve", map[string]string{"id": "8"})
	require.NoError(t, err)
	require.False(t, ok)
	_, err = approve.Eval(ctx, map[string]any{"sub": "7"}, "POST", "/timesheets/8/approve", map[string]string{"id": "8"})
	require.Error(t, err, "a missing claim is an error, not a pass")
	_, err = approve.Eval(ctx, nil, "POST", "/timesheets/8/approve", nil)
	require.Error(t, err)

	// The cost limit stops a condition over a large claim.
	row := make([]any, 60)
	for i := range row {
		row[i] = []any{int64(1), int64(2), int64(3), int64(4), int64(5), int64(6), int64(7), int64(8), int64(9), int64(10)}
	}
	list := make([]any, 60)
	for i := range list {
		list[i] = row
	}
	start := time.Now()
	_, err = big.Eval(ctx, map[string]any{"list": list}, "GET", "/timesheets/1", nil)
	require.ErrorContains(t, err, "cost limit")
	t.Logf("stopped after %s", time.Since(start))

	// A cancelled request stops it too.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = big.Eval(cctx, map[string]any{"list": list}, "GET", "/timesheets/1", nil)
	require.Error(t, err)
}
