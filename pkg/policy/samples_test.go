package policy_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/policy"
)

// TestSamplesCompile loads every sample a user is told to apply: the main
// one for machine clients keeps its plain routes; the people one adds
// conditions, step-up and identity on top of the same routes.
func TestSamplesCompile(t *testing.T) {
	load := func(name string) *policy.Snapshot {
		snap, err := policy.LoadFile("../../config/samples/" + name)
		require.NoError(t, err, name)
		return snap
	}
	main, people := load("auth_v1alpha1_scopepolicy.yaml"), load("auth_v1alpha1_scopepolicy_people.yaml")

	for _, r := range main.Routes {
		require.Nil(t, r.When, r.Pattern)
		require.Empty(t, r.AcrValues, r.Pattern)
		require.Zero(t, r.MaxAuthAge, r.Pattern)
	}
	require.Equal(t, policy.Identity{}, main.Identity)

	require.Equal(t, policy.Identity{EmployeeClaim: "https://abc-inc.example/employee_id", AllEntriesScope: "read:all-timesheets"}, people.Identity)
	require.Len(t, people.Routes, len(main.Routes))
	approve := people.Match(httptest.NewRequest("POST", "/timesheets/7/approve", nil))
	require.NotNil(t, approve)
	require.Equal(t, []string{"http://schemas.openid.net/pape/policies/2007/06/multi-factor"}, approve.AcrValues)
	require.Equal(t, 15*time.Minute, approve.MaxAuthAge)
	require.NotNil(t, approve.When)

	ok := func(claims map[string]any) bool {
		t.Helper()
		pass, err := approve.When.Eval(t.Context(), claims, "POST", "/timesheets/7/approve", map[string]string{"id": "7"})
		return err == nil && pass
	}
	require.True(t, ok(map[string]any{"sub": "auth0|alice", "org_id": "org_abc"}))
	require.True(t, ok(map[string]any{"sub": "auth0|alice", "org_id": "org_abc", "gty": "password"}))
	require.False(t, ok(map[string]any{"sub": "client@clients", "org_id": "org_abc", "gty": "client-credentials"}))
	require.False(t, ok(map[string]any{"sub": "auth0|alice", "org_id": "org_xyz"}))
	require.False(t, ok(map[string]any{"sub": "auth0|alice"}))
}
