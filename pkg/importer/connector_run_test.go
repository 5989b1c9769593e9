package importer_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/abc-inc/timesheets/pkg/apitest"
	"github.com/abc-inc/timesheets/pkg/importer"
	"github.com/abc-inc/timesheets/pkg/importer/toolfake"
	"github.com/abc-inc/timesheets/pkg/syncbuf"
)

// fakeTool is what the run tests need of a fake.
type fakeTool interface {
	BaseURL() string
	CredentialsDir(t testing.TB) string
	UserID(user string) string
	ProjectOf(project string) string
	Updated(id string) time.Time
}

// TestConnectorsFirstRun imports each tool's entries through importer.Run
// into the API: a first run creates them all, as the tool has them (days,
// hours, users, projects, the tool's id and modification time), as
// contractors' entries, under the connector's source name.
func TestConnectorsFirstRun(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	type put func(e toolfake.Entry) toolfake.Entry
	for _, c := range []struct {
		kind, name string
		start      func(t *testing.T) (fakeTool, put)
		stamps     bool   // the tool has modification times
		from       string // a first day, for a tool that needs one
	}{
		{importer.KindHarvest, "harvest-1121343", func(t *testing.T) (fakeTool, put) { f := toolfake.NewHarvest(t); return f, f.Put }, true, ""},
		{importer.KindTempo, "tempo", func(t *testing.T) (fakeTool, put) { f := toolfake.NewTempo(t); return f, f.Put }, true, ""},
		{importer.KindClockify, "clockify-64a687e29ae1f428e7ebe303", func(t *testing.T) (fakeTool, put) { f := toolfake.NewClockify(t); return f, f.Put }, false, ""},
		// Toggl lists only recent entries without a first day (its name
		// ends in the workspace id).
		{importer.KindToggl, "toggl-", func(t *testing.T) (fakeTool, put) { f := toolfake.NewToggl(t); return f, f.Put }, true, "2026-01-01"},
	} {
		t.Run(c.kind, func(t *testing.T) {
			f, put := c.start(t)
			user := "contractor-" + c.kind
			if c.kind == importer.KindClockify {
				user = "me"
			}
			var want []string
			stamps := map[string]time.Time{}
			for i := range 7 {
				e := put(toolfake.Entry{User: user, Project: fmt.Sprintf("PRJ-%d", i%3), Day: fmt.Sprintf("2026-01-%02d", 5+i), Hours: 0.5 + float64(i)})
				want = append(want, fmt.Sprintf("%s %s %s %s %g", e.ID, f.UserID(user), e.Day, f.ProjectOf(e.Project), e.Hours))
				stamps[e.ID] = f.Updated(e.ID)
			}
			logs := &syncbuf.Buffer{}
			cfg := config(t, api, f.BaseURL(), logs)
			cfg.SourceName = ""
			cfg.SourceKind = c.kind // on loopback, not the tool's host
			cfg.SourceCredentialsDir = f.CredentialsDir(t)
			cfg.BatchSize = 3
			if c.from != "" {
				cfg.From, _ = time.Parse(time.DateOnly, c.from)
			}
			s := run(t, cfg)
			wantSummary(t, s, 7, 7, 0, 0, 0)
			if s.ExitCode() != importer.ExitOK {
				t.Fatalf("exit %d: %v", s.ExitCode(), s.Err)
			}
			var stored []string
			for _, e := range api.Entries(t) {
				if !strings.HasPrefix(e.Source, c.name) {
					continue
				}
				if e.UserType != "Contractor" || !e.Day || e.Date == nil {
					t.Fatalf("entry %+v: want a contractor's, by day", e)
				}
				stored = append(stored, fmt.Sprintf("%s %s %s %s %g", e.ExternalID, e.UserID, e.Date.Format("2006-01-02"), e.Project, e.Hours))
				switch {
				case c.stamps && (e.SourceUpdatedAt == nil || !e.SourceUpdatedAt.Equal(stamps[e.ExternalID])):
					t.Fatalf("entry %s: source_updated_at %v, want the tool's %v", e.ExternalID, e.SourceUpdatedAt, stamps[e.ExternalID])
				case !c.stamps && e.SourceUpdatedAt != nil:
					t.Fatalf("entry %s: source_updated_at %v; the tool has none", e.ExternalID, e.SourceUpdatedAt)
				}
			}
			sort.Strings(want)
			sort.Strings(stored)
			if fmt.Sprint(stored) != fmt.Sprint(want) {
				t.Fatalf("stored under %s:\n%s\nwant\n%s", c.name, strings.Join(stored, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}
