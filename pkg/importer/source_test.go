package importer

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

type seen struct {
	loc    string
	fields map[string]string
	err    string
}

// collect reads every record of a file.
func collect(t *testing.T, name, content string, o SourceOptions) ([]seen, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if o.Mapping.isZero() {
		o.Mapping = DefaultMapping()
	}
	src, err := OpenSource(path, o)
	if err != nil {
		return nil, err
	}
	var out []seen
	err = src.Each(context.Background(), func(r *Record) error {
		s := seen{loc: strings.TrimPrefix(r.Loc.String(), path), fields: map[string]string{}}
		if r.Err != nil {
			s.err = r.Err.Error()
		} else {
			for _, k := range []string{"id", "user_id", "hours"} {
				if v, ok := r.Fields.Field(k); ok {
					s.fields[k] = v.Text
				}
			}
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

func TestCSVSource(t *testing.T) {
	csv := "\ufeffID, User_ID ,hours,project\n" +
		"1,a,1,P\n" +
		"\n" + // blank lines are skipped
		"2,\"multi\nline\",2,P\n" +
		"3,b\n" + // short row
		"4,\"bad\"quote,4,P\n" +
		"5,c,5,P,extra\n"
	got, err := collect(t, "x.csv", csv, SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []seen{
		{loc: ":2 (record 1)", fields: map[string]string{"id": "1", "user_id": "a", "hours": "1"}},
		{loc: ":4 (record 2)", fields: map[string]string{"id": "2", "user_id": "multi\nline", "hours": "2"}},
		{loc: ":6 (record 3)", fields: map[string]string{"id": "3", "user_id": "b"}},
		{loc: ":7 (record 4)", err: "malformed CSV"},
		{loc: ":8 (record 5)", fields: map[string]string{"id": "5", "user_id": "c", "hours": "5"}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d records: %+v", len(got), got)
	}
	for i := range want {
		if got[i].loc != want[i].loc || !strings.Contains(got[i].err, want[i].err) || (want[i].err == "" && got[i].err != "") {
			t.Errorf("record %d: %+v, want %+v", i, got[i], want[i])
		}
		for k, v := range want[i].fields {
			if got[i].fields[k] != v {
				t.Errorf("record %d: %s = %q, want %q", i, k, got[i].fields[k], v)
			}
		}
	}

	semi, err := collect(t, "semi.csv", "user_id;project;hours\na;P;1\n", SourceOptions{CSVComma: ';'})
	if err != nil || len(semi) != 1 || semi[0].fields["hours"] != "1" {
		t.Fatalf("semicolons: %+v %v", semi, err)
	}
	if _, err := collect(t, "h.csv", "name,project,hours\n", SourceOptions{}); err == nil || !strings.Contains(err.Error(), `no column for user_id (looked for "user_id")`) {
		t.Fatalf("header check: %v", err)
	}
	if got, err := collect(t, "empty.csv", "", SourceOptions{}); err != nil || len(got) != 0 {
		t.Fatalf("empty file: %v %v", got, err)
	}
}

func TestJSONSource(t *testing.T) {
	js := "[\n" +
		`  {"id": 1, "user_id": "a", "hours": 1},` + "\n" +
		"  {\n    \"id\": \"2\",\n    \"user_id\": \"b\\u00e9\",\n    \"hours\": 2.5\n  },\n" +
		`  42,` + "\n" +
		`  {"id": 4, "user_id": null}` + "]"
	got, err := collect(t, "x.json", js, SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantLocs := []string{":2 (record 1)", ":3 (record 2)", ":8 (record 3)", ":9 (record 4)"}
	for i, w := range wantLocs {
		if got[i].loc != w {
			t.Errorf("record %d at %s, want %s", i+1, got[i].loc, w)
		}
	}
	if got[1].fields["user_id"] != "bé" || got[1].fields["hours"] != "2.5" || got[0].fields["id"] != "1" {
		t.Errorf("fields %+v", got)
	}
	if got[2].err == "" {
		t.Error("a number passed as a record")
	}

	page := `{"total": 2, "items": [{"user_id":"a"},{"user_id":"b"}], "next": null}`
	if got, err := collect(t, "page.json", page, SourceOptions{}); err != nil || len(got) != 2 {
		t.Fatalf("page object: %v %v", got, err)
	}
	for name, bad := range map[string]string{
		"truncated":      `[{"user_id":"a"}, {"user_id":`,
		"syntax":         "[\n{\"user_id\":\"a\"},\n{\"user_id\" \"b\"}]",
		"object":         `{"user_id":"a"}`,
		"trailing":       `[{"user_id":"a"}] [{}]`,
		"items not list": `{"items": 3}`,
	} {
		if _, err := collect(t, "bad.json", bad, SourceOptions{}); err == nil {
			t.Errorf("%s: accepted", name)
		} else if name == "syntax" && !strings.Contains(err.Error(), "line 3") {
			t.Errorf("syntax error %v does not name line 3", err)
		}
	}
}

func TestNDJSONSource(t *testing.T) {
	nd := "\ufeff{\"id\":1,\"user_id\":\"a\"}\n\n{\"id\":2,\r\n{broken\n[1]\n{\"id\":3}"
	got, err := collect(t, "x.jsonl", nd, SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ loc, err string }{
		{":1 (record 1)", ""}, {":3 (record 2)", "malformed JSON"}, {":4 (record 3)", "malformed JSON"},
		{":5 (record 4)", "not a JSON object"}, {":6 (record 5)", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("%+v", got)
	}
	for i, w := range want {
		if got[i].loc != w.loc || !strings.Contains(got[i].err, w.err) || (w.err == "" && got[i].err != "") {
			t.Errorf("record %d: %+v, want %+v", i+1, got[i], w)
		}
	}
	long := `{"id":"` + strings.Repeat("x", maxLineBytes) + `"}`
	if _, err := collect(t, "long.ndjson", long, SourceOptions{}); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("long line: %v", err)
	}
}

func TestLineCounterWithSmallReads(t *testing.T) {
	// One byte per Read: the decoder's read-ahead differs, lines must not.
	js := "[\n{\"user_id\":\"a\"},\n\n{\"user_id\":\"b\"}\n]"
	var got []int
	_, err := readJSON(context.Background(), iotest.OneByteReader(strings.NewReader(js)), "x", true, func(r *Record) error {
		got = append(got, r.Loc.Line)
		return nil
	})
	if err != nil || len(got) != 2 || got[0] != 2 || got[1] != 4 {
		t.Fatalf("lines %v, %v", got, err)
	}
}

func TestDirSource(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"b.ndjson": `{"user_id":"b"}` + "\n",
		"a.csv":    "user_id,project,hours\na,P,1\n",
		"c.json":   `[{"user_id":"c"}]`,
		".hidden":  "x",
		"x.txt":    "x",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.csv"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "a.csv"), filepath.Join(dir, "d.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dir, "e.csv")); err != nil {
		t.Fatal(err)
	}
	src, err := OpenSource(dir, SourceOptions{Mapping: DefaultMapping()})
	if err != nil {
		t.Fatal(err)
	}
	var users []string
	if err := src.Each(context.Background(), func(r *Record) error {
		v, _ := r.Fields.Field("user_id")
		users = append(users, v.Text)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(users, ",") != "a,b,c,a" {
		t.Fatalf("read %v; want a.csv, b.ndjson, c.json, d.csv in order", users)
	}
	if src.Name() != sourceName(filepath.Base(dir)) {
		t.Fatalf("name %q", src.Name())
	}
}

func TestSourceNames(t *testing.T) {
	for in, want := range map[string]string{
		"contractor-tool": "contractor-tool", "Contractor Tool.csv": "contractor-tool.csv",
		"tool.example.com": "tool.example.com", "///": "import", strings.Repeat("x", 80): strings.Repeat("x", 64),
	} {
		if got := sourceName(in); got != want {
			t.Errorf("sourceName(%q) = %q, want %q", in, got, want)
		}
	}
	f := &fileSource{path: "/data/contractor-tool.csv"}
	if f.Name() != "contractor-tool" {
		t.Fatal(f.Name())
	}
	h, err := openHTTPSource("https://contractor-tool.example.com:8443/api/entries", SourceOptions{})
	if err != nil || h.Name() != "contractor-tool.example.com" {
		t.Fatal(h, err)
	}
}

func TestLinkNext(t *testing.T) {
	for h, want := range map[string]string{
		`<https://t.example/e?page=2>; rel="next"`:                                         "https://t.example/e?page=2",
		`<https://t.example/e?page=1>; rel="prev", <https://t.example/e?page=3>; rel=next`: "https://t.example/e?page=3",
		`</e?a=1,2>; title="x, y"; rel="last next"`:                                        "/e?a=1,2",
		`<https://t.example/e?page=1>; rel="prev"`:                                         "",
		``: "",
	} {
		if got := linkNext([]string{h}); got != want {
			t.Errorf("linkNext(%s) = %q, want %q", h, got, want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		" 120 ":                         2 * time.Minute,
		"0":                             0,
		"-5":                            0,
		"soon":                          0,
		"Wed, 01 May 2024 12:00:30 GMT": 30 * time.Second,
		"Wed, 01 May 2024 11:00:00 GMT": 0,
		"99999999":                      24 * time.Hour,
	} {
		if got := ParseRetryAfter(v, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	b := &Backoff{Base: 100 * time.Millisecond, Max: time.Second, Jitter: func() float64 { return 0.999999 }}
	for attempt, ceiling := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		if d := b.Delay(attempt); d > ceiling*time.Millisecond || d < ceiling*time.Millisecond*99/100 {
			t.Errorf("attempt %d: %s, want just under %dms", attempt, d, ceiling)
		}
	}
	b.Jitter = func() float64 { return 0 }
	if b.Delay(3) != 0 {
		t.Error("full jitter starts at zero")
	}
	if d := b.Delay(200); d < 0 || d > time.Second {
		t.Errorf("huge attempt: %s", d)
	}

	// retry honours Retry-After, counts attempts and stops at the deadline.
	var waits []time.Duration
	b = &Backoff{Base: time.Millisecond, MaxAttempts: 4, OnRetry: func(_ int, w time.Duration, _ error) { waits = append(waits, w) }}
	calls := 0
	err := b.retry(context.Background(), func() error {
		calls++
		return &retryable{err: context.DeadlineExceeded, after: 10 * time.Millisecond}
	})
	if calls != 4 || len(waits) != 3 || waits[0] != 10*time.Millisecond || err == nil || !strings.Contains(err.Error(), "gave up after 4 attempts") {
		t.Fatalf("calls %d, waits %v, err %v", calls, waits, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = (&Backoff{}).retry(ctx, func() error { return &retryable{err: context.Canceled, after: time.Minute} })
	if err == nil || !strings.Contains(err.Error(), "run deadline") || time.Since(start) > 40*time.Millisecond {
		t.Fatalf("a Retry-After past the deadline: %v after %s", err, time.Since(start))
	}
}

func TestBearerChallenge(t *testing.T) {
	p := bearerChallenge(`Bearer realm="timesheets", error="insufficient_scope", error_description="the token lacks a scope the route requires", scope="batch:upload"`)
	if p["error"] != "insufficient_scope" || p["scope"] != "batch:upload" || p["realm"] != "timesheets" {
		t.Fatalf("%v", p)
	}
	p = bearerChallenge(`Bearer error=invalid_token, error_description="say \"hi\"",scope="a b"`)
	if p["error"] != "invalid_token" || p["error_description"] != `say "hi"` || p["scope"] != "a b" {
		t.Fatalf("%v", p)
	}
	if len(bearerChallenge(`Basic realm="x"`)) != 0 {
		t.Fatal("not a Bearer challenge")
	}
}

func TestRedactor(t *testing.T) {
	var buf bytes.Buffer
	r := &Redactor{W: &buf}
	r.Add("s3cr3t-value")
	r.Add("ab") // too short to redact
	if _, err := r.Write([]byte("token s3cr3t-value and ab\n")); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "token [REDACTED] and ab\n" {
		t.Fatalf("%q", buf.String())
	}
}

func TestCheckURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://api.example.com": true, "http://127.0.0.1:8080": true, "http://localhost:1": true, "http://[::1]:80/x": true,
		"http://api.example.com": false, "ftp://x": false, "https://user:pw@x.example": false, "/relative": false,
	} {
		if err := checkURL("--x", raw, false); (err == nil) != ok {
			t.Errorf("checkURL(%q) = %v", raw, err)
		}
	}
	if err := checkURL("--x", "http://timesheets.svc:8080", true); err != nil {
		t.Error(err)
	}
}
