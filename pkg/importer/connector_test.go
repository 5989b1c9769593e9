package importer_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abc-inc/timesheets/pkg/importer"
	"github.com/abc-inc/timesheets/pkg/importer/toolfake"
)

// got is one record a source yielded, by entry field.
type got map[string]string

var entryFields = []string{
	importer.FieldExternalID, importer.FieldUserType, importer.FieldUserID, importer.FieldDate,
	importer.FieldProject, importer.FieldHours, importer.FieldSourceUpdatedAt,
}

// open opens a connector's source against a fake.
func open(t *testing.T, kind, base, creds string, o importer.SourceOptions) (importer.Source, error) {
	t.Helper()
	o.Kind, o.CredentialsDir, o.Backoff = kind, creds, fastBackoff()
	if o.UserAgent == "" {
		o.UserAgent = "timesheets-importer-test"
	}
	return importer.OpenSource(base, o)
}

// readAll reads every record of a source through the Source interface.
func readAll(t *testing.T, src importer.Source) ([]got, error) {
	t.Helper()
	var out []got
	err := src.Each(context.Background(), func(r *importer.Record) error {
		if r.Err != nil {
			return fmt.Errorf("record %s: %w", r.Loc, r.Err)
		}
		g := got{}
		for _, f := range entryFields {
			if v, ok := r.Fields.Field(f); ok && v.Kind != importer.KindNull {
				g[f] = v.Text
			}
		}
		out = append(out, g)
		return nil
	})
	return out, err
}

func mustRead(t *testing.T, kind, base, creds string, o importer.SourceOptions) []got {
	t.Helper()
	src, err := open(t, kind, base, creds, o)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := readAll(t, src)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func ids(recs []got) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r[importer.FieldExternalID])
	}
	return out
}

// queries are the query strings of the requests to a path.
func queries(reqs []toolfake.Request, path string) []url.Values {
	var out []url.Values
	for _, r := range reqs {
		if r.Path == path {
			out = append(out, r.Query)
		}
	}
	return out
}

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one with %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q lacks %q", err, p)
		}
	}
}

