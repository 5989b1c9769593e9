package toolfake

// Tempo follows the Tempo Cloud REST API documentation, version 4, at
// https://apidocs.tempo.io/ (read in the OpenAPI document behind that page,
// operation getWorklogs, GET /4/worklogs, and its schemas PageableWorklog,
// PageableMetadata, Worklog, Issue and User):
//   - authentication: Authorization: Bearer TOKEN; errors: 401 and 403 have
//     a text/html body, 400 and 404 {"errors":{"message":...}};
//   - pages: {"self", "metadata": {"count", "offset", "limit", "next",
//     "previous"}, "results"}; next and previous only when there are such
//     pages; limit defaults to 50, offset to 0; at most 5000 results a page
//     (Tempo's "API version 4.0 vs. version 3.0" help page; the fake answers
//     400 beyond it);
//   - filters: from and to (yyyy-MM-dd) bound startDate; updatedFrom takes
//     yyyy-MM-dd or yyyy-MM-ddTHH:mm:ssZ and nothing else (no fraction, no
//     offset: 400); orderBy ID, START_DATE_TIME or UPDATED sorts descending,
//     the default being START_DATE_TIME and ID ascending;
//   - a worklog's issue is {self, id}: version 4 has no issue key;
//   - 429 when rate limited ("Rate limiting" in the document).

import (
	"cmp"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"
)

// Tempo is a fake of Tempo's worklogs API.
type Tempo struct {
	*fake
	issueKeys bool
}

// NewTempo starts a Tempo fake for the test.
func NewTempo(t testing.TB) *Tempo {
	tp := &Tempo{}
	tp.fake = newFake(t, "/4", "tempo-token-9b7e2d41", map[string]string{})
	tp.tooMany = func(w http.ResponseWriter) {
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"errors": map[string]string{"message": "Rate limit exceeded"}})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /4/worklogs", tp.list)
	tp.start(mux)
	return tp
}

// WithIssueKeys adds the issue's key to every worklog's issue, which Tempo's
// version 4 does not have (version 3 did): for a test that the importer
// prefers a key when there is one.
func (tp *Tempo) WithIssueKeys() *Tempo {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.issueKeys = true
	return tp
}

// Put adds or replaces a worklog (an integer id), bumping its updatedAt.
// Running is ignored: a worklog is always complete.
func (tp *Tempo) Put(e Entry) Entry {
	tp.t.Helper()
	if e.ID != "" {
		if _, err := strconv.ParseInt(e.ID, 10, 64); err != nil {
			tp.t.Fatalf("toolfake: Tempo's worklog ids are integers, not %q", e.ID)
		}
	}
	return tp.put(e)
}

// Delete deletes a worklog.
func (tp *Tempo) Delete(id string) bool { return tp.remove(id) }

// UserID is author.accountId of the worklogs of user: the user itself.
func (tp *Tempo) UserID(user string) string { return user }

// ProjectOf is what the importer reads as project: the issue's id (or its
// key, WithIssueKeys).
func (tp *Tempo) ProjectOf(issue string) string {
	tp.mu.Lock()
	keys := tp.issueKeys
	tp.mu.Unlock()
	if keys {
		return issue
	}
	return strconv.FormatInt(tp.intID("issue", issue, 10991), 10)
}

type tempoSelfID struct {
	Self string `json:"self"`
	ID   int64  `json:"id"`
	Key  string `json:"key,omitempty"`
}

type tempoWorklog struct {
	Self             string      `json:"self"`
	TempoWorklogID   int64       `json:"tempoWorklogId"`
	Issue            tempoSelfID `json:"issue"`
	TimeSpentSeconds int64       `json:"timeSpentSeconds"`
	BillableSeconds  int64       `json:"billableSeconds"`
	StartDate        string      `json:"startDate"`
	StartTime        string      `json:"startTime"`
	StartDateTimeUTC string      `json:"startDateTimeUtc"`
	Description      string      `json:"description"`
	CreatedAt        string      `json:"createdAt"`
	UpdatedAt        string      `json:"updatedAt"`
	Author           struct {
		Self      string `json:"self"`
		AccountID string `json:"accountId"`
	} `json:"author"`
	Attributes struct {
		Self   string `json:"self"`
		Values []any  `json:"values"`
	} `json:"attributes"`
}

const tempoStamp = "2006-01-02T15:04:05.000Z"

