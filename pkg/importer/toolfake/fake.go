// Package toolfake has local fakes of the tools contractors track their time
// in, for tests of the importer: Harvest, Tempo, Toggl Track and Clockify.
// Each is built from that tool's public API documentation, which its file
// names at the top, and serves on loopback (httptest) the endpoint the
// importer reads, with the tool's authentication, paging, filters, errors
// and rate limiting as documented.
//
// A test makes one with NewHarvest, NewTempo, NewToggl or NewClockify, adds,
// edits and deletes entries (Put, Delete; each bumps the tool's
// modification time), points the importer at BaseURL with the credentials
// in CredentialsDir, and inspects what the fake received (Requests).
// RateLimit and ThrottleNext answer requests with 429 and Retry-After.
package toolfake

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Entry is one time entry, in terms every fake renders in its tool's shape.
type Entry struct {
	// ID is the tool's id of the entry; Put assigns a new one when it is
	// empty (an integer for Harvest, Tempo and Toggl, 24 hex digits for
	// Clockify).
	ID string
	// User is the user who tracked the entry. Each fake renders it as its
	// tool names users (see its UserID): an integer id for Harvest and
	// Toggl (a name gets a stable id of its own), the accountId for Tempo,
	// the user id for Clockify.
	User string
	// Project is the project's name (Harvest, Toggl), the Jira issue
	// (Tempo: its key; the worklog shows the id) or the project
	// (Clockify: shown by id). See each fake's ProjectOf.
	Project string
	Day     string  // the entry's day, 2026-01-05
	Hours   float64 // the time tracked
	// Running is a timer still running (Harvest, Toggl, Clockify): Hours
	// is what it has tracked so far.
	Running bool
	// Workspace is the entry's workspace (Toggl, Clockify); empty is the
	// fake's own.
	Workspace string
	// Start is when the entry started (Toggl, Clockify); zero is Day at a
	// time of each fake's choosing.
	Start time.Time
}

// Request is one request a fake received.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
}

// record is an entry as a fake keeps it.
type record struct {
	Entry
	created, updated time.Time
	deleted          time.Time // zero: not deleted
}

// fake is what every fake shares: the server, the entries, the clock, the
// request log and the rate limiting.
type fake struct {
	t      testing.TB
	srv    *httptest.Server
	prefix string // the API's base path, e.g. /v2
	replay bool   // the clock counts from last (StartClockAt), not from now
	// version counts the changes, so that a cached listing knows it is
	// still what the records say.
	version int64
	cached  *listing
	token   string
	files   map[string]string // the credential files
	// newID makes the n-th id; tooMany writes a 429's body.
	newID   func(n int64) string
	tooMany func(w http.ResponseWriter)

	mu         sync.Mutex
	records    map[string]*record
	n          int64
	last       time.Time
	requests   []Request
	every      int // every every-th request is throttled
	throttle   int // the next throttle requests are throttled
	served     int
	retryAfter string
	ids        map[string]int64
}

func newFake(t testing.TB, prefix, token string, files map[string]string) *fake {
	f := &fake{
		t: t, prefix: prefix, token: token, files: files,
		records: map[string]*record{}, ids: map[string]int64{}, retryAfter: "1",
		newID: func(n int64) string { return strconv.FormatInt(n, 10) },
	}
	f.files["token"] = token
	f.tooMany = func(w http.ResponseWriter) {
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"message": "Too Many Requests"})
	}
	return f
}

func (f *fake) start(h http.Handler) {
	f.srv = httptest.NewServer(f.serve(h))
	f.t.Cleanup(f.srv.Close)
}