func TestHarvestConnector(t *testing.T) {
	h := toolfake.NewHarvest(t)
	creds := h.CredentialsDir(t)
	var put []toolfake.Entry
	for i, d := range []string{"2026-01-05", "2026-01-06", "2026-01-07", "2026-01-08", "2026-01-09"} {
		put = append(put, h.Put(toolfake.Entry{User: "kim", Project: fmt.Sprintf("Website %d", i%2), Day: d, Hours: 1.25 + float64(i)}))
	}
	running := h.Put(toolfake.Entry{User: "kim", Project: "Website 0", Day: "2026-01-09", Hours: 0.5, Running: true})

	// Two entries a page: three pages, linked by cursor.
	recs := mustRead(t, importer.KindHarvest, h.BaseURL()+"?per_page=2", creds, importer.SourceOptions{})
	if want := []string{put[4].ID, put[3].ID, put[2].ID, put[1].ID, put[0].ID}; !slices.Equal(ids(recs), want) {
		t.Fatalf("ids %v; want %v (newest spent_date first, the running timer %s skipped)", ids(recs), want, running.ID)
	}
	want := got{
		importer.FieldExternalID: put[0].ID, importer.FieldUserType: "Contractor", importer.FieldUserID: h.UserID("kim"),
		importer.FieldDate: "2026-01-05", importer.FieldProject: "Website 0", importer.FieldHours: "1.25",
		importer.FieldSourceUpdatedAt: h.Updated(put[0].ID).Format(time.RFC3339),
	}
	if fmt.Sprint(recs[4]) != fmt.Sprint(want) {
		t.Fatalf("record %v\nwant   %v", recs[4], want)
	}
	reqs := h.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests; want 3 pages", len(reqs))
	}
	for i, r := range reqs {
		if r.Header.Get("Authorization") != "Bearer "+h.Token() || r.Header.Get("Harvest-Account-Id") != h.AccountID() ||
			!strings.HasPrefix(r.Header.Get("User-Agent"), "timesheets-importer-test (") {
			t.Fatalf("request %d headers %v", i, r.Header)
		}
		if (i > 0) != r.Query.Has("cursor") {
			t.Fatalf("request %d query %v: pages after the first follow links.next's cursor", i, r.Query)
		}
	}

	t.Run("default per_page", func(t *testing.T) {
		h := toolfake.NewHarvest(t)
		h.Put(toolfake.Entry{User: "kim", Project: "P", Day: "2026-01-05", Hours: 1})
		mustRead(t, importer.KindHarvest, h.BaseURL(), h.CredentialsDir(t), importer.SourceOptions{})
		if q := h.Requests()[0].Query; q.Get("per_page") != "2000" || q.Has("updated_since") || q.Has("from") || q.Has("to") {
			t.Fatalf("query %v; want per_page=2000 and no filter", q)
		}
	})
	t.Run("incremental and window", func(t *testing.T) {
		since := h.Updated(put[2].ID).In(time.FixedZone("CET", 3600)).Add(300 * time.Millisecond)
		src, err := open(t, importer.KindHarvest, h.BaseURL(), creds, importer.SourceOptions{Since: since, From: day("2026-01-01"), To: day("2026-01-08")})
		if err != nil {
			t.Fatal(err)
		}
		if inc, ok := src.(importer.IncrementalSource); !ok || !inc.Incremental() {
			t.Fatal("Harvest is incremental")
		}
		recs, err := readAll(t, src)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{put[3].ID, put[2].ID}; !slices.Equal(ids(recs), want) {
			t.Fatalf("ids %v; want %v (updated since the third, up to 2026-01-08)", ids(recs), want)
		}
		q := h.Requests()[len(h.Requests())-1].Query
		if q.Get("updated_since") != h.Updated(put[2].ID).Format(time.RFC3339) || q.Get("from") != "2026-01-01" || q.Get("to") != "2026-01-08" {
			t.Fatalf("query %v", q)
		}
	})
	t.Run("edit and delete", func(t *testing.T) {
		before := h.Updated(running.ID) // the last change so far
		e := put[1]
		e.Hours = 6
		h.Put(e)
		h.Delete(put[0].ID)
		recs := mustRead(t, importer.KindHarvest, h.BaseURL(), creds, importer.SourceOptions{Since: before.Add(time.Second)})
		if len(recs) != 1 || recs[0][importer.FieldExternalID] != e.ID || recs[0][importer.FieldHours] != "6" {
			t.Fatalf("records %v; want only the edited one, 6 h", recs)
		}
	})
	t.Run("429 with Retry-After", func(t *testing.T) {
		h := toolfake.NewHarvest(t)
		h.Put(toolfake.Entry{User: "kim", Project: "P", Day: "2026-01-05", Hours: 1})
		h.ThrottleNext(1)
		var waits []time.Duration
		b := fastBackoff()
		b.OnRetry = func(_ int, wait time.Duration, _ error) { waits = append(waits, wait) }
		src, err := importer.OpenSource(h.BaseURL(), importer.SourceOptions{Kind: importer.KindHarvest, CredentialsDir: h.CredentialsDir(t), Backoff: b})
		if err != nil {
			t.Fatal(err)
		}
		recs, err := readAll(t, src)
		if err != nil || len(recs) != 1 || len(h.Requests()) != 2 {
			t.Fatalf("%v, %d records, %d requests", err, len(recs), len(h.Requests()))
		}
		if len(waits) != 1 || waits[0] != time.Second {
			t.Fatalf("waits %v; want the 1 s of Retry-After (the backoff's own are at most 50 ms)", waits)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		files := h.Files()
		files[importer.SourceTokenFile] = "wr0ng-t0k3n"
		src, err := open(t, importer.KindHarvest, h.BaseURL(), toolfake.WriteCredentials(t, files), importer.SourceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = readAll(t, src)
		wantErr(t, err, "401", "invalid for other reasons", "check token and account-id in --source-credentials-dir")
		if strings.Contains(err.Error(), "wr0ng-t0k3n") {
			t.Fatal("the token is in the message")
		}
	})
	t.Run("per_page over 2000", func(t *testing.T) {
		_, err := readAll(t, must(open(t, importer.KindHarvest, h.BaseURL()+"?per_page=2001", creds, importer.SourceOptions{})))
		wantErr(t, err, "422", "per_page must be between 1 and 2000")
	})
	t.Run("fake wants a User-Agent", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, h.BaseURL()+"/time_entries", nil)
		req.Header.Set("Authorization", "Bearer "+h.Token())
		req.Header.Set("Harvest-Account-Id", h.AccountID())
		req.Header.Set("User-Agent", "")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d without User-Agent; want 400", resp.StatusCode)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestTempoConnector(t *testing.T) {
	tp := toolfake.NewTempo(t)
	creds := tp.CredentialsDir(t)
	var put []toolfake.Entry
	for i, d := range []string{"2026-02-02", "2026-02-03", "2026-02-04"} {
		put = append(put, tp.Put(toolfake.Entry{User: "557058:f1e2d3c4", Project: "CTP-1", Day: d, Hours: 1.5 * float64(i+1)}))
	}
	recs := mustRead(t, importer.KindTempo, tp.BaseURL()+"?limit=2", creds, importer.SourceOptions{})
	if want := []string{put[0].ID, put[1].ID, put[2].ID}; !slices.Equal(ids(recs), want) {
		t.Fatalf("ids %v; want %v", ids(recs), want)
	}
	want := got{
		importer.FieldExternalID: put[1].ID, importer.FieldUserType: "Contractor", importer.FieldUserID: "557058:f1e2d3c4",
		importer.FieldDate: "2026-02-03", importer.FieldProject: tp.ProjectOf("CTP-1"), importer.FieldHours: "3",
		importer.FieldSourceUpdatedAt: tp.Updated(put[1].ID).Format("2006-01-02T15:04:05.000Z"),
	}
	if fmt.Sprint(recs[1]) != fmt.Sprint(want) {
		t.Fatalf("record %v\nwant   %v", recs[1], want)
	}
	reqs := tp.Requests()
	if len(reqs) != 2 || reqs[1].Query.Get("offset") != "2" || reqs[0].Header.Get("Authorization") != "Bearer "+tp.Token() {
		t.Fatalf("requests %v; want 2 pages, the second at metadata.next (offset 2), with the bearer token", reqs)
	}
	if _, err := time.Parse("2006", recs[0][importer.FieldProject]); err == nil || strings.Contains(recs[0][importer.FieldProject], "CTP") {
		t.Fatalf("project %q; want the issue's id: version 4's issue has no key", recs[0][importer.FieldProject])
	}

	t.Run("default limit", func(t *testing.T) {
		mustRead(t, importer.KindTempo, tp.BaseURL(), creds, importer.SourceOptions{})
		if q := tp.Requests()[len(tp.Requests())-1].Query; q.Get("limit") != "5000" {
			t.Fatalf("query %v; want limit=5000", q)
		}
	})
	t.Run("updatedFrom without fraction or offset", func(t *testing.T) {
		// A Since with a fraction, in another zone: sent in UTC, whole seconds.
		since := tp.Updated(put[1].ID).Add(700 * time.Millisecond).In(time.FixedZone("EST", -5*3600))
		recs := mustRead(t, importer.KindTempo, tp.BaseURL(), creds, importer.SourceOptions{Since: since, From: day("2026-02-01"), To: day("2026-02-28")})
		if want := []string{put[1].ID, put[2].ID}; !slices.Equal(ids(recs), want) {
			t.Fatalf("ids %v; want %v", ids(recs), want)
		}
		q := tp.Requests()[len(tp.Requests())-1].Query
		if q.Get("updatedFrom") != tp.Updated(put[1].ID).Format("2006-01-02T15:04:05Z") || q.Get("from") != "2026-02-01" || q.Get("to") != "2026-02-28" {
			t.Fatalf("query %v", q)
		}
	})
	t.Run("fake refuses other updatedFrom forms", func(t *testing.T) {
		for _, v := range []string{"2026-02-03T10:00:00.123Z", "2026-02-03T10:00:00+01:00", "2026-02-03T10:00Z"} {
			_, err := readAll(t, must(open(t, importer.KindTempo, tp.BaseURL()+"?updatedFrom="+url.QueryEscape(v), creds, importer.SourceOptions{})))
			wantErr(t, err, "400", "'updatedFrom' must be valid")
		}
	})
	t.Run("issue key when there is one", func(t *testing.T) {
		tp := toolfake.NewTempo(t).WithIssueKeys()
		tp.Put(toolfake.Entry{User: "u", Project: "CTP-7", Day: "2026-02-02", Hours: 1})
		recs := mustRead(t, importer.KindTempo, tp.BaseURL(), tp.CredentialsDir(t), importer.SourceOptions{})
		if recs[0][importer.FieldProject] != "CTP-7" {
			t.Fatalf("project %q; want the key", recs[0][importer.FieldProject])
		}
	})
	t.Run("bad token", func(t *testing.T) {
		_, err := readAll(t, must(open(t, importer.KindTempo, tp.BaseURL(), toolfake.WriteCredentials(t, map[string]string{"token": "expired"}), importer.SourceOptions{})))
		wantErr(t, err, "401", "an HTML error page", "check the Tempo API token")
	})
	t.Run("429", func(t *testing.T) {
		tp.RateLimit(1)
		tp.SetRetryAfter("") // the backoff's own wait, not a second
		defer tp.RateLimit(0)
		b := fastBackoff()
		b.MaxAttempts = 2
		src := must(importer.OpenSource(tp.BaseURL(), importer.SourceOptions{Kind: importer.KindTempo, CredentialsDir: creds, Backoff: b}))
		_, err := readAll(t, src)
		wantErr(t, err, "gave up after 2 attempts", "429")
	})
}

func TestTogglConnector(t *testing.T) {
	tg := toolfake.NewToggl(t)
	creds := tg.CredentialsDir(t)
	a := tg.Put(toolfake.Entry{User: "ann", Project: "Apollo", Day: "2026-03-02", Hours: 2})
	b := tg.Put(toolfake.Entry{User: "ann", Project: "Apollo", Day: "2026-03-03", Hours: 0.5})
	tg.Put(toolfake.Entry{User: "ann", Project: "Apollo", Day: "2026-03-03", Hours: 1, Running: true})
	tg.Put(toolfake.Entry{User: "ann", Project: "Apollo", Day: "2026-03-03", Hours: 1, Workspace: "999"})
	april := tg.Put(toolfake.Entry{User: "ann", Project: "Apollo", Day: "2026-04-01", Hours: 1})

	recs := mustRead(t, importer.KindToggl, tg.BaseURL(), creds, importer.SourceOptions{From: day("2026-03-01"), To: day("2026-03-31")})
	if want := []string{b.ID, a.ID}; !slices.Equal(ids(recs), want) {
		t.Fatalf("ids %v; want %v (the running timer, another workspace's and April's left out)", ids(recs), want)
	}
	// a started at 00:30 of 2 March in UTC+2: still 2 March, not 1 March (UTC).
	want := got{
		importer.FieldExternalID: a.ID, importer.FieldUserType: "Contractor", importer.FieldUserID: tg.UserID("ann"),
		importer.FieldDate: "2026-03-02", importer.FieldProject: "Apollo", importer.FieldHours: "2",
		importer.FieldSourceUpdatedAt: tg.Updated(a.ID).Format("2006-01-02T15:04:05-07:00"),
	}
	if fmt.Sprint(recs[1]) != fmt.Sprint(want) {
		t.Fatalf("record %v\nwant   %v", recs[1], want)
	}
	r := tg.Requests()[0]
	if user, pass, ok := (&http.Request{Header: r.Header}).BasicAuth(); !ok || user != tg.Token() || pass != "api_token" {
		t.Fatalf("authorization %q; want basic TOKEN:api_token", r.Header.Get("Authorization"))
	}
	if r.Query.Get("start_date") != "2026-02-28" || r.Query.Get("end_date") != "2026-04-02" || r.Query.Get("meta") != "true" || r.Query.Has("since") {
		t.Fatalf("query %v; want the window a day wider each side, meta", r.Query)
	}

	t.Run("since, deleted entries skipped", func(t *testing.T) {
		since := tg.Updated(april.ID).Add(time.Second) // after every change so far
		tg.Delete(a.ID)
		e := b
		e.Hours = 3
		tg.Put(e)
		src := must(open(t, importer.KindToggl, tg.BaseURL(), creds, importer.SourceOptions{Since: since}))
		if !src.(importer.IncrementalSource).Incremental() {
			t.Fatal("Toggl is incremental")
		}
		recs := must(readAll(t, src))
		if len(recs) != 1 || recs[0][importer.FieldExternalID] != b.ID || recs[0][importer.FieldHours] != "3" {
			t.Fatalf("records %v; want only b, 3 h (a was deleted)", recs)
		}
		q := tg.Requests()[len(tg.Requests())-1].Query
		if q.Get("since") != fmt.Sprint(since.Unix()) || q.Has("start_date") {
			t.Fatalf("query %v; want since=%d", q, since.Unix())
		}
	})
	t.Run("no first day, then SetRange", func(t *testing.T) {
		src := must(open(t, importer.KindToggl, tg.BaseURL(), creds, importer.SourceOptions{}))
		_, err := readAll(t, src)
		var ce importer.ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("err %v; want a ConfigError", err)
		}
		wantErr(t, err, "--from")
		// The run sets the range once it has asked the API for a checkpoint.
		if err := src.(importer.RangeSetter).SetRange(time.Time{}, day("2026-03-03"), day("2026-03-03")); err != nil {
			t.Fatal(err)
		}
		recs := must(readAll(t, src))
		if len(recs) != 1 || recs[0][importer.FieldExternalID] != b.ID {
			t.Fatalf("records %v; want b, of 3 March", recs)
		}
		wantErr(t, src.(importer.RangeSetter).SetRange(time.Time{}, day("2026-03-04"), day("2026-03-03")), "window")
	})
	t.Run("bad token", func(t *testing.T) {
		files := tg.Files()
		files["token"] = "nope"
		_, err := readAll(t, must(open(t, importer.KindToggl, tg.BaseURL(), toolfake.WriteCredentials(t, files), importer.SourceOptions{From: day("2026-03-01")})))
		wantErr(t, err, "403", "check the Toggl API token")
	})
	t.Run("quota used up", func(t *testing.T) {
		tg.SetQuota(0)
		defer tg.SetQuota(-1)
		_, err := readAll(t, must(open(t, importer.KindToggl, tg.BaseURL(), creds, importer.SourceOptions{From: day("2026-03-01")})))
		wantErr(t, err, "402", "quota is used up", "resets in 3600 s")
	})
}

