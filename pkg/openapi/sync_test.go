package openapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/devissuer"
	"github.com/abc-inc/timesheets/pkg/openapi/openapitest"
	"github.com/abc-inc/timesheets/pkg/policy"
	"github.com/abc-inc/timesheets/pkg/service"
	"github.com/abc-inc/timesheets/pkg/store"
	"github.com/abc-inc/timesheets/pkg/timesheets"
)

const audience = "https://timesheets.abc-inc.example/"

// api is the service as cmd/api assembles it, on SQLite, guarded by the
// sample policy, every exchange checked against the document.
type api struct {
	srv    *httptest.Server
	issuer *devissuer.Server
}

func startAPI(t *testing.T) *api {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	logger := slog.New(slog.DiscardHandler)
	var clients []devissuer.Client
	for _, c := range devissuer.BuiltinClients() {
		clients = append(clients, devissuer.Client{ID: c.ID, Secret: "s", Scopes: c.Scopes})
	}
	is, err := devissuer.New(devissuer.Config{Audience: audience, Logger: logger, Clients: clients})
	require.NoError(t, err)
	isDone := make(chan struct{})
	go func() { defer close(isDone); _ = is.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-isDone; is.Close() })

	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "ts.db"), store.Options{Logger: logger})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })

	svc := service.New(service.Options{Store: st, Logger: logger, TokenCacheSize: 100})
	svcDone := make(chan struct{})
	go func() { defer close(svcDone); _ = svc.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-svcDone })
	snap, err := policy.Compile("test", 1, policy.Sample(is.Issuer(), audience))
	require.NoError(t, err)
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	require.NoError(t, svc.Enforce(wctx, snap))

	srv := httptest.NewServer(openapitest.Handler(t, svc.Handler(), openapitest.Options{Tokens: true}))
	t.Cleanup(srv.Close)
	return &api{srv: srv, issuer: is}
}

