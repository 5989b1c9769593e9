package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abc-inc/timesheets/pkg/apitest"
	"github.com/abc-inc/timesheets/pkg/importer"
	"github.com/abc-inc/timesheets/pkg/importer/toolfake"
	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// tool is what the sync scenario needs of a fake (pkg/importer/toolfake,
// each built from its tool's API documentation).
type tool interface {
	BaseURL() string
	CredentialsDir(t testing.TB) string
	Put(e toolfake.Entry) toolfake.Entry
	Delete(id string) bool
	Requests() []toolfake.Request
}

// TestSyncWithEachTool runs the real importer binary against a fake of
// each tool and the real API, as the CronJob would, run after run:
//
//  1. the first run creates every entry;
//  2. the next one asks the tool only for what changed (its incremental
//     parameter) and changes nothing;
//  3. an edit in the tool becomes an update;
//  4. an edit of an approved entry is a conflict: exit 1, logged with its
//     record, nothing changed;
//  5. entries deleted in the tool stay without --prune, and with it only
//     those inside the window are deleted;
//  6. two overlapping runs leave the newest version: the run that read
//     the tool before an edit uploads last, and changes nothing.
func TestSyncWithEachTool(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	for _, c := range []struct {
		kind        string
		start       func(t *testing.T) tool
		incremental string // the tool's query parameter for "changed since"; "" when it has none
		entries     string // the path of its list of entries
	}{
		{importer.KindHarvest, func(t *testing.T) tool { return toolfake.NewHarvest(t) }, "updated_since", "/time_entries"},
		{importer.KindTempo, func(t *testing.T) tool { return toolfake.NewTempo(t) }, "updatedFrom", "/worklogs"},
		{importer.KindToggl, func(t *testing.T) tool { return toolfake.NewToggl(t) }, "since", "/time_entries"},
		{importer.KindClockify, func(t *testing.T) tool { return toolfake.NewClockify(t) }, "", "/time-entries"},
	} {
		t.Run(c.kind, func(t *testing.T) {
			f := c.start(t)
			user := "contractor"
			if c.kind == importer.KindClockify {
				user = "me" // the key's own user
			}
			var ids []string
			for i := range 6 {
				e := f.Put(toolfake.Entry{User: user, Project: "PRJ-1", Day: fmt.Sprintf("2026-01-%02d", 5+i), Hours: 5})
				ids = append(ids, e.ID)
			}
			sync := func(t *testing.T, source string, extra ...string) (int, summary, string) {
				t.Helper()
				return runSync(t, api, c.kind, source, f.CredentialsDir(t), extra...)
			}

			code, s, logs := sync(t, f.BaseURL())
			s.want(t, code, logs, importer.ExitOK, "read=6 created=6 duplicates=0 updated=0 deleted=0 conflicts=0 rejected=0 failed=0")
			source := stored(t, api, ids[0]).Source

			before := len(f.Requests())
			code, s, logs = sync(t, f.BaseURL())
			s.want(t, code, logs, importer.ExitOK, "created=0", "updated=0", "deleted=0", "conflicts=0")
			if c.incremental != "" {
				asked := false
				for _, r := range f.Requests()[before:] {
					asked = asked || r.Query.Get(c.incremental) != ""
				}
				if !asked {
					t.Fatalf("the second run did not send %s: %+v", c.incremental, f.Requests()[before:])
				}
			}

			f.Put(toolfake.Entry{ID: ids[1], User: user, Project: "PRJ-1", Day: "2026-01-06", Hours: 6})
			code, s, logs = sync(t, f.BaseURL())
			s.want(t, code, logs, importer.ExitOK, "created=0", "updated=1", "conflicts=0")
			if e := stored(t, api, ids[1]); e.Hours != 6 || e.Revision != 2 {
				t.Fatalf("after the edit: %+v, want 6 h at revision 2", e)
			}

			approve(t, api, stored(t, api, ids[2]).ID)
			f.Put(toolfake.Entry{ID: ids[2], User: user, Project: "PRJ-1", Day: "2026-01-07", Hours: 9})
			code, s, logs = sync(t, f.BaseURL())
			s.want(t, code, logs, importer.ExitFailed, "updated=0", "conflicts=1")
			if !strings.Contains(logs, `"msg":"entry in conflict: not changed"`) || !strings.Contains(logs, `"external_id":"`+ids[2]+`"`) || !strings.Contains(logs, `"reason":"locked"`) {
				t.Fatalf("the conflict is not logged with its record and reason:\n%s", logs)
			}
			if e := stored(t, api, ids[2]); e.Hours != 5 {
				t.Fatalf("the approved entry changed: %+v", e)
			}

			f.Delete(ids[0]) // 2026-01-05, inside the window pruned below
			f.Delete(ids[5]) // 2026-01-10, outside it
			code, s, logs = sync(t, f.BaseURL())
			s.want(t, code, logs, importer.ExitFailed, "deleted=0")
			code, s, logs = sync(t, f.BaseURL(), "--prune", "--from", "2026-01-01", "--to", "2026-01-08")
			s.want(t, code, logs, importer.ExitFailed, "deleted=1", "conflicts=1") // the approved entry's edit still conflicts
			left := map[string]bool{}
			for _, e := range api.Entries(t) {
				if e.Source == source {
					left[e.ExternalID] = true
				}
			}
			if left[ids[0]] || !left[ids[5]] || !left[ids[2]] || len(left) != 5 {
				t.Fatalf("after the prune %v are stored; want all but %s", left, ids[0])
			}

			// Run A reads the tool and is held before it uploads; meanwhile
			// the contractor corrects entry 3 and run B uploads that.
			gate := holdFirstPage(t, f.BaseURL(), c.entries)
			a := startSync(t, api, c.kind, gate.url, f.CredentialsDir(t), "--full")
			gate.waitHeld(t)
			f.Put(toolfake.Entry{ID: ids[3], User: user, Project: "PRJ-1", Day: "2026-01-08", Hours: 7})
			code, s, logs = sync(t, f.BaseURL(), "--full")
			s.want(t, code, logs, importer.ExitFailed, "updated=1") // and the approved entry's conflict
			gate.release()
			code, s, logs = a.wait(t)
			e := stored(t, api, ids[3])
			if c.incremental == "" {
				// Without the tool's modification times, the API cannot
				// tell the older version: the last upload wins.
				s.want(t, code, logs, importer.ExitFailed, "read=4 created=0 duplicates=2 updated=1 deleted=0 conflicts=1 rejected=0 failed=0")
				if e.Hours != 5 {
					t.Fatalf("%+v", e)
				}
				return
			}
			// The older version is stale: nothing to write, as a duplicate.
			s.want(t, code, logs, importer.ExitFailed, "read=4 created=0 duplicates=3 updated=0 deleted=0 conflicts=1 rejected=0 failed=0")
			if e.Hours != 7 || e.Revision != 2 {
				t.Fatalf("the older read undid the newer version: %+v", e)
			}
		})
	}
}