func TestClockifyConnector(t *testing.T) {
	c := toolfake.NewClockify(t)
	creds := c.CredentialsDir(t)
	var put []toolfake.Entry
	for _, d := range []string{"2026-04-06", "2026-04-07", "2026-04-08", "2026-04-09", "2026-04-10"} {
		put = append(put, c.Put(toolfake.Entry{Project: "Gemini", Day: d, Hours: 1.5}))
	}
	c.Put(toolfake.Entry{Project: "Gemini", Day: "2026-04-10", Hours: 1, Running: true})
	c.Put(toolfake.Entry{User: "someone-else", Project: "Gemini", Day: "2026-04-10", Hours: 1})

	src := must(open(t, importer.KindClockify, c.BaseURL()+"?page-size=2", creds, importer.SourceOptions{}))
	if src.(importer.IncrementalSource).Incremental() {
		t.Fatal("Clockify has no modification filter")
	}
	recs := must(readAll(t, src))
	if want := []string{put[4].ID, put[3].ID, put[2].ID, put[1].ID, put[0].ID}; !slices.Equal(ids(recs), want) {
		t.Fatalf("ids %v; want %v (newest first; the running timer and another user's left out)", ids(recs), want)
	}
	want := got{
		importer.FieldExternalID: put[0].ID, importer.FieldUserType: "Contractor", importer.FieldUserID: c.UserID("me"),
		importer.FieldDate: "2026-04-06", importer.FieldProject: c.ProjectOf("Gemini"), importer.FieldHours: "1.5",
	}
	if fmt.Sprint(recs[4]) != fmt.Sprint(want) {
		t.Fatalf("record %v\nwant   %v (no source_updated_at: Clockify's entries have no modification time)", recs[4], want)
	}
	reqs := c.Requests()
	entries := queries(reqs, "/api/v1/workspaces/"+c.WorkspaceID()+"/user/"+c.UserID("me")+"/time-entries")
	if len(reqs) != 5 || reqs[0].Path != "/api/v1/user" || len(entries) != 4 || entries[3].Get("page") != "4" {
		t.Fatalf("requests %v; want GET /user, then pages 1 to 4 (the 4th empty, as 3 had 2 entries of 2)", reqs)
	}
	if reqs[1].Header.Get("X-Api-Key") != c.Token() {
		t.Fatal("no X-Api-Key")
	}

	t.Run("user-id file, window", func(t *testing.T) {
		files := c.Files()
		files["user-id"] = c.UserID("me")
		n := len(c.Requests())
		recs := mustRead(t, importer.KindClockify, c.BaseURL(), toolfake.WriteCredentials(t, files), importer.SourceOptions{From: day("2026-04-07"), To: day("2026-04-08")})
		if want := []string{put[2].ID, put[1].ID}; !slices.Equal(ids(recs), want) {
			t.Fatalf("ids %v; want %v", ids(recs), want)
		}
		reqs := c.Requests()[n:]
		if len(reqs) != 1 || reqs[0].Query.Get("start") != "2026-04-06T00:00:00Z" || reqs[0].Query.Get("end") != "2026-04-10T00:00:00Z" || reqs[0].Query.Get("page-size") != "1000" {
			t.Fatalf("requests %v; want one page, the window a day wider each side, page-size 1000", reqs)
		}
	})
	t.Run("bad key", func(t *testing.T) {
		_, err := readAll(t, must(open(t, importer.KindClockify, c.BaseURL(), toolfake.WriteCredentials(t, map[string]string{"token": "x", "workspace-id": c.WorkspaceID()}), importer.SourceOptions{})))
		wantErr(t, err, "401", "Api key does not exist", "check the Clockify API key")
	})
}

