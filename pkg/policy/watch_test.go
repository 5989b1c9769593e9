package policy_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/policy"
)

func TestWatchFileReloadsAndReportsInvalidEdits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	doc := func(scope string) string {
		return `apiVersion: auth.timesheets.dev/v1alpha1
kind: ScopePolicy
spec:
  issuers: [{url: "https://abc.eu.auth0.com/"}]
  audiences: ["https://timesheets.abc-inc.example/"]
  routes: [{path: /timesheets, methods: [GET], scopes: [` + scope + `]}]
`
	}
	require.NoError(t, os.WriteFile(path, []byte(doc("read:timesheets")), 0o600))
	type change struct {
		snap *policy.Snapshot
		err  error
	}
	changes := make(chan change, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go policy.WatchFile(ctx, path, 10*time.Millisecond, func(s *policy.Snapshot, err error) { changes <- change{s, err} })

	next := func() change {
		select {
		case c := <-changes:
			return c
		case <-time.After(5 * time.Second):
			t.Fatal("no change reported")
		}
		return change{}
	}
	c := next() // the first poll reports the content as it is
	require.NoError(t, c.err)
	require.Equal(t, []string{"read:timesheets"}, c.snap.Routes[0].Scopes)

	require.NoError(t, os.WriteFile(path, []byte(doc("read:all")), 0o600))
	c = next()
	require.NoError(t, c.err)
	require.Equal(t, []string{"read:all"}, c.snap.Routes[0].Scopes)

	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(doc("x"), "path: /timesheets", "path: timesheets", 1)), 0o600))
	c = next()
	require.ErrorContains(t, c.err, "must start with /")
	require.Nil(t, c.snap)
}
