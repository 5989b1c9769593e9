package importer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abc-inc/timesheets/pkg/apitest"
	"github.com/abc-inc/timesheets/pkg/importer"
	"github.com/abc-inc/timesheets/pkg/syncbuf"
)

// records returns the log records with this message.
func records(logs *syncbuf.Buffer, msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(logs.String(), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// fastBackoff keeps retry tests quick; Retry-After is still honoured.
func fastBackoff() *importer.Backoff {
	return &importer.Backoff{Base: 5 * time.Millisecond, Max: 50 * time.Millisecond, MaxAttempts: 6}
}

// config is a run against api with the importer client's credentials.
func config(t testing.TB, api *apitest.API, source string, logs *syncbuf.Buffer) importer.Config {
	t.Helper()
	return importer.Config{
		Source:         source,
		SourceName:     "contractor-tool",
		APIURL:         api.URL,
		TokenURL:       api.TokenURL,
		Audience:       apitest.Audience,
		CredentialsDir: api.Credentials(t, apitest.ImporterClient),
		Logger:         slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Backoff:        fastBackoff(),
	}
}

func run(t testing.TB, cfg importer.Config) importer.Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return importer.Run(ctx, cfg)
}

// row is one generated entry.
type row struct {
	id      string
	user    string
	date    string
	project string
	hours   string
}

func genRows(n int, idPrefix string) []row {
	rows := make([]row, n)
	for i := range rows {
		id := ""
		if idPrefix != "" {
			id = fmt.Sprintf("%s%d", idPrefix, i)
		}
		rows[i] = row{
			id:      id,
			user:    fmt.Sprintf("c-%d", i%97),
			date:    time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i%700).Format(time.RFC3339),
			project: fmt.Sprintf("Project-%d", i%13),
			hours:   fmt.Sprintf("%d.%d", 1+i%8, (i/8)%10),
		}
	}
	return rows
}

// newServer serves h on loopback until the test ends and returns its URL.
func newServer(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func writeFile(t testing.TB, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func csvOf(rows []row) string {
	var b strings.Builder
	b.WriteString("id,user_id,date,project,hours\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s\n", r.id, r.user, r.date, r.project, r.hours)
	}
	return b.String()
}

func jsonObj(r row) string {
	var parts []string
	if r.id != "" {
		parts = append(parts, fmt.Sprintf(`"id":%q`, r.id))
	}
	parts = append(parts, fmt.Sprintf(`"user_id":%q,"date":%q,"project":%q,"hours":%s`, r.user, r.date, r.project, r.hours))
	return "{" + strings.Join(parts, ",") + "}"
}

func jsonArrayOf(rows []row) string {
	objs := make([]string, len(rows))
	for i, r := range rows {
		objs[i] = "  " + jsonObj(r)
	}
	return "[\n" + strings.Join(objs, ",\n") + "\n]\n"
}

func ndjsonOf(rows []row) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(jsonObj(r))
		b.WriteByte('\n')
	}
	return b.String()
}

// wantSummary checks the counts of a summary.
func wantSummary(t testing.TB, s importer.Summary, read, created, dups, rejected, failed int64) {
	t.Helper()
	if s.Read != read || s.Created != created || s.Duplicates != dups || s.Rejected != rejected || s.Failed != failed {
		t.Fatalf("summary %q (err %v); want read=%d created=%d duplicates=%d rejected=%d failed=%d",
			s.Line(), s.Err, read, created, dups, rejected, failed)
	}
}