func TestSourceKinds(t *testing.T) {
	dir := t.TempDir()
	creds := toolfake.WriteCredentials(t, map[string]string{"token": "t0k3n", "account-id": "1", "workspace-id": "2"})
	csv := writeFile(t, filepath.Join(dir, "a.csv"), "user_id,date,project,hours\n")
	for _, c := range []struct {
		source, kind, want string
	}{
		{"https://api.harvestapp.com/v2", "", importer.KindHarvest},
		{"https://api.tempo.io/4", "", importer.KindTempo},
		{"https://api.eu.tempo.io/4", "", importer.KindTempo},
		{"https://api.us.tempo.io/4", "", importer.KindTempo},
		{"https://api.track.toggl.com/api/v9", "", importer.KindToggl},
		{"https://api.clockify.me/api/v1", "", importer.KindClockify},
		{"https://euc1.clockify.me/api/v1", "", importer.KindClockify},
		{"https://tool.example.com/api/entries", "", importer.KindHTTPJSON},
		{"https://proxy.example.com/harvest/v2", importer.KindHarvest, importer.KindHarvest},
		{"https://api.harvestapp.com/v2/time_entries", importer.KindHTTPJSON, importer.KindHTTPJSON},
	} {
		src, err := importer.OpenSource(c.source, importer.SourceOptions{Kind: c.kind, CredentialsDir: creds, From: day("2026-01-01")})
		if err != nil {
			t.Fatalf("%s: %v", c.source, err)
		}
		if k := src.(interface{ Kind() string }).Kind(); k != c.want {
			t.Errorf("%s: kind %s, want %s", c.source, k, c.want)
		}
	}
	if src := must(importer.OpenSource("https://api.harvestapp.com/v2", importer.SourceOptions{CredentialsDir: creds})); src.Name() != "harvest-1" {
		t.Errorf("name %q; want harvest-1 (the account)", src.Name())
	}

	for _, c := range []struct {
		name, source string
		o            importer.SourceOptions
		want         string
	}{
		{"connector with a file", csv, importer.SourceOptions{Kind: importer.KindHarvest}, "give --source as Harvest's https:// API base URL, e.g. https://api.harvestapp.com/v2"},
		{"file kind with a URL", "https://api.harvestapp.com/v2", importer.SourceOptions{Kind: importer.KindCSV}, "--source-kind csv reads files"},
		{"kind and format disagree", csv, importer.SourceOptions{Kind: importer.KindJSON, Format: importer.FormatCSV}, "disagree"},
		{"unknown kind", csv, importer.SourceOptions{Kind: "jira"}, "use auto, csv"},
		{"endpoint for base", "https://api.harvestapp.com/v2/time_entries", importer.SourceOptions{CredentialsDir: creds}, "not its endpoint"},
		{"token file with a connector", "https://api.tempo.io/4", importer.SourceOptions{CredentialsDir: creds, TokenFile: csv}, "--source-token-file is for --source-kind http-json"},
		{"items path with a connector", "https://api.tempo.io/4", importer.SourceOptions{CredentialsDir: creds, ItemsPath: "results"}, "--items-path and --next-path are for --source-kind http-json"},
		{"items path with a file", csv, importer.SourceOptions{ItemsPath: "x"}, "--items-path"},
		{"format with a URL", "https://tool.example.com/x", importer.SourceOptions{Format: importer.FormatCSV}, "--format csv is for files"},
		{"empty window", "https://api.tempo.io/4", importer.SourceOptions{CredentialsDir: creds, From: day("2026-02-01"), To: day("2026-01-31")}, "window"},
	} {
		_, err := importer.OpenSource(c.source, c.o)
		var ce importer.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v; want a ConfigError with %q", c.name, err, c.want)
		}
	}
}