// serve logs every request and throttles those it is told to.
func (f *fake) serve(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone()})
		f.served++
		throttled := f.throttle > 0 || (f.every > 0 && f.served%f.every == 0)
		if f.throttle > 0 {
			f.throttle--
		}
		ra := f.retryAfter
		f.mu.Unlock()
		if throttled {
			if ra != "" {
				w.Header().Set("Retry-After", ra)
			}
			f.tooMany(w)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// BaseURL is the fake's API base URL: what --source takes.
func (f *fake) BaseURL() string { return f.srv.URL + f.prefix }

// Token is the API token the fake accepts.
func (f *fake) Token() string { return f.token }

// Files are the credential files the importer needs for the fake (token and
// the tool's ids), by name: a copy, for a test to change and write.
func (f *fake) Files() map[string]string { return maps.Clone(f.files) }

// CredentialsDir writes the credential files into a new directory of the
// test and returns it: what --source-credentials-dir takes.
func (f *fake) CredentialsDir(t testing.TB) string {
	t.Helper()
	return WriteCredentials(t, f.files)
}

// WriteCredentials writes credential files into a new directory of the test
// and returns it.
func WriteCredentials(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o400); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Requests are the requests the fake received, in order.
func (f *fake) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// RateLimit answers every n-th request (counting all of them) with 429 Too
// Many Requests and Retry-After (1 second unless SetRetryAfter changed it);
// 0 stops.
func (f *fake) RateLimit(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.every = n
}

// ThrottleNext answers the next n requests with 429 and Retry-After.
func (f *fake) ThrottleNext(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.throttle = n
}

// SetRetryAfter sets the Retry-After of throttled requests ("" sends none).
func (f *fake) SetRetryAfter(v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retryAfter = v
}

// StartClockAt makes the tool's clock count one second per change from t
// (a history replayed: a large fake whose changes, one second apart from
// now, would lie far in the future).
func (f *fake) StartClockAt(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replay, f.last = true, t.UTC().Truncate(time.Second)
}

// tick is the tool's clock: now, in whole seconds, and always later than
// the last tick, so that every change has a modification time of its own.
func (f *fake) tick() time.Time {
	t := time.Now().UTC().Truncate(time.Second)
	if f.replay || !t.After(f.last) {
		t = f.last.Add(time.Second)
	}
	f.last = t
	return t
}

// put adds an entry, or replaces the one with its id, and returns it with
// its id.
func (f *fake) put(e Entry) Entry {
	f.t.Helper()
	if _, err := time.Parse("2006-01-02", e.Day); err != nil {
		f.t.Fatalf("toolfake: Day %q is not a day such as 2026-01-05", e.Day)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if e.ID == "" {
		for {
			f.n++
			if e.ID = f.newID(f.n); f.records[e.ID] == nil {
				break
			}
		}
	}
	now := f.tick()
	r := f.records[e.ID]
	if r == nil {
		r = &record{created: now}
		f.records[e.ID] = r
	}
	r.Entry, r.updated, r.deleted = e, now, time.Time{}
	f.version++
	return e
}

// remove deletes an entry: it is gone, though its record keeps the time of
// its deletion (Toggl still lists it to since queries). It reports whether
// there was one.
func (f *fake) remove(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.records[id]
	if r == nil || !r.deleted.IsZero() {
		return false
	}
	r.deleted = f.tick()
	r.updated = r.deleted
	f.version++
	return true
}

// Get returns the entry with this id, if it exists and is not deleted.
func (f *fake) Get(id string) (Entry, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.records[id]
	if r == nil || !r.deleted.IsZero() {
		return Entry{}, false
	}
	return r.Entry, true
}

// Updated is the tool's modification time of an entry.
func (f *fake) Updated(id string) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r := f.records[id]; r != nil {
		return r.updated
	}
	return time.Time{}
}

// listing returns the records keep keeps in the order of cmp, computed
// once per query (key) and state of the fake: a client paging through a
// large fake asks for the same list once per page.
func (f *fake) listing(key string, keep func(*record) bool, cmp func(a, b record) int) []record {
	f.mu.Lock()
	c, version := f.cached, f.version
	f.mu.Unlock()
	if c != nil && c.key == key && c.version == version {
		return c.list
	}
	list := f.snapshot(keep)
	slices.SortFunc(list, cmp)
	f.mu.Lock()
	f.cached = &listing{key: key, version: version, list: list}
	f.mu.Unlock()
	return list
}

// listing is a cached answer of listing.
type listing struct {
	key     string
	version int64
	list    []record
}

// snapshot copies the records that keep says to keep (deleted ones too).
func (f *fake) snapshot(keep func(*record) bool) []record {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []record
	for _, r := range f.records {
		if keep(r) {
			out = append(out, *r)
		}
	}
	return out
}

// intID is a name as an integer id: itself when it is one, else a stable
// id of its own, counted up from base.
func (f *fake) intID(kind, name string, base int64) int64 {
	if n, err := strconv.ParseInt(name, 10, 64); err == nil && n > 0 {
		return n
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := kind + "\x00" + name
	if id, ok := f.ids[k]; ok {
		return id
	}
	id := base + int64(len(f.ids))
	f.ids[k] = id
	return id
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// seconds is hours as whole seconds.
func seconds(h float64) int64 { return int64(math.Round(h * 3600)) }

// pageLinkURL is an absolute URL on the fake for links in its pages.
func pageLinkURL(r *http.Request, path string, q url.Values) string {
	u := url.URL{Scheme: "http", Host: r.Host, Path: path, RawQuery: q.Encode()}
	return u.String()
}

func mustDay(s string) (time.Time, error) {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date (yyyy-MM-dd)", s)
	}
	return t, nil
}
