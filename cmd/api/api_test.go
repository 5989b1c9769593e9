package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/devissuer"
	"github.com/abc-inc/timesheets/pkg/metrics"
	"github.com/abc-inc/timesheets/pkg/openapi/openapitest"
	"github.com/abc-inc/timesheets/pkg/policy"
	"github.com/abc-inc/timesheets/pkg/server"
	"github.com/abc-inc/timesheets/pkg/service"
	"github.com/abc-inc/timesheets/pkg/store"
	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// stack is the API as cmd/api serves it, with a real SQLite file and the
// development issuer on loopback.
type stack struct {
	srv    *httptest.Server
	issuer *devissuer.Server
	store  timesheets.Store
}

func newStack(t testing.TB, authOn bool) *stack {
	t.Helper()
	return newStackWith(t, authOn, "sqlite://"+filepath.Join(t.TempDir(), "ts.db"), newDevIssuer(t))
}

func newDevIssuer(t testing.TB) *devissuer.Server {
	t.Helper()
	var clients []devissuer.Client
	for _, c := range devissuer.BuiltinClients() {
		clients = append(clients, devissuer.Client{ID: c.ID, Secret: "s", Scopes: c.Scopes})
	}
	is, err := devissuer.New(devissuer.Config{Audience: devAudience, Logger: slog.New(slog.DiscardHandler), Clients: clients})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	go is.Start(ctx)
	t.Cleanup(func() { cancel(); is.Close() })
	return is
}

// newStackWith serves the API on databaseURL, trusting is; several stacks on
// one PostgreSQL database behave as replicas.
func newStackWith(t testing.TB, authOn bool, databaseURL string, is *devissuer.Server) *stack {
	t.Helper()
	return newStackPolicy(t, authOn, databaseURL, is, policy.Sample(is.Issuer(), devAudience))
}

// newStackPolicy is newStackWith guarded by spec.
func newStackPolicy(t testing.TB, authOn bool, databaseURL string, is *devissuer.Server, spec v1alpha1.ScopePolicySpec) *stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	logger := slog.New(slog.DiscardHandler)
	st, err := store.Open(ctx, databaseURL, store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })

	var h http.Handler
	if authOn {
		h = startService(t, service.Options{Store: st, Logger: logger, TokenCacheSize: 10000}, spec).Handler()
	} else {
		// The same server minus the policy guard: instrumented alike, so a
		// comparison measures auth alone.
		mux := http.NewServeMux()
		(&timesheets.API{Store: st, Logger: logger, Caller: auth.Subject}).Register(mux)
		h = server.Instrument(metrics.Discard(), mux, mux)
	}
	// Every exchange of a test is checked against the OpenAPI document; a
	// benchmark measures the API, not the checker (it costs ten times the
	// request).
	if _, bench := t.(*testing.B); !bench {
		h = openapitest.Handler(t, h, openapitest.Options{Tokens: authOn})
	}
	s := &stack{srv: httptest.NewServer(h), issuer: is, store: st}
	t.Cleanup(s.srv.Close)
	return s
}