// summary is the importer's last stdout line.
type summary string

// want checks the exit code and that the summary holds each key=value.
func (s summary) want(t *testing.T, code int, logs string, wantCode int, fields ...string) {
	t.Helper()
	for _, f := range fields {
		for _, kv := range strings.Fields(f) {
			if !strings.Contains(" "+string(s)+" ", " "+kv+" ") {
				t.Fatalf("summary %q lacks %s (exit %d)\n%s", s, kv, code, logs)
			}
		}
	}
	if code != wantCode {
		t.Fatalf("exit %d, want %d: %s\n%s", code, wantCode, s, logs)
	}
}

func syncArgs(t *testing.T, api *apitest.API, kind, source, creds string, extra ...string) []string {
	return append([]string{
		"--source", source, "--source-kind", kind, "--source-credentials-dir", creds, "--from", "2026-01-01",
		"--api-url", api.URL, "--token-url", api.TokenURL, "--audience", apitest.Audience,
		"--credentials-dir", api.Credentials(t, apitest.ImporterClient), "--log-level", "info",
	}, extra...)
}

func runSync(t *testing.T, api *apitest.API, kind, source, creds string, extra ...string) (int, summary, string) {
	t.Helper()
	return startSync(t, api, kind, source, creds, extra...).wait(t)
}

type running struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
}

func startSync(t *testing.T, api *apitest.API, kind, source, creds string, extra ...string) *running {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	r := &running{cmd: exec.CommandContext(ctx, binary, syncArgs(t, api, kind, source, creds, extra...)...)}
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *running) wait(t *testing.T) (int, summary, string) {
	t.Helper()
	_ = r.cmd.Wait()
	lines := strings.Split(strings.TrimSpace(r.stdout.String()), "\n")
	return r.cmd.ProcessState.ExitCode(), summary(lines[len(lines)-1]), r.stderr.String()
}

// stored is the API's entry of a tool's id.
func stored(t *testing.T, api *apitest.API, externalID string) timesheets.Entry {
	t.Helper()
	for _, e := range api.Entries(t) {
		if e.ExternalID == externalID {
			return e
		}
	}
	t.Fatalf("no entry of external id %s", externalID)
	return timesheets.Entry{}
}

