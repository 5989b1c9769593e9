package importer_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/abc-inc/timesheets/pkg/apitest"
	"github.com/abc-inc/timesheets/pkg/devissuer"
	"github.com/abc-inc/timesheets/pkg/importer"
	"github.com/abc-inc/timesheets/pkg/syncbuf"
)

func TestImportFormats(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	dir := t.TempDir()
	rows := genRows(1200, "")
	// The same entries in every format: the content hash makes them one set.
	cases := []struct {
		name, file, content string
	}{
		{"csv", "a.csv", csvOf(rows[:400])},
		{"json", "b.json", jsonArrayOf(rows[400:800])},
		{"ndjson", "c.ndjson", ndjsonOf(rows[800:])},
	}
	total := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, filepath.Join(dir, c.file), c.content)
			logs := &syncbuf.Buffer{}
			cfg := config(t, api, path, logs)
			cfg.BatchSize = 150
			s := run(t, cfg)
			wantSummary(t, s, 400, 400, 0, 0, 0)
			if s.ExitCode() != importer.ExitOK || s.Batches != 3 {
				t.Fatalf("exit %d, batches %d; want 0, 3", s.ExitCode(), s.Batches)
			}
			total += 400
			if n := api.Count(t); n != total {
				t.Fatalf("store holds %d entries, want %d", n, total)
			}
		})
	}

	t.Run("directory", func(t *testing.T) {
		// The directory holds the three files read above (all duplicates now)
		// and, read last in name order, a new one; hidden files and other
		// extensions are skipped.
		writeFile(t, filepath.Join(dir, "d.csv"), csvOf(genRows(1300, "")[1200:]))
		writeFile(t, filepath.Join(dir, ".hidden.csv"), "garbage")
		writeFile(t, filepath.Join(dir, "notes.txt"), "garbage")
		logs := &syncbuf.Buffer{}
		s := run(t, config(t, api, dir, logs))
		wantSummary(t, s, 1300, 100, 1200, 0, 0)
		if n := api.Count(t); n != 1300 {
			t.Fatalf("store holds %d entries, want 1300", n)
		}
	})

	t.Run("stored as sent", func(t *testing.T) {
		for _, e := range api.Entries(t) {
			if e.Source != "contractor-tool" || !strings.HasPrefix(e.ExternalID, "sha256-") || e.CreatedBy != api.Issuer.Issuer()+"#sub:importer@clients" {
				t.Fatalf("entry %+v: want source contractor-tool, a hashed external id, created by the issuer's importer@clients", e)
			}
		}
	})
}

func TestSecondRunCreatesNothing(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	path := writeFile(t, filepath.Join(t.TempDir(), "entries.csv"), csvOf(genRows(1000, "tool-")))
	logs := &syncbuf.Buffer{}
	cfg := config(t, api, path, logs)
	wantSummary(t, run(t, cfg), 1000, 1000, 0, 0, 0)
	tokensAfterFirst := api.TokenRequests()
	if tokensAfterFirst != 1 {
		t.Errorf("first run made %d token requests for 2 batches; want 1 (the token is reused)", tokensAfterFirst)
	}
	s := run(t, cfg)
	wantSummary(t, s, 1000, 0, 1000, 0, 0)
	if s.ExitCode() != importer.ExitOK {
		t.Fatalf("exit %d, want 0", s.ExitCode())
	}
	if n := api.Count(t); n != 1000 {
		t.Fatalf("store holds %d entries, want 1000", n)
	}
	// The tool's id is the external id.
	ids := map[string]bool{}
	for _, e := range api.Entries(t) {
		ids[e.ExternalID] = true
	}
	if !ids["tool-0"] || !ids["tool-999"] {
		t.Fatal("external ids are not the tool's ids")
	}
}

// cancelAfter is a transport that cancels the run while upload number n is
// in flight, as a SIGTERM or a killed pod would.
type cancelAfter struct {
	n      int64
	seen   atomic.Int64
	cancel context.CancelFunc
}