func TestSourceCredentials(t *testing.T) {
	full := map[string]string{"token": "t0k3n", "account-id": "1121343", "workspace-id": "42"}
	without := func(name string) map[string]string {
		m := map[string]string{}
		for k, v := range full {
			if k != name {
				m[k] = v
			}
		}
		return m
	}
	for _, c := range []struct {
		name, source string
		files        map[string]string
		want         string
	}{
		{"no token", "https://api.tempo.io/4", without("token"), "token does not exist; Tempo needs the files token in --source-credentials-dir"},
		{"no account id", "https://api.harvestapp.com/v2", without("account-id"), "account-id does not exist; Harvest needs the files token, account-id"},
		{"no workspace", "https://api.clockify.me/api/v1", without("workspace-id"), "workspace-id does not exist; Clockify needs the files token, workspace-id"},
		{"empty token", "https://api.harvestapp.com/v2", map[string]string{"token": "", "account-id": "1"}, "token is empty; put Harvest's token in it"},
		{"two lines", "https://api.harvestapp.com/v2", map[string]string{"token": "a\nb", "account-id": "1"}, "token holds spaces or more than one line"},
		{"id with a slash", "https://api.clockify.me/api/v1", map[string]string{"token": "t0k3n-x", "workspace-id": "../x"}, "workspace-id is not an id"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for k, v := range c.files {
				if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o400); err != nil {
					t.Fatal(err)
				}
			}
			_, err := importer.OpenSource(c.source, importer.SourceOptions{CredentialsDir: dir, From: day("2026-01-01")})
			var ce importer.ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), filepath.Join(dir, "")) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v; want a ConfigError naming the file, with %q", err, c.want)
			}
			if v := c.files["token"]; v != "" && strings.Contains(err.Error(), v) {
				t.Fatal("the token is in the message")
			}
		})
	}
	t.Run("default directory", func(t *testing.T) {
		_, err := importer.OpenSource("https://api.tempo.io/4", importer.SourceOptions{})
		wantErr(t, err, importer.DefaultSourceCredentialsDir)
	})
	t.Run("http-json token in the directory", func(t *testing.T) {
		var auth string
		srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			auth = r.Header.Get("Authorization")
			fmt.Fprint(w, `[]`)
		}))
		src := must(importer.OpenSource(srv+"/entries", importer.SourceOptions{CredentialsDir: toolfake.WriteCredentials(t, map[string]string{"token": "s3cr3t"})}))
		if _, err := readAll(t, src); err != nil || auth != "Bearer s3cr3t" {
			t.Fatalf("%v, Authorization %q", err, auth)
		}
	})
}

