package importer_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/abc-inc/timesheets/pkg/apitest"
	"github.com/abc-inc/timesheets/pkg/importer"
	"github.com/abc-inc/timesheets/pkg/syncbuf"
)

// tool is the contractors' tool: 3 pages of 40 entries behind a bearer
// token, linked by "next" (relative), by a Link header, and ending with
// "next": null. Page 2 fails once with 503.
func tool(t *testing.T, token string) (url string, requests *atomic.Int64) {
	requests = &atomic.Int64{}
	rows := genRows(120, "T-")
	var failed atomic.Bool
	page := func(p int) []string {
		objs := make([]string, 0, 40)
		for _, r := range rows[(p-1)*40 : p*40] {
			objs = append(objs, jsonObj(r))
		}
		return objs
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/entries", func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, `{"error":"invalid_token"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Query().Get("page") {
		case "", "1":
			fmt.Fprintf(w, `{"total":120,"items":[%s],"next":"/api/entries?page=2"}`, strings.Join(page(1), ","))
		case "2":
			if !failed.Swap(true) {
				w.Header().Set("Retry-After", "0")
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("Link", `<http://`+r.Host+`/api/entries?page=1>; rel="prev", <http://`+r.Host+`/api/entries?page=3>; rel="next"`)
			fmt.Fprintf(w, "[%s]", strings.Join(page(2), ",\n"))
		case "3":
			fmt.Fprintf(w, `{"data":[%s],"next":null,"links":{"self":"x"}}`, strings.Join(page(3), ","))
		case "evil":
			fmt.Fprint(w, `{"items":[],"next":"https://elsewhere.example/steal"}`)
		case "loop":
			fmt.Fprint(w, `{"items":[],"next":"/api/entries?page=loop"}`)
		default:
			http.NotFound(w, r)
		}
	})
	return newServer(t, mux) + "/api/entries", requests
}

func TestHTTPSource(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	const token = "tool-token-5f0c9a"
	src, requests := tool(t, token)
	tokenFile := writeFile(t, filepath.Join(t.TempDir(), "tool-token"), token+"\n")

	logs := &syncbuf.Buffer{}
	cfg := config(t, api, src, logs)
	cfg.SourceName = ""
	cfg.SourceTokenFile = tokenFile
	var redacted []string
	cfg.Redact = func(s string) { redacted = append(redacted, s) }
	s := run(t, cfg)
	wantSummary(t, s, 120, 120, 0, 0, 0)
	if s.Retries != 1 || requests.Load() != 4 {
		t.Fatalf("retries %d, page requests %d; want 1 and 4", s.Retries, requests.Load())
	}
	entries := api.Entries(t)
	if len(entries) != 120 || entries[0].Source != "127.0.0.1" || !strings.HasPrefix(entries[0].ExternalID, "T-") {
		t.Fatalf("%d entries, first %+v", len(entries), entries[0])
	}
	if strings.Contains(logs.String(), token) || len(redacted) == 0 || redacted[0] != token {
		t.Fatal("the tool's token was logged or not handed to Redact")
	}

	// Again: all duplicates.
	s = run(t, cfg)
	wantSummary(t, s, 120, 0, 120, 0, 0)

	t.Run("wrong token", func(t *testing.T) {
		cfg := config(t, api, src, &syncbuf.Buffer{})
		cfg.SourceTokenFile = writeFile(t, filepath.Join(t.TempDir(), "t"), "nope")
		s := run(t, cfg)
		if s.ExitCode() != importer.ExitFailed || !strings.Contains(s.Err.Error(), "401") || !strings.Contains(s.Err.Error(), "--source-token-file") {
			t.Fatalf("exit %d, err %v", s.ExitCode(), s.Err)
		}
	})
	t.Run("next page elsewhere", func(t *testing.T) {
		cfg := config(t, api, src+"?page=evil", &syncbuf.Buffer{})
		cfg.SourceTokenFile = tokenFile
		s := run(t, cfg)
		if s.Err == nil || !strings.Contains(s.Err.Error(), "refusing to send the token elsewhere") {
			t.Fatalf("err %v", s.Err)
		}
	})
	t.Run("pages loop", func(t *testing.T) {
		cfg := config(t, api, src+"?page=loop", &syncbuf.Buffer{})
		cfg.SourceTokenFile = tokenFile
		s := run(t, cfg)
		if s.Err == nil || !strings.Contains(s.Err.Error(), "loop") {
			t.Fatalf("err %v", s.Err)
		}
	})
	t.Run("missing token file", func(t *testing.T) {
		cfg := config(t, api, src, &syncbuf.Buffer{})
		cfg.SourceTokenFile = filepath.Join(t.TempDir(), "absent")
		if s := run(t, cfg); s.ExitCode() != importer.ExitConfig {
			t.Fatalf("exit %d, err %v", s.ExitCode(), s.Err)
		}
	})
}
