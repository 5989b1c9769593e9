package timesheets_test

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
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/openapi/openapitest"
	"github.com/abc-inc/timesheets/pkg/store"
	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// Requests name their caller, client and employee in test headers, which
// a wrapper puts where the API's injected functions find them (in cmd/api,
// the verified token does).
const (
	callerHeader     = "X-Test-Caller"
	clientHeader     = "X-Test-Client"
	employeeHeader   = "X-Test-Employee"
	restrictedHeader = "X-Test-Restricted" // "true": only the employee's own entries
)

type identityKey struct{}

type identity struct {
	caller, client, employee string
	restricted               bool
}

func fromCtx(ctx context.Context) identity {
	id, _ := ctx.Value(identityKey{}).(identity)
	return id
}

type server struct {
	url   string
	store timesheets.Store
	api   *timesheets.API
}

func newServer(t *testing.T, maxLarge int) *server {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "ts.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	api := &timesheets.API{Store: st, Logger: slog.New(slog.DiscardHandler), MaxLargeUploads: maxLarge,
		Caller: func(ctx context.Context) string { return fromCtx(ctx).caller },
		Client: func(ctx context.Context) string { return fromCtx(ctx).client },
		Employee: func(ctx context.Context) (string, bool) {
			id := fromCtx(ctx)
			return id.employee, id.restricted
		}}
	mux := http.NewServeMux()
	api.Register(mux)
	// Every exchange of every test is checked against the OpenAPI document.
	srv := httptest.NewServer(openapitest.Handler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := identity{r.Header.Get(callerHeader), r.Header.Get(clientHeader), r.Header.Get(employeeHeader), r.Header.Get(restrictedHeader) == "true"}
		mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	}), openapitest.Options{}))
	t.Cleanup(srv.Close)
	return &server{url: srv.URL, store: st, api: api}
}

type answer struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

// as sends a request as client (its caller the same name); body may be a
// string or an io.Reader.
func (s *server) as(t *testing.T, client, method, path string, body any) answer {
	t.Helper()
	who := identity{}
	if client != "" {
		who = identity{caller: "caller-of-" + client, client: client}
	}
	return s.send(t, who, method, path, body)
}

// send sends a request as who.
func (s *server) send(t *testing.T, who identity, method, path string, body any) answer {
	t.Helper()
	return s.sendWith(t, who, method, path, body, nil)
}

