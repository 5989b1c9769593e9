package policy_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/policy"
)

// TestWatchFileReloadsAndReportsInvalidEdits runs the watch on the fake
// clock of a synctest bubble: each poll happens when the test advances the
// clock by an interval, so a change is reported at exactly the poll after
// the edit, and an unchanged file is never reported again.
func TestWatchFileReloadsAndReportsInvalidEdits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
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
		const interval = time.Second
		go policy.WatchFile(ctx, path, interval, func(s *policy.Snapshot, err error) { changes <- change{s, err} })

		// poll lets one interval pass and returns what that poll reported.
		poll := func() (change, bool) {
			time.Sleep(interval)
			synctest.Wait() // the watcher has polled and is waiting for the next tick
			select {
			case c := <-changes:
				return c, true
			default:
				return change{}, false
			}
		}
		next := func() change {
			t.Helper()
			c, ok := poll()
			if !ok {
				t.Fatal("no change reported at the poll after the edit")
			}
			return c
		}
		c := next() // the first poll reports the content as it is
		require.NoError(t, c.err)
		require.Equal(t, []string{"read:timesheets"}, c.snap.Routes[0].Scopes)
		for range 3 {
			if c, ok := poll(); ok {
				t.Fatalf("the unchanged file was reported again: %+v", c)
			}
		}

		require.NoError(t, os.WriteFile(path, []byte(doc("read:all")), 0o600))
		c = next()
		require.NoError(t, c.err)
		require.Equal(t, []string{"read:all"}, c.snap.Routes[0].Scopes)

		require.NoError(t, os.WriteFile(path, []byte(strings.Replace(doc("x"), "path: /timesheets", "path: timesheets", 1)), 0o600))
		c = next()
		require.ErrorContains(t, c.err, "must start with /")
		require.Nil(t, c.snap)
	})
}