// startService runs the service as cmd/api assembles it until the test
// ends, with spec in force.
func startService(t testing.TB, o service.Options, spec v1alpha1.ScopePolicySpec) *service.Service {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	svc := service.New(o)
	done := make(chan struct{})
	go func() { defer close(done); _ = svc.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	snap, err := policy.Compile("test", 1, spec)
	require.NoError(t, err)
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	require.NoError(t, svc.Enforce(wctx, snap))
	return svc
}

func (s *stack) token(t testing.TB, client string) string {
	t.Helper()
	var scopes []string
	for _, c := range devissuer.BuiltinClients() {
		if c.ID == client {
			scopes = c.Scopes
		}
	}
	tok, err := s.issuer.Mint(s.issuer.Claims(client, devAudience, scopes))
	require.NoError(t, err)
	return tok
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (s *stack) do(t testing.TB, method, path, token, contentType, body string) resp {
	t.Helper()
	req, err := http.NewRequest(method, s.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	r, err := s.srv.Client().Do(req)
	require.NoError(t, err)
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	out := resp{status: r.StatusCode, header: r.Header, raw: string(b)}
	_ = json.Unmarshal(b, &out.body)
	return out
}

const (
	dayEntry  = `{"user_id":"007","date":"2017-05-10T17:40:20.095Z","project":"StoreZero","hours":5}`
	weekEntry = `{"user_type":"Employee","user_id":"007","year":2016,"week":24,"project":"StoreZero","hours":40}`
	jsonType  = "application/json"
)

func TestEndpoints(t *testing.T) {
	s := newStack(t, true)
	admin := s.token(t, "admin")
	importer := s.token(t, "importer")

	t.Run("create answers like the scenario", func(t *testing.T) {
		r := s.do(t, "POST", "/timesheets", admin, jsonType, dayEntry)
		require.Equal(t, 201, r.status, r.raw)
		id := int64(r.body["id"].(float64))
		require.Equal(t, fmt.Sprintf("Created timesheet %d for employee 007.", id), r.body["message"])
		require.Equal(t, fmt.Sprintf("/timesheets/%d", id), r.header.Get("Location"))
		got := s.do(t, "GET", r.header.Get("Location"), admin, "", "")
		require.Equal(t, 200, got.status)
		require.Equal(t, "2017-05-10T17:40:20.095Z", got.body["date"])
		require.Equal(t, s.issuer.Issuer()+"#sub:admin@clients", got.body["created_by"])
	})
	t.Run("upload one entry with batch:upload only", func(t *testing.T) {
		r := s.do(t, "POST", "/timesheets/upload", importer, jsonType, weekEntry)
		require.Equal(t, 201, r.status, r.raw)
		require.Equal(t, 403, s.do(t, "POST", "/timesheets", importer, jsonType, dayEntry).status, "the importer may not use create:timesheets routes")
	})
	t.Run("upload a batch: created, updated, rejected", func(t *testing.T) {
		batch := `[
			{"user_id":"c-1","date":"2017-05-10T00:00:00Z","project":"P","hours":8,"source":"tool","external_id":"a"},
			{"user_id":"c-1","date":"2017-05-11T00:00:00Z","project":"P","hours":8,"source":"tool","external_id":"a"},
			{"user_id":"c-1","date":"2017-05-12T00:00:00Z","project":"P","hours":99,"source":"tool","external_id":"b"},
			{"user_id":"c-1","year":2017,"week":19,"project":"P","hours":30,"source":"tool","external_id":"c"}]`
		r := s.do(t, "POST", "/timesheets/upload", importer, jsonType, batch)
		require.Equal(t, 200, r.status, r.raw)
		counts := func(r resp) []float64 {
			return []float64{r.body["created"].(float64), r.body["duplicates"].(float64), r.body["updated"].(float64), r.body["rejected"].(float64)}
		}
		require.Equal(t, []float64{2, 0, 1, 1}, counts(r))
		results := r.body["results"].([]any)
		require.Equal(t, "updated", results[1].(map[string]any)["status"], "a key repeated with other content applies in order")
		require.Equal(t, results[0].(map[string]any)["id"], results[1].(map[string]any)["id"])
		require.Contains(t, r.raw, `"field":"hours"`)

		again := s.do(t, "POST", "/timesheets/upload", importer, jsonType, batch)
		require.Equal(t, []float64{0, 1, 2, 1}, counts(again), "uploading the same batch twice creates nothing; a's two versions apply again")
	})
	t.Run("all_or_nothing stores nothing when one entry is bad", func(t *testing.T) {
		before := s.count(t, admin, "strict")
		r := s.do(t, "POST", "/timesheets/upload?all_or_nothing=true", importer, jsonType,
			`[{"user_id":"strict","date":"2017-05-10T00:00:00Z","project":"P","hours":8},{"user_id":"strict","project":"P","hours":8}]`)
		require.Equal(t, 400, r.status, r.raw)
		require.Equal(t, before, s.count(t, admin, "strict"))
	})
	t.Run("bad input", func(t *testing.T) {
		cases := []struct {
			name, path, ctype, body string
			status                  int
			want                    string
		}{
			{"not JSON", "/timesheets", "text/plain", dayEntry, 415, "application/json"},
			{"no content type", "/timesheets", "", dayEntry, 415, "application/json"},
			{"unknown field", "/timesheets", jsonType, `{"user_id":"007","date":"2017-05-10T17:40:20Z","project":"P","hours":1,"x":1}`, 400, `"field":"x"`},
			{"body too large", "/timesheets", jsonType, `{"user_id":"` + strings.Repeat("a", timesheets.MaxEntryBytes) + `"}`, 413, "larger than"},
			{"too many entries", "/timesheets/upload", jsonType, "[" + strings.Repeat(`{},`, timesheets.MaxBatchEntries) + "{}]", 413, "at most"},
			{"empty batch", "/timesheets/upload", jsonType, "[]", 400, "empty"},
			{"malformed JSON", "/timesheets/upload", jsonType, "[{", 400, "JSON"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				token := admin
				if tc.path == "/timesheets/upload" {
					token = importer
				}
				r := s.do(t, "POST", tc.path, token, tc.ctype, tc.body)
				require.Equal(t, tc.status, r.status, r.raw)
				require.Contains(t, r.raw, tc.want)
			})
		}
	})
	t.Run("get, delete, approve", func(t *testing.T) {
		r := s.do(t, "POST", "/timesheets/upload", importer, jsonType, dayEntry) // not admin: nobody approves their own
		require.Equal(t, 201, r.status, r.raw)
		loc := r.header.Get("Location")
		ap := s.do(t, "POST", loc+"/approve", admin, "", "")
		require.Equal(t, 200, ap.status, ap.raw)
		require.Equal(t, s.issuer.Issuer()+"#sub:admin@clients", ap.body["approved_by"])
		require.NotEmpty(t, ap.body["approved_at"])
		require.Equal(t, 409, s.do(t, "POST", loc+"/approve", admin, "", "").status)
		locked := s.do(t, "DELETE", loc, admin, "", "")
		require.Equal(t, 409, locked.status, "an approved entry is locked: %s", locked.raw)
		require.Contains(t, locked.raw, "approved by "+s.issuer.Issuer()+"#sub:admin@clients", "named to a caller that may read it")
		r = s.do(t, "POST", "/timesheets/upload", importer, jsonType, strings.Replace(dayEntry, `"hours":5`, `"hours":4`, 1))
		require.Equal(t, 201, r.status, r.raw)
		loc = r.header.Get("Location")
		require.Equal(t, 204, s.do(t, "DELETE", loc, admin, "", "").status)
		require.Equal(t, 404, s.do(t, "GET", loc, admin, "", "").status)
		require.Equal(t, 404, s.do(t, "DELETE", loc, admin, "", "").status)
		require.Equal(t, 404, s.do(t, "POST", loc+"/approve", admin, "", "").status)
		require.Equal(t, 400, s.do(t, "GET", "/timesheets/abc", admin, "", "").status)
	})
	t.Run("list filters and pagination", func(t *testing.T) {
		var batch []string
		for i := range 25 {
			batch = append(batch, fmt.Sprintf(`{"user_id":"pager","date":"2020-01-%02dT09:00:00Z","project":"P%d","hours":1}`, i+1, i%2))
		}
		require.Equal(t, 200, s.do(t, "POST", "/timesheets/upload", importer, jsonType, "["+strings.Join(batch, ",")+"]").status)
		seen := map[float64]bool{}
		cursor := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 10)
			r := s.do(t, "GET", "/timesheets?user_id=pager&limit=10&cursor="+cursor, admin, "", "")
			require.Equal(t, 200, r.status, r.raw)
			for _, it := range r.body["items"].([]any) {
				id := it.(map[string]any)["id"].(float64)
				require.False(t, seen[id], "no entry twice")
				seen[id] = true
			}
			next, _ := r.body["next_cursor"].(string)
			if next == "" {
				break
			}
			cursor = next
		}
		require.Len(t, seen, 25)
		r := s.do(t, "GET", "/timesheets?user_id=pager&project=P0&from=2020-01-05&to=2020-01-10", admin, "", "")
		require.Len(t, r.body["items"].([]any), 3) // days 5, 7, 9
		for _, q := range []string{"limit=0", "limit=1001", "from=yesterday", "status=done", "cursor=zzz", "colour=red"} {
			require.Equal(t, 400, s.do(t, "GET", "/timesheets?"+q, admin, "", "").status, q)
		}
	})
}