func TestHTTPJSONPaths(t *testing.T) {
	// Harvest-shaped pages read as generic http-json: the entries at
	// time_entries, the next page at links.next.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /entries", func(w http.ResponseWriter, r *http.Request) {
		next := `"/entries?page=2"`
		items := `{"id":1,"user":{"id":7,"email":"a@example.com"},"spent_date":"2026-01-05","project":{"name":"P"},"hours":2}`
		if r.URL.Query().Get("page") == "2" {
			next = "null"
			items = `{"id":2,"user":{"id":8,"email":"b@example.com"},"spent_date":"2026-01-06","project":{"name":"P"},"hours":3}`
		}
		fmt.Fprintf(w, `{"time_entries":[%s],"per_page":1,"page":null,"links":{"first":"x","next":%s,"previous":null}}`, items, next)
	})
	srv := newServer(t, mux)
	m := must(importer.ParseMapping([]string{"user_id=user.email,date=spent_date,project=project.name"}))
	src := must(importer.OpenSource(srv+"/entries", importer.SourceOptions{Kind: importer.KindHTTPJSON, ItemsPath: "time_entries", NextPath: "links.next"}))
	mp := &importer.Mapper{Mapping: m, SourceName: "t"}
	var users []string
	err := src.Each(context.Background(), func(r *importer.Record) error {
		e, verrs := mp.Map(r.Fields)
		if verrs != nil {
			return verrs
		}
		users = append(users, *e.Input.UserID+" "+*e.Input.Date+" "+e.ExternalID)
		return nil
	})
	if err != nil || !slices.Equal(users, []string{"a@example.com 2026-01-05 1", "b@example.com 2026-01-06 2"}) {
		t.Fatalf("%v %v", users, err)
	}
	// Without the paths, the page is not of the default shape.
	_, err = readAll(t, must(importer.OpenSource(srv+"/entries", importer.SourceOptions{})))
	wantErr(t, err, `a JSON object must hold the entries in an "items" or "data" array`)
	_, err = readAll(t, must(importer.OpenSource(srv+"/entries", importer.SourceOptions{ItemsPath: "links"})))
	wantErr(t, err, `"links" must be an array of entries`)
}