// token mints a machine token of client with the given scopes.
func (a *api) token(t *testing.T, client string, scopes ...string) string {
	t.Helper()
	tok, err := a.issuer.Mint(a.issuer.Claims(client, audience, scopes))
	require.NoError(t, err)
	return tok
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// do sends a request; header holds "Name: value" lines.
func (a *api) do(t *testing.T, method, path, token, body string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range header {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	r, err := a.srv.Client().Do(req)
	require.NoError(t, err)
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	out := answer{status: r.StatusCode, header: r.Header, raw: string(b)}
	_ = json.Unmarshal(b, &out.body)
	return out
}

func statuses(a answer) []string {
	var out []string
	for _, r := range a.body["results"].([]any) {
		out = append(out, r.(map[string]any)["status"].(string))
	}
	return out
}

// TestSyncRoutesMatchTheDocument: every answer of the importer's routes
// (upsert outcomes, checkpoint, prune), of PATCH with If-Match and of a
// locked entry is the document's, as the real service gives it; the checks
// are openapitest's, the assertions say the exchange is the one meant.
func TestSyncRoutesMatchTheDocument(t *testing.T) {
	a := startAPI(t)
	importer := a.token(t, devissuer.ImporterClient, "batch:upload")
	other := a.token(t, "other-importer", "batch:upload")
	admin := a.token(t, devissuer.AdminClient, devissuer.APIScopes...)

	day := func(hours, updated string) string {
		return `{"user_type":"Contractor","user_id":"c-7","date":"2026-01-05","project":"P","hours":` + hours +
			`,"source":"harvest","external_id":"1","source_updated_at":"` + updated + `"}`
	}
	r := a.do(t, "POST", "/timesheets/upload", importer, day("5", "2026-01-05T10:00:00Z"))
	require.Equal(t, 201, r.status, r.raw)
	loc := r.header.Get("Location")
	ts := r.body["timesheet"].(map[string]any)
	require.Equal(t, "2026-01-05", ts["date"])
	require.Equal(t, float64(1), ts["revision"])

	r = a.do(t, "POST", "/timesheets/upload", importer, day("5", "2026-01-05T10:00:00Z"))
	require.Equal(t, 200, r.status, r.raw)
	require.Equal(t, true, r.body["duplicate"])
	r = a.do(t, "POST", "/timesheets/upload", importer, day("6", "2026-01-05T11:00:00Z"))
	require.Equal(t, 200, r.status, r.raw)
	require.Equal(t, true, r.body["updated"])
	require.Equal(t, float64(2), r.body["revision"])
	r = a.do(t, "POST", "/timesheets/upload", importer, day("4", "2026-01-05T09:00:00Z"))
	require.Equal(t, 200, r.status, r.raw)
	require.Equal(t, true, r.body["stale"])
	r = a.do(t, "POST", "/timesheets/upload", other, day("5", "2026-01-05T12:00:00Z"))
	require.Equal(t, 409, r.status, r.raw)
	require.Equal(t, "not_owner", r.body["reason"])

	r = a.do(t, "GET", loc, admin, "")
	require.Equal(t, 200, r.status, r.raw)
	require.Equal(t, `"2"`, r.header.Get("ETag"))
	require.Equal(t, "2026-01-05", r.body["date"])
	require.Equal(t, "2026-01-05T11:00:00Z", r.body["source_updated_at"])

	t.Run("a batch has every outcome", func(t *testing.T) {
		require.Equal(t, 201, a.do(t, "POST", "/timesheets/upload", other,
			`{"user_id":"o","date":"2026-01-06","project":"P","hours":1,"source":"harvest","external_id":"theirs"}`).status)
		r := a.do(t, "POST", "/timesheets/upload", importer, `[
			{"user_id":"c-7","date":"2026-01-07","project":"P","hours":1,"source":"harvest","external_id":"2"},
			{"user_id":"c-7","date":"2026-01-07","project":"P","hours":1,"source":"harvest","external_id":"2"},
			{"user_id":"c-7","date":"2026-01-07","project":"P","hours":2,"source":"harvest","external_id":"2"},
			{"user_type":"Contractor","user_id":"c-7","date":"2026-01-05","project":"P","hours":3,"source":"harvest","external_id":"1","source_updated_at":"2026-01-01T00:00:00Z"},
			{"user_id":"c-7","date":"2026-01-06","project":"P","hours":1,"source":"harvest","external_id":"theirs"},
			{"user_id":"c-7","date":"2026-01-05T25:00:00Z","project":"P","hours":1},
			{"user_id":"c-7","year":2201,"week":1,"project":"P","hours":1,"source":"harvest","external_id":"3"}]`)
		require.Equal(t, 200, r.status, r.raw)
		require.Equal(t, []string{"created", "duplicate", "updated", "stale", "conflict", "rejected", "created"}, statuses(r), r.raw)
		for k, n := range map[string]float64{"created": 2, "duplicates": 1, "updated": 1, "stale": 1, "conflicts": 1, "rejected": 1} {
			require.Equal(t, n, r.body[k], k)
		}
	})

	t.Run("PATCH with If-Match", func(t *testing.T) {
		require.Equal(t, 428, a.do(t, "PATCH", loc, admin, `{"hours":7}`).status)
		require.Equal(t, 428, a.do(t, "PATCH", loc, admin, `{"hours":7}`, "If-Match: *").status)
		r := a.do(t, "PATCH", loc, admin, `{"hours":7}`, `If-Match: W/"2"`)
		require.Equal(t, 412, r.status, r.raw)
		require.Empty(t, r.header.Get("ETag"))
		r = a.do(t, "PATCH", loc, admin, `{"hours":7}`, `If-Match: "1"`)
		require.Equal(t, 412, r.status, r.raw)
		require.Equal(t, `"2"`, r.header.Get("ETag"))
		r = a.do(t, "PATCH", loc, admin, `{"hours":7}`, `If-Match: "2"`, "Content-Type: application/merge-patch+json")
		require.Equal(t, 200, r.status, r.raw)
		require.Equal(t, `"3"`, r.header.Get("ETag"))
		require.Equal(t, float64(7), r.body["hours"])
		r = a.do(t, "PATCH", loc, admin, `{"date":null,"year":2026,"week":2}`, `If-Match: "3"`)
		require.Equal(t, 200, r.status, r.raw)
		require.Equal(t, float64(2026), r.body["year"])
		r = a.do(t, "PATCH", loc, admin, `{"date":"2026-01-05","year":null,"week":null}`, `If-Match: "4"`)
		require.Equal(t, 200, r.status, r.raw)
		require.Equal(t, "2026-01-05", r.body["date"])
		require.Equal(t, 400, a.do(t, "PATCH", loc, admin, `{"source":"x"}`, `If-Match: "5"`).status)
		require.Equal(t, 415, a.do(t, "PATCH", loc, admin, `{"hours":1}`, `If-Match: "5"`, "Content-Type: text/plain").status)
		require.Equal(t, 404, a.do(t, "PATCH", "/timesheets/999999", admin, `{"hours":1}`, `If-Match: "1"`).status)
	})

	t.Run("an approved entry is locked", func(t *testing.T) {
		r := a.do(t, "POST", loc+"/approve", admin, "")
		require.Equal(t, 200, r.status, r.raw)
		require.Equal(t, float64(6), r.body["revision"])
		r = a.do(t, "PATCH", loc, admin, `{"hours":1}`, `If-Match: "6"`)
		require.Equal(t, 409, r.status, r.raw)
		require.Equal(t, "locked", r.body["error"])
		require.Contains(t, r.body["message"], "approved by")
		r = a.do(t, "DELETE", loc, admin, "")
		require.Equal(t, 409, r.status, r.raw)
		require.Equal(t, "locked", r.body["reason"])
		r = a.do(t, "POST", "/timesheets/upload", importer, day("8", "2026-01-06T00:00:00Z"))
		require.Equal(t, 409, r.status, r.raw)
		require.Equal(t, "locked", r.body["reason"])
		r = a.do(t, "POST", "/timesheets/upload?all_or_nothing=true", importer,
			"["+day("8", "2026-01-06T00:00:00Z")+`,{"user_id":"c-7","date":"2026-01-08","project":"P","hours":1}]`)
		require.Equal(t, 409, r.status, r.raw)
		require.Equal(t, []string{"conflict", "not_stored"}, statuses(r))
		r = a.do(t, "GET", "/timesheets?user_id=c-7&from=2026-01-08&to=2026-01-08", admin, "")
		require.Equal(t, 200, r.status, r.raw)
		require.Empty(t, r.body["items"], "the refused batch stored nothing")
	})

	t.Run("checkpoint", func(t *testing.T) {
		r := a.do(t, "GET", "/timesheets/upload/checkpoint?source=harvest", importer, "")
		require.Equal(t, 200, r.status, r.raw)
		require.Equal(t, float64(3), r.body["entries"], r.raw)
		require.Nil(t, r.body["source_updated_at"], "no run has recorded one")
		r = a.do(t, "PUT", "/timesheets/upload/checkpoint", importer, `{"source":"harvest","source_updated_at":"2026-01-05T11:00:00Z"}`)
		require.Equal(t, 200, r.status, r.raw)
		r = a.do(t, "GET", "/timesheets/upload/checkpoint?source=harvest", importer, "")
		require.Equal(t, "2026-01-05T11:00:00Z", r.body["source_updated_at"])
		r = a.do(t, "GET", "/timesheets/upload/checkpoint?source=tempo", importer, "")
		require.Equal(t, 200, r.status, r.raw)
		require.Nil(t, r.body["source_updated_at"])
		require.Equal(t, 400, a.do(t, "GET", "/timesheets/upload/checkpoint", importer, "").status)
		require.Equal(t, 400, a.do(t, "GET", "/timesheets/upload/checkpoint?source=harvest&x=1", importer, "").status)
	})

	t.Run("prune", func(t *testing.T) {
		prune := func(from, to string, ids ...string) string {
			b, err := json.Marshal(map[string]any{"source": "harvest", "from": from, "to": to, "external_ids": append([]string{}, ids...)})
			require.NoError(t, err)
			return string(b)
		}
		r := a.do(t, "POST", "/timesheets/upload/prune?dry_run=true", importer, prune("2026-01-01", "2026-01-31"))
		require.Equal(t, 200, r.status, r.raw)
		require.Equal(t, true, r.body["dry_run"])
		require.Equal(t, float64(1), r.body["deleted"], r.raw)
		r = a.do(t, "POST", "/timesheets/upload/prune", importer, prune("2026-01-01", "2026-01-31"))
		require.Equal(t, 200, r.status, r.raw)
		require.Equal(t, []string{"deleted", "conflict"}, statuses(r), r.raw)
		require.Equal(t, true, r.body["complete"])
		require.Equal(t, 400, a.do(t, "POST", "/timesheets/upload/prune", importer, prune("2026-01-01", "2027-01-02")).status, "367 days")
		require.Equal(t, 200, a.do(t, "POST", "/timesheets/upload/prune", importer, prune("2026-01-01", "2027-01-01")).status, "366 days")
		require.Equal(t, 400, a.do(t, "POST", "/timesheets/upload/prune", importer, `{"source":"harvest","from":"2026-01-01","to":"2026-01-31"}`).status)
		require.Equal(t, 400, a.do(t, "POST", "/timesheets/upload/prune", importer, `{"source":"harvest","from":"2026-01-01","to":"2026-01-31","external_ids":[],"x":1}`).status)
		many := make([]string, timesheets.MaxBatchEntries+1)
		for i := range many {
			many[i] = "k"
		}
		require.Equal(t, 413, a.do(t, "POST", "/timesheets/upload/prune", importer, prune("2026-01-01", "2026-01-31", many...)).status)
	})

	t.Run("a pending entry is deleted", func(t *testing.T) {
		r := a.do(t, "POST", "/timesheets/upload", importer, `{"user_id":"c-7","date":"2026-01-09","project":"P","hours":1}`)
		require.Equal(t, 201, r.status, r.raw)
		require.Equal(t, 204, a.do(t, "DELETE", r.header.Get("Location"), admin, "").status)
	})
}
