package policy_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/policy"
)

// The routes dev mode and the tests enforce are the ones config/samples shows.
func TestSampleMatchesConfigSamples(t *testing.T) {
	data, err := os.ReadFile("../../config/samples/auth_v1alpha1_scopepolicy.yaml")
	require.NoError(t, err)
	sp, err := policy.Parse(data)
	require.NoError(t, err)
	want := policy.Sample("https://x.example/", "aud").Routes
	for i := range want {
		want[i].Match = sp.Spec.Routes[i].Match // the sample may spell out the default
	}
	require.Equal(t, want, sp.Spec.Routes)
	_, err = policy.Compile("sample", 1, sp.Spec)
	require.NoError(t, err)
}