func (c *cancelAfter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, importer.UploadPath) && c.seen.Add(1) == c.n {
		go func() { time.Sleep(time.Millisecond); c.cancel() }()
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestKilledRunThenRerun(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	const n = 5000
	path := writeFile(t, filepath.Join(t.TempDir(), "entries.ndjson"), ndjsonOf(genRows(n, "")))

	logs := &syncbuf.Buffer{}
	cfg := config(t, api, path, logs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg.HTTPClient = &http.Client{Transport: &cancelAfter{n: 4, cancel: cancel}}
	first := importer.Run(ctx, cfg)
	if !errors.Is(first.Err, context.Canceled) || first.ExitCode() != importer.ExitFailed {
		t.Fatalf("killed run: err %v, exit %d; want context.Canceled, 1", first.Err, first.ExitCode())
	}
	api.WaitIdle(t) // the batch in flight when the run was killed may still commit
	stored := api.Count(t)
	if stored == 0 || stored >= n || stored%500 != 0 {
		t.Fatalf("killed run left %d entries; want some whole batches of 500, not all %d", stored, n)
	}
	if first.Created > int64(stored) || first.Failed == 0 {
		t.Fatalf("killed run summary %q with %d stored", first.Line(), stored)
	}
	t.Logf("killed run: %s; %d entries stored", first.Line(), stored)

	second := run(t, config(t, api, path, logs))
	if second.ExitCode() != importer.ExitOK || second.Created+second.Duplicates != n || second.Created != int64(n-stored) {
		t.Fatalf("rerun: %s; want %d created and %d duplicates", second.Line(), n-stored, stored)
	}
	entries := api.Entries(t)
	seen := map[string]bool{}
	for _, e := range entries {
		if seen[e.ExternalID] {
			t.Fatalf("entry %s stored twice", e.ExternalID)
		}
		seen[e.ExternalID] = true
	}
	if len(entries) != n {
		t.Fatalf("%d entries stored, want %d", len(entries), n)
	}
}

func TestWrongSecret(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	path := writeFile(t, filepath.Join(t.TempDir(), "e.csv"), csvOf(genRows(10, "")))
	logs := &syncbuf.Buffer{}
	cfg := config(t, api, path, logs)
	const secret = "definitely-the-wrong-secret-8c1f"
	writeFile(t, filepath.Join(cfg.CredentialsDir, importer.ClientSecretFile), secret+"\n")
	var redacted []string
	cfg.Redact = func(s string) { redacted = append(redacted, s) }

	s := run(t, cfg)
	var te *importer.TokenError
	if !errors.As(s.Err, &te) || te.Code != "invalid_client" || s.ExitCode() != importer.ExitFailed {
		t.Fatalf("err %v, exit %d; want invalid_client, 1", s.Err, s.ExitCode())
	}
	if !strings.Contains(s.Err.Error(), "client id and secret") {
		t.Errorf("message %q does not say what to check", s.Err)
	}
	if strings.Contains(s.Err.Error(), secret) || strings.Contains(logs.String(), secret) {
		t.Fatal("the secret appears in the error or the logs")
	}
	if !slices.Contains(redacted, secret) {
		t.Error("the secret was not handed to Redact")
	}
	wantSummary(t, s, 0, 0, 0, 0, 0)
	if api.Count(t) != 0 {
		t.Fatal("entries stored without a token")
	}
}

func TestMissingScope(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	path := writeFile(t, filepath.Join(t.TempDir(), "e.csv"), csvOf(genRows(10, "")))
	logs := &syncbuf.Buffer{}
	cfg := config(t, api, path, logs)
	cfg.CredentialsDir = api.Credentials(t, apitest.ReaderClient) // read:timesheets only

	s := run(t, cfg)
	var se *importer.ScopeError
	if !errors.As(s.Err, &se) || se.Scope != "batch:upload" || s.ExitCode() != importer.ExitFailed {
		t.Fatalf("err %v, exit %d; want a ScopeError naming batch:upload, exit 1", s.Err, s.ExitCode())
	}
	if !strings.Contains(s.Err.Error(), `"batch:upload"`) {
		t.Fatalf("message %q does not name the scope", s.Err)
	}
	wantSummary(t, s, 10, 0, 0, 0, 10)
	if s.Retries != 0 {
		t.Fatalf("a 403 was retried %d times", s.Retries)
	}
}

func TestUnavailableThenRecovers(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	path := writeFile(t, filepath.Join(t.TempDir(), "e.csv"), csvOf(genRows(1000, "")))
	logs := &syncbuf.Buffer{}
	cfg := config(t, api, path, logs)
	cfg.InFlight = 1 // the two 503s hit the same batch
	api.FailUploads(2, "1")

	start := time.Now()
	s := run(t, cfg)
	wantSummary(t, s, 1000, 1000, 0, 0, 0)
	if s.Retries != 2 || api.FailedUploads() != 2 || api.UploadRequests() != 4 {
		t.Fatalf("retries %d, 503s %d, uploads %d; want 2, 2, 4", s.Retries, api.FailedUploads(), api.UploadRequests())
	}
	if el := time.Since(start); el < 2*time.Second {
		t.Fatalf("run took %s; Retry-After: 1 twice means at least 2s", el)
	}
	if n := api.Count(t); n != 1000 {
		t.Fatalf("store holds %d entries, want 1000", n)
	}
	if len(records(logs, "retrying")) != 2 {
		t.Fatalf("want 2 retry log lines:\n%s", logs)
	}
}

func TestUnavailableBeyondAttempts(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	path := writeFile(t, filepath.Join(t.TempDir(), "e.csv"), csvOf(genRows(10, "")))
	logs := &syncbuf.Buffer{}
	cfg := config(t, api, path, logs)
	api.FailUploads(100, "")
	s := run(t, cfg)
	if s.Err == nil || !strings.Contains(s.Err.Error(), "gave up after 6 attempts") || s.ExitCode() != importer.ExitFailed {
		t.Fatalf("err %v, exit %d", s.Err, s.ExitCode())
	}
	wantSummary(t, s, 10, 0, 0, 0, 10)
}

func TestBadRows(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	csv := "id,user_id,date,project,hours\n" +
		"1,c-1,2024-03-01T09:00:00Z,StoreZero,7.5\n" +
		"2,,2024-03-01T09:00:00Z,StoreZero,7.5\n" + // line 3: no user
		"3,c-1,yesterday,StoreZero,7.5\n" + // line 4: bad date
		"4,c-1,2024-03-02T09:00:00Z,StoreZero,25\n" + // line 5: too many hours
		"5,c-1,2024-03-02T09:00:00Z,StoreZero,abc\n" + // line 6: not a number
		"6,c-1,2024-03-03T09:00:00Z,\"Store\"Zero,1\n" + // line 7: malformed CSV
		"7,c-2,2024-03-03T09:00:00Z,StoreZero,8\n"
	path := writeFile(t, filepath.Join(t.TempDir(), "bad.csv"), csv)
	logs := &syncbuf.Buffer{}
	s := run(t, config(t, api, path, logs))
	wantSummary(t, s, 7, 2, 0, 5, 0)
	if s.ExitCode() != importer.ExitFailed {
		t.Fatalf("exit %d, want 1", s.ExitCode())
	}
	want := map[string]string{
		path + ":3 (record 2)": "user_id: missing",
		path + ":4 (record 3)": "date: \"yesterday\" is neither a day such as 2017-05-10 nor an RFC 3339 timestamp",
		path + ":5 (record 4)": "hours: 25 is out of range",
		path + ":6 (record 5)": "hours: abc (field \"hours\") is not a number",
		path + ":7 (record 6)": "malformed CSV",
	}
	got := map[string]string{}
	for _, r := range records(logs, "entry rejected") {
		got[r["at"].(string)] = r["reason"].(string)
	}
	for at, reason := range want {
		if !strings.Contains(got[at], reason) {
			t.Errorf("at %s: reason %q, want it to contain %q", at, got[at], reason)
		}
	}
	if n := api.Count(t); n != 2 {
		t.Fatalf("store holds %d entries, want 2", n)
	}

	t.Run("json lines", func(t *testing.T) {
		js := "[\n  {\"id\": \"j1\", \"user_id\": \"c-1\", \"date\": \"2024-03-01T09:00:00Z\", \"project\": \"P\", \"hours\": 1},\n" +
			"  {\n    \"id\": \"j2\",\n    \"user_id\": \"c-1\",\n    \"year\": 2024,\n    \"week\": 60,\n    \"project\": \"P\",\n    \"hours\": 1\n  },\n" +
			"  \"not an object\"\n]\n"
		path := writeFile(t, filepath.Join(t.TempDir(), "bad.json"), js)
		logs := &syncbuf.Buffer{}
		s := run(t, config(t, api, path, logs))
		wantSummary(t, s, 3, 1, 0, 2, 0)
		got := map[string]string{}
		for _, r := range records(logs, "entry rejected") {
			got[r["at"].(string)] = r["reason"].(string)
		}
		if !strings.Contains(got[path+":3 (record 2)"], "week: 60 is not an ISO week") ||
			!strings.Contains(got[path+":11 (record 3)"], "not a JSON object") {
			t.Fatalf("rejections %v", got)
		}
	})
}

func TestMissingCredentials(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	path := writeFile(t, filepath.Join(t.TempDir(), "e.csv"), csvOf(genRows(3, "")))
	logs := &syncbuf.Buffer{}
	cfg := config(t, api, path, logs)
	cfg.CredentialsDir = filepath.Join(t.TempDir(), "nowhere")
	s := run(t, cfg)
	if s.ExitCode() != importer.ExitConfig || !strings.Contains(s.Err.Error(), "client-id does not exist; mount the importer's Secret") {
		t.Fatalf("exit %d, err %v; want 2 and a message naming the file", s.ExitCode(), s.Err)
	}
	if api.TokenRequests() != 0 || s.Read != 0 {
		t.Fatal("a run without credentials went ahead")
	}
}

func TestConfigErrors(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	path := writeFile(t, filepath.Join(t.TempDir(), "e.csv"), csvOf(genRows(3, "")))
	for name, mutate := range map[string]func(*importer.Config){
		"no source":          func(c *importer.Config) { c.Source = "" },
		"missing file":       func(c *importer.Config) { c.Source = filepath.Join(t.TempDir(), "nope.csv") },
		"unknown extension":  func(c *importer.Config) { c.Source = writeFile(t, filepath.Join(t.TempDir(), "e.xlsx"), "x") },
		"batch too large":    func(c *importer.Config) { c.BatchSize = 5001 },
		"no token endpoint":  func(c *importer.Config) { c.TokenURL = "" },
		"both token sources": func(c *importer.Config) { c.Issuer = api.Issuer.Issuer() },
		"plain http api":     func(c *importer.Config) { c.APIURL = "http://timesheets.example.com" },
		"plain http source":  func(c *importer.Config) { c.Source = "http://tool.example.com/entries" },
		"audience param":     func(c *importer.Config) { c.AudienceParam = "aud" },
		"user type":          func(c *importer.Config) { c.UserType = "Robot" },
		"dpop alg":           func(c *importer.Config) { c.DPoP, c.DPoPAlg = true, "HS256" },
		"dpop alg of another key": func(c *importer.Config) {
			c.DPoP, c.DPoPAlg = true, "RS256"
			writeFile(t, filepath.Join(c.CredentialsDir, importer.DPoPKeyFile), ecPEM(t))
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := config(t, api, path, &syncbuf.Buffer{})
			mutate(&cfg)
			if s := run(t, cfg); s.ExitCode() != importer.ExitConfig {
				t.Fatalf("exit %d (%v), want 2", s.ExitCode(), s.Err)
			}
		})
	}
	t.Run("csv header lacks a mapped column", func(t *testing.T) {
		cfg := config(t, api, path, &syncbuf.Buffer{})
		m, _ := importer.ParseMapping([]string{"hours=duration"})
		cfg.Mapping = m
		s := run(t, cfg)
		if s.ExitCode() != importer.ExitFailed || !strings.Contains(s.Err.Error(), `no column for hours (looked for "duration")`) {
			t.Fatalf("exit %d, err %v", s.ExitCode(), s.Err)
		}
	})
}

func TestDryRun(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	csv := csvOf(genRows(1200, "")) + ",c-1,2024-01-01T00:00:00Z,P,-1\n"
	path := writeFile(t, filepath.Join(t.TempDir(), "e.csv"), csv)
	logs := &syncbuf.Buffer{}
	cfg := config(t, api, path, logs)
	cfg.DryRun = true
	cfg.CredentialsDir = filepath.Join(t.TempDir(), "absent") // not read
	cfg.APIURL, cfg.TokenURL = "", ""                         // not needed
	s := run(t, cfg)
	if s.Read != 1201 || s.Valid != 1200 || s.Rejected != 1 || s.Batches != 3 || s.ExitCode() != importer.ExitFailed {
		t.Fatalf("dry run: %s, exit %d (%v)", s.Line(), s.ExitCode(), s.Err)
	}
	if !strings.HasPrefix(s.Line(), "dry run: read=1201 valid=1200 rejected=1 batches=3") {
		t.Fatalf("line %q", s.Line())
	}
	if api.TokenRequests() != 0 || api.UploadRequests() != 0 || api.Count(t) != 0 {
		t.Fatalf("dry run made %d token requests and %d uploads", api.TokenRequests(), api.UploadRequests())
	}
}

func TestIssuerDiscoveryAndResourceParam(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	path := writeFile(t, filepath.Join(t.TempDir(), "e.ndjson"), ndjsonOf(genRows(20, "")))
	cfg := config(t, api, path, &syncbuf.Buffer{})
	cfg.TokenURL = ""
	cfg.Issuer = api.Issuer.Issuer()
	cfg.AudienceParam = importer.AudienceParamResource
	s := run(t, cfg)
	wantSummary(t, s, 20, 20, 0, 0, 0)
}

// tamper spoils the bearer token of the first n uploads (or all, n < 0),
// as if the token had been revoked.
type tamper struct {
	n    int64
	seen atomic.Int64
}

func (tp *tamper) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, importer.UploadPath) {
		if k := tp.seen.Add(1); tp.n < 0 || k <= tp.n {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", r.Header.Get("Authorization")+"x")
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestTokenFetchedAgainOn401(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	path := writeFile(t, filepath.Join(t.TempDir(), "e.csv"), csvOf(genRows(1000, "")))

	t.Run("recovers", func(t *testing.T) {
		cfg := config(t, api, path, &syncbuf.Buffer{})
		cfg.InFlight = 1
		cfg.HTTPClient = &http.Client{Transport: &tamper{n: 1}}
		before := api.TokenRequests()
		s := run(t, cfg)
		wantSummary(t, s, 1000, 1000, 0, 0, 0)
		if got := api.TokenRequests() - before; got != 2 {
			t.Fatalf("%d token requests; want 2 (one more after the 401)", got)
		}
	})
	t.Run("gives up after one new token", func(t *testing.T) {
		cfg := config(t, api, path, &syncbuf.Buffer{})
		cfg.InFlight = 1
		cfg.HTTPClient = &http.Client{Transport: &tamper{n: -1}}
		before := api.TokenRequests()
		s := run(t, cfg)
		var ae *importer.AuthError
		if !errors.As(s.Err, &ae) || s.ExitCode() != importer.ExitFailed {
			t.Fatalf("err %v, exit %d; want an AuthError, 1", s.Err, s.ExitCode())
		}
		if got := api.TokenRequests() - before; got != 2 {
			t.Fatalf("%d token requests; want 2", got)
		}
	})
}

func TestPushgateway(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	type push struct {
		method, path string
		families     map[string]float64
	}
	pushes := make(chan push, 4)
	gw := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := push{method: r.Method, path: r.URL.Path, families: map[string]float64{}}
		dec := expfmt.NewDecoder(r.Body, expfmt.ResponseFormat(r.Header))
		for {
			var mf dto.MetricFamily
			if err := dec.Decode(&mf); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Errorf("decode push: %v", err)
				}
				break
			}
			for _, m := range mf.Metric {
				key := mf.GetName()
				for _, l := range m.Label {
					key += "{" + l.GetName() + "=" + l.GetValue() + "}"
				}
				switch {
				case m.Counter != nil:
					p.families[key] = m.Counter.GetValue()
				case m.Gauge != nil:
					p.families[key] = m.Gauge.GetValue()
				}
			}
		}
		pushes <- p
		w.WriteHeader(http.StatusOK)
	}))

	path := writeFile(t, filepath.Join(t.TempDir(), "e.csv"), csvOf(genRows(30, ""))+",c-1,2024-01-01T00:00:00Z,P,-1\n")
	cfg := config(t, api, path, &syncbuf.Buffer{})
	cfg.PushgatewayURL = gw
	s := run(t, cfg)
	wantSummary(t, s, 31, 30, 0, 1, 0)
	p := <-pushes
	if p.method != http.MethodPost || p.path != "/metrics/job/timesheets-importer" {
		t.Fatalf("push %s %s; want POST /metrics/job/timesheets-importer", p.method, p.path)
	}
	for k, want := range map[string]float64{
		"timesheets_importer_entries_total{outcome=created}":   30,
		"timesheets_importer_entries_total{outcome=rejected}":  1,
		"timesheets_importer_entries_total{outcome=duplicate}": 0,
		"timesheets_importer_entries_total{outcome=failed}":    0,
		"timesheets_importer_retries_total":                    0,
	} {
		if got, ok := p.families[k]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, want)
		}
	}
	if p.families["timesheets_importer_last_run_timestamp_seconds"] < float64(time.Now().Add(-time.Minute).Unix()) ||
		p.families["timesheets_importer_duration_seconds"] <= 0 {
		t.Errorf("last run or duration missing: %v", p.families)
	}
	if _, ok := p.families["timesheets_importer_last_success_timestamp_seconds"]; ok {
		t.Error("a run with a rejected entry pushed a last success time")
	}

	// A clean run pushes its success time.
	cfg.Source = writeFile(t, filepath.Join(t.TempDir(), "ok.csv"), csvOf(genRows(5, "ok-")))
	cfg.PushJob = "nightly"
	s = run(t, cfg)
	if !s.OK() {
		t.Fatal(s.Line())
	}
	p = <-pushes
	if p.path != "/metrics/job/nightly" || p.families["timesheets_importer_last_success_timestamp_seconds"] < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Fatalf("push %s: %v", p.path, p.families)
	}
}