func TestDottedMapAndSourceUpdatedAt(t *testing.T) {
	path := writeFile(t, filepath.Join(t.TempDir(), "e.json"), `[
 {"ref":"r1","who":{"email":"a@example.com","id":1},"day":"2026-01-05","job":{"name":"Apollo"},"hours":2,"changed":"2026-01-05T18:00:00+01:00"},
 {"ref":"r2","who":{"email":"b@example.com"},"day":"2026-01-06","job":{"name":"Apollo"},"hours":1,"changed":"yesterday"}
]`)
	m := must(importer.ParseMapping([]string{"external_id=ref,user_id=who.email,date=day,project=job.name,source_updated_at=changed"}))
	src := must(importer.OpenSource(path, importer.SourceOptions{Mapping: m}))
	mp := &importer.Mapper{Mapping: m, SourceName: "f"}
	var out []string
	err := src.Each(context.Background(), func(r *importer.Record) error {
		e, verrs := mp.Map(r.Fields)
		if verrs != nil {
			out = append(out, verrs.Error())
			return nil
		}
		out = append(out, *e.Input.UserID+" "+*e.Input.Project+" "+*e.Input.SourceUpdatedAt)
		return nil
	})
	if err != nil || len(out) != 2 || out[0] != "a@example.com Apollo 2026-01-05T18:00:00+01:00" || !strings.Contains(out[1], "source_updated_at") {
		t.Fatalf("%q %v", out, err)
	}
}