func (tp *Tempo) render(r *http.Request, e record, keys bool) tempoWorklog {
	id, _ := strconv.ParseInt(e.ID, 10, 64)
	issue := tp.intID("issue", e.Project, 10991)
	self := fmt.Sprintf("http://%s%s/worklogs/%d", r.Host, tp.prefix, id)
	w := tempoWorklog{
		Self: self, TempoWorklogID: id,
		Issue:            tempoSelfID{Self: fmt.Sprintf("https://fake.atlassian.net/rest/api/2/issue/%d", issue), ID: issue},
		TimeSpentSeconds: seconds(e.Hours), BillableSeconds: seconds(e.Hours),
		StartDate: e.Day, StartTime: "09:00:00", StartDateTimeUTC: e.Day + "T09:00:00.000Z",
		CreatedAt: e.created.Format(tempoStamp), UpdatedAt: e.updated.Format(tempoStamp),
	}
	if keys {
		w.Issue.Key = e.Project
	}
	w.Author.Self = "https://fake.atlassian.net/rest/api/2/user?accountId=" + e.User
	w.Author.AccountID = e.User
	w.Attributes.Self = self + "/work-attribute-values"
	w.Attributes.Values = []any{}
	return w
}

// tempoUpdatedFrom is the one form updatedFrom takes.
var tempoUpdatedFrom = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}Z)?$`)

func (tp *Tempo) list(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+tp.token {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, "<!doctype html><html><head><title>401 Unauthorized</title></head><body><h1>Unauthorized</h1></body></html>\n")
		return
	}
	bad := func(msg string) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": map[string]string{"message": msg}})
	}
	q := r.URL.Query()
	limit, offset := 50, 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 5000 {
			bad("'limit' must be a number from 1 to 5000")
			return
		}
		limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			bad("'offset' must be a number of 0 or more")
			return
		}
		offset = n
	}
	var from, to string
	for _, p := range []struct {
		name string
		dst  *string
	}{{"from", &from}, {"to", &to}} {
		if v := q.Get(p.name); v != "" {
			if _, err := mustDay(v); err != nil {
				bad(fmt.Sprintf("'%s' must be valid on the format: 'yyyy-MM-dd'", p.name))
				return
			}
			*p.dst = v
		}
	}
	var updatedFrom time.Time
	if v := q.Get("updatedFrom"); v != "" {
		t, err := time.Parse("2006-01-02T15:04:05Z", v)
		if len(v) == len("2006-01-02") {
			t, err = time.Parse("2006-01-02", v)
		}
		if !tempoUpdatedFrom.MatchString(v) || err != nil {
			bad("'updatedFrom' must be valid on the format: 'yyyy-MM-dd' or 'yyyy-MM-dd'T'HH:mm:ss'Z''")
			return
		}
		updatedFrom = t
	}
	order := q.Get("orderBy")
	if order != "" && order != "ID" && order != "START_DATE_TIME" && order != "UPDATED" {
		bad("'orderBy' must be one of ID, START_DATE_TIME, UPDATED")
		return
	}
	list := tp.snapshot(func(e *record) bool {
		return e.deleted.IsZero() && (from == "" || e.Day >= from) && (to == "" || e.Day <= to) &&
			(updatedFrom.IsZero() || !e.updated.Before(updatedFrom))
	})
	id := func(e record) int64 { n, _ := strconv.ParseInt(e.ID, 10, 64); return n }
	slices.SortFunc(list, func(a, b record) int {
		switch order {
		case "ID":
			return cmp.Compare(id(b), id(a))
		case "UPDATED":
			return cmp.Or(b.updated.Compare(a.updated), cmp.Compare(id(b), id(a)))
		case "START_DATE_TIME":
			return cmp.Or(cmp.Compare(b.Day, a.Day), cmp.Compare(id(b), id(a)))
		}
		return cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(id(a), id(b)))
	})
	tp.mu.Lock()
	keys := tp.issueKeys
	tp.mu.Unlock()
	results := []tempoWorklog{}
	for _, e := range list[min(offset, len(list)):min(offset+limit, len(list))] {
		results = append(results, tp.render(r, e, keys))
	}
	meta := map[string]any{"count": len(results), "offset": offset, "limit": limit}
	at := func(off int) string {
		v := r.URL.Query()
		v.Set("offset", strconv.Itoa(off))
		v.Set("limit", strconv.Itoa(limit))
		return pageLinkURL(r, r.URL.Path, v)
	}
	if offset+limit < len(list) {
		meta["next"] = at(offset + limit)
	}
	if offset > 0 {
		meta["previous"] = at(max(0, offset-limit))
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"self":     pageLinkURL(r, r.URL.Path, r.URL.Query()),
		"metadata": meta,
		"results":  results,
	})
}