// TestPrivateKeyJWT: the importer-key client's Secret layout (client-id,
// private-key.pem, key-id) gets a token with a client assertion from the
// development issuer, and the entries are stored as that client's.
func TestPrivateKeyJWT(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	path := writeFile(t, filepath.Join(t.TempDir(), "e.csv"), csvOf(genRows(30, "")))
	keyConfig := func(t *testing.T, logs *syncbuf.Buffer) importer.Config {
		cfg := config(t, api, path, logs)
		cfg.CredentialsDir = api.Credentials(t, apitest.ImporterKeyClient)
		return cfg
	}
	pemLines := func(cfg importer.Config) []string {
		b, err := os.ReadFile(filepath.Join(cfg.CredentialsDir, importer.PrivateKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSpace(string(b)), "\n")[1:3]
	}

	t.Run("discovered: aud the issuer", func(t *testing.T) {
		logs := &syncbuf.Buffer{}
		cfg := keyConfig(t, logs)
		cfg.TokenURL, cfg.Issuer = "", api.Issuer.Issuer()
		var redacted []string
		cfg.Redact = func(s string) { redacted = append(redacted, s) }
		s := run(t, cfg)
		wantSummary(t, s, 30, 30, 0, 0, 0)
		for _, line := range pemLines(cfg) {
			if !slices.Contains(redacted, line) {
				t.Fatal("a line of the private key was not handed to Redact")
			}
			if strings.Contains(logs.String(), line) {
				t.Fatal("the private key appears in the logs")
			}
		}
		for _, e := range api.Entries(t) {
			if e.CreatedBy != api.Issuer.Issuer()+"#sub:importer-key@clients" {
				t.Fatalf("entry created by %s; want importer-key@clients", e.CreatedBy)
			}
		}
	})
	t.Run("token URL behind a proxy: aud given", func(t *testing.T) {
		cfg := keyConfig(t, &syncbuf.Buffer{})
		cfg.AssertionAudience = api.Issuer.Issuer()
		before := api.TokenRequests()
		s := run(t, cfg)
		wantSummary(t, s, 30, 0, 30, 0, 0)
		if got := api.TokenRequests() - before; got != 1 {
			t.Fatalf("%d token requests; want 1", got)
		}
	})
	t.Run("token URL behind a proxy: the server refuses its aud", func(t *testing.T) {
		logs := &syncbuf.Buffer{}
		cfg := keyConfig(t, logs)
		s := run(t, cfg)
		var te *importer.TokenError
		if !errors.As(s.Err, &te) || te.Code != "invalid_client" || s.ExitCode() != importer.ExitFailed {
			t.Fatalf("err %v, exit %d; want invalid_client, 1", s.Err, s.ExitCode())
		}
		if msg := s.Err.Error(); !strings.Contains(msg, "aud must be this server's issuer") || !strings.Contains(msg, "--assertion-audience") {
			t.Fatalf("message %q does not say what to fix", msg)
		}
		for _, line := range pemLines(cfg) {
			if strings.Contains(s.Err.Error(), line) || strings.Contains(logs.String(), line) {
				t.Fatal("the private key appears in the error or the logs")
			}
		}
	})
	t.Run("a key the server does not hold", func(t *testing.T) {
		cfg := keyConfig(t, &syncbuf.Buffer{})
		cfg.AssertionAudience = api.Issuer.Issuer()
		other := api.Credentials(t, apitest.ImporterKeyClient) // the same files, then another key
		priv, kid, err := devissuer.NewClientKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := devissuer.WriteKeyCredentials(other, apitest.ImporterKeyClient, priv, kid); err != nil {
			t.Fatal(err)
		}
		cfg.CredentialsDir = other
		s := run(t, cfg)
		var te *importer.TokenError
		if !errors.As(s.Err, &te) || te.Code != "invalid_client" || !strings.Contains(s.Err.Error(), "holds the public key") {
			t.Fatalf("err %v; want invalid_client saying to check the key", s.Err)
		}
	})
	t.Run("a secret and a key", func(t *testing.T) {
		cfg := keyConfig(t, &syncbuf.Buffer{})
		writeFile(t, filepath.Join(cfg.CredentialsDir, importer.ClientSecretFile), "s3cret")
		before := api.TokenRequests()
		s := run(t, cfg)
		if s.ExitCode() != importer.ExitConfig || !strings.Contains(s.Err.Error(), "keep one") || api.TokenRequests() != before {
			t.Fatalf("exit %d, err %v; want 2 and no token request", s.ExitCode(), s.Err)
		}
	})
}