func approve(t *testing.T, api *apitest.API, id int64) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/timesheets/%d/approve", api.URL, id), nil)
	req.Header.Set("Authorization", "Bearer "+api.Token(t, "admin"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("approve %d: %s", id, resp.Status)
	}
}

// pageGate is a proxy in front of a tool that reads the first page of
// entries the importer asks for and holds it until released: the run has
// read the tool, and has not uploaded yet.
type pageGate struct {
	url         string
	held, relse chan struct{}
	once        sync.Once
}

func holdFirstPage(t *testing.T, base, entries string) *pageGate {
	t.Helper()
	target, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	g := &pageGate{held: make(chan struct{}), relse: make(chan struct{})}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	proxy.ModifyResponse = func(resp *http.Response) error {
		first := false
		if strings.HasSuffix(resp.Request.URL.Path, entries) {
			g.once.Do(func() { first = true })
		}
		if !first {
			return nil
		}
		body, err := io.ReadAll(resp.Body) // the tool's answer now, before an edit
		resp.Body.Close()
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		close(g.held)
		select {
		case <-g.relse:
		case <-time.After(30 * time.Second):
		}
		return nil
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	t.Cleanup(g.release)
	g.url = srv.URL + target.Path
	return g
}

func (g *pageGate) waitHeld(t *testing.T) {
	t.Helper()
	select {
	case <-g.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the importer never asked the tool for a page")
	}
}

func (g *pageGate) release() {
	select {
	case <-g.relse:
	default:
		close(g.relse)
	}
}

// TestCheckpointOnlyAfterACompleteRun: a run whose first batch fails while
// the later ones are stored records no checkpoint, so the next run reads
// the tool from the start again and stores the failed entries; a complete
// run records the newest modification time it stored, and the run after
// it asks the tool only for what changed since.
func TestCheckpointOnlyAfterACompleteRun(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	f := toolfake.NewHarvest(t)
	f.StartClockAt(time.Now().Add(-time.Hour)) // one second per change, long before the overlap
	var ids []string
	for i := range 6 {
		ids = append(ids, f.Put(toolfake.Entry{User: "c", Project: "P", Day: fmt.Sprintf("2026-02-%02d", 1+i), Hours: 4}).ID)
	}
	checkpoint := func() any {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, api.URL+"/timesheets/upload/checkpoint?source="+stored(t, api, ids[5]).Source, nil)
		req.Header.Set("Authorization", "Bearer "+api.Token(t, apitest.ImporterClient))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var c map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("checkpoint: %s %v", resp.Status, err)
		}
		return c["source_updated_at"]
	}

	// Entries come newest day first, and the newest day was changed last:
	// the first batch (the newest entries) is stored, the second fails and
	// stops the run. The newest stored entry is no checkpoint: from it, the
	// failed older ones would never be read again.
	api.FailUploadsAfter(1, 1, "")
	code, s, logs := runSync(t, api, importer.KindHarvest, f.BaseURL(), f.CredentialsDir(t), "--batch-size", "2", "--max-in-flight", "1", "--max-attempts", "1")
	s.want(t, code, logs, importer.ExitFailed, "created=2")
	if c := checkpoint(); c != nil {
		t.Fatalf("a run that failed recorded the checkpoint %v", c)
	}

	code, s, logs = runSync(t, api, importer.KindHarvest, f.BaseURL(), f.CredentialsDir(t), "--batch-size", "2", "--overlap", "0s")
	s.want(t, code, logs, importer.ExitOK, "read=6 created=4 duplicates=2 updated=0", "failed=0")
	want := f.Updated(ids[5]).Format(time.RFC3339)
	if c := checkpoint(); c != want {
		t.Fatalf("checkpoint %v, want the newest modification time %s", c, want)
	}

	before := len(f.Requests())
	f.Put(toolfake.Entry{ID: ids[0], User: "c", Project: "P", Day: "2026-02-01", Hours: 5})
	code, s, logs = runSync(t, api, importer.KindHarvest, f.BaseURL(), f.CredentialsDir(t))
	s.want(t, code, logs, importer.ExitOK, "updated=1")
	for _, r := range f.Requests()[before:] {
		if r.Path == "/v2/time_entries" && r.Query.Get("updated_since") == "" && r.Query.Get("cursor") == "" {
			t.Fatalf("the run after a complete one read the whole tool: %+v", r)
		}
	}
}