func (s *stack) count(t *testing.T, token, user string) int {
	r := s.do(t, "GET", "/timesheets?limit=1000&user_id="+user, token, "", "")
	require.Equal(t, 200, r.status)
	return len(r.body["items"].([]any))
}

// BenchmarkGetTimesheet measures loopback throughput of GET /timesheets/{id}
// with a valid token beside the same server with auth switched off.
func BenchmarkGetTimesheet(b *testing.B) {
	for _, authOn := range []bool{false, true} {
		name := map[bool]string{false: "auth-off", true: "auth-on"}[authOn]
		b.Run(name, func(b *testing.B) {
			s := newStack(b, authOn)
			tok := s.token(b, "admin")
			e, err := timesheets.DecodeEntry([]byte(dayEntry))
			require.NoError(b, err)
			res, err := s.store.Create(context.Background(), []timesheets.Entry{e})
			require.NoError(b, err)
			url := fmt.Sprintf("%s/timesheets/%d", s.srv.URL, res[0].ID)
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			client := &http.Client{Transport: tr}
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("GET", url, nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					r, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, r.Body)
					r.Body.Close()
					if r.StatusCode != 200 {
						b.Errorf("status %d", r.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}

// BenchmarkUpload is the seed's request, POST /timesheets/upload with one
// entry of its own (a fresh external_id), through the handler chain as
// cmd/api assembles it (CORS, instrumentation into a real registry, the
// policy guard, the handler), in process: no sockets, no OpenAPI check, so
// that a CPU profile shows the API's own work. dry_run is the same request
// storing nothing. hack/load measures the binary over loopback.
func BenchmarkUpload(b *testing.B) {
	for _, mode := range []string{"store", "dry_run"} {
		b.Run(mode, func(b *testing.B) {
			is := newDevIssuer(b)
			st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(b.TempDir(), "ts.db"), store.Options{})
			require.NoError(b, err)
			b.Cleanup(func() { st.Close() })
			h := startService(b, service.Options{Store: st, Logger: slog.New(slog.DiscardHandler), TokenCacheSize: 10000,
				Metrics: metrics.New(prometheus.NewRegistry())}, policy.Sample(is.Issuer(), devAudience)).Handler()
			s := &stack{issuer: is}
			tok := "Bearer " + s.token(b, "importer")
			path := "/timesheets/upload"
			if mode == "dry_run" {
				path += "?dry_run=true"
			}
			var seq atomic.Int64
			b.SetParallelism(4)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					body := fmt.Sprintf(`[{"user_id":"007","date":"2017-05-10T17:40:20.095Z","project":"StoreZero","hours":5,"source":"bench","external_id":"%d"}]`, seq.Add(1))
					req := httptest.NewRequest("POST", path, strings.NewReader(body))
					req.Header.Set("Authorization", tok)
					req.Header.Set("Content-Type", "application/json")
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Errorf("status %d: %s", w.Code, w.Body)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}