// sendWith sends a request as who with more headers.
func (s *server) sendWith(t *testing.T, who identity, method, path string, body any, headers map[string]string) answer {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case string:
		rd = strings.NewReader(b)
	case io.Reader:
		rd = b
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for h, v := range headers {
		req.Header.Set(h, v)
	}
	for h, v := range map[string]string{callerHeader: who.caller, clientHeader: who.client,
		employeeHeader: who.employee, restrictedHeader: fmt.Sprint(who.restricted)} {
		if v != "" {
			req.Header.Set(h, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func results(t *testing.T, a answer) []map[string]any {
	t.Helper()
	rs, ok := a.body["results"].([]any)
	require.True(t, ok, "no results in %s", a.raw)
	out := make([]map[string]any, len(rs))
	for i, r := range rs {
		out[i] = r.(map[string]any)
	}
	return out
}

func entry(user, source, extID string, hours int) string {
	return fmt.Sprintf(`{"user_id":%q,"date":"2021-04-01T08:00:00Z","project":"P","hours":%d,"source":%q,"external_id":%q}`, user, hours, source, extID)
}

// TestUploadHoldsEveryEntryToItsLimit: a single object on the upload route
// is one entry (64 KiB), and so is each element of a batch.
func TestUploadHoldsEveryEntryToItsLimit(t *testing.T) {
	s := newServer(t, 0)
	big := `{"user_id":"007","date":"2021-04-01T08:00:00Z","project":"` + strings.Repeat("p", timesheets.MaxEntryBytes) + `","hours":1}`
	a := s.as(t, "importer", "POST", "/timesheets/upload", big)
	require.Equal(t, http.StatusRequestEntityTooLarge, a.status, a.raw)
	require.Contains(t, a.raw, "one entry")

	a = s.as(t, "importer", "POST", "/timesheets/upload", "["+big+","+entry("u", "", "", 1)+"]")
	require.Equal(t, http.StatusOK, a.status, a.raw)
	rs := results(t, a)
	require.Equal(t, "rejected", rs[0]["status"])
	require.Contains(t, a.raw, "the entry is larger than")
	require.Equal(t, "created", rs[1]["status"])
	require.Less(t, len(a.raw), 1024, "the answer quotes nothing of the large entry")
}

// TestBatchAnswersQuoteLittle: a batch of long bad values gets an answer a
// fraction of its size.
func TestBatchAnswersQuoteLittle(t *testing.T) {
	s := newServer(t, 0)
	bad := `{"user_type":"` + strings.Repeat("T", 6000) + `","user_id":"u","date":"` + strings.Repeat("D", 6000) + `","project":"P","hours":1}`
	batch := "[" + strings.Repeat(bad+",", 99) + bad + "]"
	a := s.as(t, "importer", "POST", "/timesheets/upload", batch)
	require.Equal(t, http.StatusOK, a.status)
	require.Equal(t, float64(100), a.body["rejected"])
	require.Less(t, len(a.raw), 100*400, "%d bytes answered %d", len(batch), len(a.raw))

	a = s.as(t, "importer", "POST", "/timesheets", bad)
	require.Equal(t, http.StatusBadRequest, a.status)
	require.Less(t, len(a.raw), 1024, a.raw)
}

// TestLargeUploadsAreBounded holds the only large-upload slot with an upload
// whose body has not all arrived: another large upload gets 503 with
// Retry-After, a small one is served as usual; once the first is done the
// slot is free again.
func TestLargeUploadsAreBounded(t *testing.T) {
	s := newServer(t, 1)
	var elems []string
	for i := range 1000 {
		elems = append(elems, entry(fmt.Sprintf("u-%d", i), "big", fmt.Sprint(i), 1))
	}
	batch := "[" + strings.Join(elems, ",") + "]"
	require.Greater(t, len(batch), timesheets.MaxEntryBytes)

	pr, pw := io.Pipe()
	held := make(chan answer, 1)
	go func() { held <- s.as(t, "importer", "POST", "/timesheets/upload", pr) }()
	_, err := pw.Write([]byte(batch[:timesheets.MaxEntryBytes+1])) // past the head: the handler takes the slot
	require.NoError(t, err)

	require.Eventually(t, func() bool { return s.api.LargeUploadsInFlight() == 1 }, 10*time.Second, time.Millisecond)

	busy := s.as(t, "other", "POST", "/timesheets/upload", batch)
	require.Equal(t, http.StatusServiceUnavailable, busy.status, busy.raw)
	require.Equal(t, "1", busy.header.Get("Retry-After"))
	require.Equal(t, "busy", busy.body["error"])

	small := s.as(t, "importer", "POST", "/timesheets/upload", entry("one", "small", "1", 2))
	require.Equal(t, http.StatusCreated, small.status, small.raw)
	smallBatch := s.as(t, "importer", "POST", "/timesheets/upload", "["+entry("two", "small", "2", 2)+"]")
	require.Equal(t, http.StatusOK, smallBatch.status, smallBatch.raw)

	_, err = pw.Write([]byte(batch[timesheets.MaxEntryBytes+1:]))
	require.NoError(t, err)
	require.NoError(t, pw.Close())
	a := <-held
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.Equal(t, float64(1000), a.body["created"])

	again := s.as(t, "importer", "POST", "/timesheets/upload", batch)
	require.Equal(t, http.StatusOK, again.status, again.raw)
	require.Equal(t, float64(1000), again.body["duplicates"])
}

// TestKeysBelongToTheirClient: a squatter's pre-created key does not turn
// the importer's entry into a "duplicate" of the bogus one; answers give
// the id and the outcome only, and a conflict names nothing stored.
func TestKeysBelongToTheirClient(t *testing.T) {
	s := newServer(t, 0)
	squat := s.as(t, "squatter", "POST", "/timesheets", entry("victim", "tool", "77", 23))
	require.Equal(t, http.StatusCreated, squat.status, squat.raw)
	squatID := squat.body["id"].(float64)
	approved := s.as(t, "approver", "POST", fmt.Sprintf("/timesheets/%d/approve", int(squatID)), "")
	require.Equal(t, http.StatusOK, approved.status, approved.raw)

	a := s.as(t, "importer", "POST", "/timesheets/upload", "["+entry("victim", "tool", "77", 8)+","+entry("victim", "tool", "78", 8)+"]")
	require.Equal(t, http.StatusOK, a.status, a.raw)
	rs := results(t, a)
	require.Equal(t, "conflict", rs[0]["status"])
	require.Equal(t, "not_owner", rs[0]["reason"])
	require.NotContains(t, rs[0], "id")
	require.Contains(t, a.raw, "belongs to another client")
	require.Equal(t, "created", rs[1]["status"])
	require.Equal(t, []float64{1, 0, 1, 0}, []float64{a.body["created"].(float64), a.body["duplicates"].(float64), a.body["conflicts"].(float64), a.body["rejected"].(float64)})
	for _, leak := range []string{"squatter", "approver", "23", "victim", `"approved"`} {
		require.NotContains(t, a.raw, leak)
	}

	one := s.as(t, "importer", "POST", "/timesheets", entry("victim", "tool", "77", 8))
	require.Equal(t, http.StatusConflict, one.status, one.raw)
	require.NotContains(t, one.raw, "squatter")
	one = s.as(t, "importer", "POST", "/timesheets/upload", entry("victim", "tool", "77", 8))
	require.Equal(t, http.StatusConflict, one.status, one.raw)

	// The owner's retries stay idempotent, answered with the id only; a
	// change to its approved entry is a conflict that names nobody.
	dup := s.as(t, "squatter", "POST", "/timesheets/upload", "["+entry("victim", "tool", "77", 23)+"]")
	require.Equal(t, []map[string]any{{"index": float64(0), "status": "duplicate", "id": squatID, "revision": float64(2)}}, results(t, dup))
	locked := s.as(t, "squatter", "POST", "/timesheets/upload", "["+entry("victim", "tool", "77", 1)+"]")
	require.Equal(t, "conflict", results(t, locked)[0]["status"], locked.raw)
	require.Equal(t, "locked", results(t, locked)[0]["reason"], locked.raw)
	require.NotContains(t, locked.raw, "approver")
	dup = s.as(t, "squatter", "POST", "/timesheets", entry("victim", "tool", "77", 1))
	require.Equal(t, http.StatusOK, dup.status, dup.raw)
	require.ElementsMatch(t, []string{"id", "message", "duplicate"}, keys(dup.body))
	require.NotContains(t, dup.raw, "approver")

	// all_or_nothing: a conflict stores none of the batch.
	strict := s.as(t, "importer", "POST", "/timesheets/upload?all_or_nothing=true", "["+entry("victim", "tool", "79", 8)+","+entry("victim", "tool", "77", 8)+"]")
	require.Equal(t, http.StatusConflict, strict.status, strict.raw)
	require.Equal(t, []any{"not_stored", "conflict"}, []any{results(t, strict)[0]["status"], results(t, strict)[1]["status"]})
	list, err := s.store.List(context.Background(), timesheets.Filter{})
	require.NoError(t, err)
	require.Len(t, list, 2, "the squatter's entry and the importer's 78")
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestExternalIDNeedsAClient: with no client to own it, a key is refused
// (per entry), and entries without one are stored.
func TestExternalIDNeedsAClient(t *testing.T) {
	s := newServer(t, 0)
	a := s.as(t, "", "POST", "/timesheets/upload", "["+entry("u", "tool", "1", 1)+","+entry("u", "", "", 1)+"]")
	require.Equal(t, http.StatusOK, a.status, a.raw)
	rs := results(t, a)
	require.Equal(t, "rejected", rs[0]["status"])
	require.Contains(t, a.raw, "needs a token naming its client")
	require.Equal(t, "created", rs[1]["status"])
}

// TestBadDatesAreRejectedPerEntry: an entry the database would refuse
// (year 0 by its offset) is rejected alone; before, it failed the batch
// with 500.
func TestBadDatesAreRejectedPerEntry(t *testing.T) {
	s := newServer(t, 0)
	a := s.as(t, "importer", "POST", "/timesheets/upload",
		`[{"user_id":"u","date":"0000-01-01T00:00:00+01:00","project":"P","hours":1},`+entry("u", "", "", 1)+`]`)
	require.Equal(t, http.StatusOK, a.status, a.raw)
	rs := results(t, a)
	require.Equal(t, "rejected", rs[0]["status"])
	require.Equal(t, "created", rs[1]["status"])
}

// TestApprovalNamesItsCaller: the approver is recorded as the injected
// caller; a request naming nobody is refused and changes nothing.
func TestApprovalNamesItsCaller(t *testing.T) {
	s := newServer(t, 0)
	c := s.as(t, "importer", "POST", "/timesheets", entry("u", "", "", 1))
	require.Equal(t, http.StatusCreated, c.status)
	loc := c.header.Get("Location")

	a := s.as(t, "", "POST", loc+"/approve", "")
	require.Equal(t, http.StatusForbidden, a.status, a.raw)
	require.Equal(t, "caller_unidentified", a.body["error"])
	got, err := s.store.Get(context.Background(), int64(c.body["id"].(float64)))
	require.NoError(t, err)
	require.Equal(t, timesheets.StatusPending, got.Status)

	a = s.as(t, "admin", "POST", loc+"/approve", "")
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.Equal(t, "caller-of-admin", a.body["approved_by"])
}

// TestQueryParametersAreStrict: a bound that means "no bound", a date out
// of range and a repeated parameter are refused, naming the parameter.
func TestQueryParametersAreStrict(t *testing.T) {
	s := newServer(t, 0)
	for q, field := range map[string]string{
		"to=0001-01-01":                  "to",
		"from=0001-01-01T00:00:00Z":      "from",
		"from=1899-12-31":                "from",
		"to=2201-01-01":                  "to",
		"user_id=a&user_id=b":            "user_id",
		"limit=1&limit=1000":             "limit",
		"to=2020-01-01&to=2021-01-01":    "to",
		strings.Repeat("z", 5000) + "=1": strings.Repeat("z", timesheets.MaxFieldName-3) + "...",
	} {
		a := s.as(t, "reader", "GET", "/timesheets?"+q, "")
		require.Equal(t, http.StatusBadRequest, a.status, "%s: %s", q, a.raw)
		require.Equal(t, field, a.body["fields"].([]any)[0].(map[string]any)["field"], q)
	}
	require.Equal(t, http.StatusOK, s.as(t, "reader", "GET", "/timesheets?from=1900-01-01&to=2200-12-31&cursor=", "").status)
	a := s.as(t, "importer", "POST", "/timesheets/upload?all_or_nothing=true&all_or_nothing=false", "["+entry("u", "", "", 1)+"]")
	require.Equal(t, http.StatusBadRequest, a.status, a.raw)
	require.Contains(t, a.raw, "more than once")
}

// TestDryRunStoresNothing: ?dry_run=true decodes and checks every entry as
// an upload would, answers each valid one "valid" (a single entry too, as
// a batch of one), still gives a bad entry its error, and stores nothing.
func TestDryRunStoresNothing(t *testing.T) {
	s := newServer(t, 0)
	const path = "/timesheets/upload?dry_run=true"
	bad := `{"user_id":"u","date":"yesterday","project":"P","hours":1}`

	a := s.as(t, "importer", "POST", path, "["+entry("u", "tool", "1", 1)+","+bad+","+entry("v", "", "", 2)+"]")
	require.Equal(t, http.StatusOK, a.status, a.raw)
	rs := results(t, a)
	require.Equal(t, []any{"valid", "rejected", "valid"}, []any{rs[0]["status"], rs[1]["status"], rs[2]["status"]})
	require.Equal(t, "date", rs[1]["errors"].([]any)[0].(map[string]any)["field"], a.raw)
	require.Equal(t, float64(2), a.body["valid"])
	require.Equal(t, float64(1), a.body["rejected"])
	require.Equal(t, float64(0), a.body["created"])
	require.NotContains(t, rs[0], "id")

	a = s.as(t, "importer", "POST", path, entry("u", "", "", 1))
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.Equal(t, "valid", results(t, a)[0]["status"])
	require.Empty(t, a.header.Get("Location"))

	a = s.as(t, "importer", "POST", path, bad)
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.Equal(t, "rejected", results(t, a)[0]["status"])

	// The caller is checked as for a real upload.
	a = s.as(t, "", "POST", path, "["+entry("u", "tool", "2", 1)+"]")
	require.Equal(t, "rejected", results(t, a)[0]["status"], a.raw)
	require.Contains(t, a.raw, "needs a token naming its client")

	a = s.as(t, "importer", "POST", path+"&all_or_nothing=true", "["+entry("u", "", "", 1)+","+bad+"]")
	require.Equal(t, http.StatusBadRequest, a.status, a.raw)
	require.Equal(t, "valid", results(t, a)[0]["status"])

	for _, body := range []string{"[" + entry("u", "", "", 1) + ",]", "{", "[]"} {
		a = s.as(t, "importer", "POST", path, body)
		require.Equal(t, http.StatusBadRequest, a.status, "%s: %s", body, a.raw)
	}
	a = s.as(t, "importer", "POST", "/timesheets/upload?dry_run=maybe", entry("u", "", "", 1))
	require.Equal(t, http.StatusBadRequest, a.status, a.raw)
	require.Contains(t, a.raw, "dry_run")

	require.Zero(t, s.count(t), "a dry run stored an entry")
	// The same key is then stored for real, once: the dry run took nothing.
	a = s.as(t, "importer", "POST", "/timesheets/upload", "["+entry("u", "tool", "1", 1)+"]")
	require.Equal(t, "created", results(t, a)[0]["status"], a.raw)
	require.Equal(t, 1, s.count(t))
}

// TestMalformedBatchIsRefusedWhole: a batch that is not JSON is refused as
// a whole, though its entries are decoded one by one without checking the
// body first.
func TestMalformedBatchIsRefusedWhole(t *testing.T) {
	s := newServer(t, 0)
	e := entry("u", "", "", 1)
	for _, body := range []string{"[" + e + ",]", "[," + e + "]", "[" + e + " " + e + "]", "[" + e + "}", "[" + e + "] x", "[" + e, "[" + e + ",{]"} {
		a := s.as(t, "importer", "POST", "/timesheets/upload", body)
		require.Equal(t, http.StatusBadRequest, a.status, "%s: %s", body, a.raw)
		require.Equal(t, "invalid_entry", a.body["error"], a.raw)
	}
	require.Zero(t, s.count(t))
}
