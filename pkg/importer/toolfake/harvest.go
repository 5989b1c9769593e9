package toolfake

// Harvest follows the Harvest API v2 documentation:
//   - List all time entries, and the time entry object:
//     https://help.getharvest.com/api-v2/timesheets-api/timesheets/time-entries/
//   - Pagination (links.next by cursor; page, next_page and previous_page
//     null on all but the first and last pages; per_page 1 to 2000, default
//     2000, more is 422): https://help.getharvest.com/api-v2/introduction/overview/pagination/
//   - Overview (the Authorization, Harvest-Account-Id and User-Agent headers,
//     400 without a User-Agent; 429 with Retry-After, 100 requests per 15
//     seconds): https://help.getharvest.com/api-v2/introduction/overview/general/
// A bad token or account id is 401 {"error":"invalid_token",...}, as Harvest
// answers (seen in public reports of its API; the docs list no body). The
// time entries come sorted by spent_date, newest first, as the example
// response shows; ties by id, newest first. The cursor is opaque, as the docs
// ask; here it is the offset and the filters of the first request.

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// Harvest is a fake of Harvest's time entries API.
type Harvest struct {
	*fake
	accountID string
}

// NewHarvest starts a Harvest fake for the test.
func NewHarvest(t testing.TB) *Harvest {
	h := &Harvest{accountID: "1121343"}
	h.fake = newFake(t, "/v2", "harvest-pat-3f9a41c2d8", map[string]string{"account-id": h.accountID})
	h.newID = func(n int64) string { return strconv.FormatInt(636709354+n, 10) }
	h.tooMany = func(w http.ResponseWriter) {
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": "too_many_requests", "error_description": "Too many requests; retry later"})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/time_entries", h.list)
	h.start(mux)
	return h
}

// AccountID is the Harvest-Account-Id the fake accepts.
func (h *Harvest) AccountID() string { return h.accountID }

// Put adds or replaces an entry (an integer id), bumping its updated_at.
func (h *Harvest) Put(e Entry) Entry {
	h.t.Helper()
	if e.ID != "" {
		if _, err := strconv.ParseInt(e.ID, 10, 64); err != nil {
			h.t.Fatalf("toolfake: Harvest's ids are integers, not %q", e.ID)
		}
	}
	return h.put(e)
}

// Delete deletes an entry.
func (h *Harvest) Delete(id string) bool { return h.remove(id) }

// UserID is user.id of the entries of user.
func (h *Harvest) UserID(user string) string {
	return strconv.FormatInt(h.intID("user", user, 1782959), 10)
}

// ProjectOf is what the importer reads as project: project.name.
func (h *Harvest) ProjectOf(project string) string { return project }

type harvestRef struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

type harvestEntry struct {
	ID                int64      `json:"id"`
	SpentDate         string     `json:"spent_date"`
	User              harvestRef `json:"user"`
	Client            harvestRef `json:"client"`
	Project           harvestRef `json:"project"`
	Task              harvestRef `json:"task"`
	ExternalReference any        `json:"external_reference"`
	Invoice           any        `json:"invoice"`
	Hours             float64    `json:"hours"`
	HoursWithoutTimer float64    `json:"hours_without_timer"`
	RoundedHours      float64    `json:"rounded_hours"`
	Notes             *string    `json:"notes"`
	IsLocked          bool       `json:"is_locked"`
	LockedReason      *string    `json:"locked_reason"`
	IsClosed          bool       `json:"is_closed"`
	IsBilled          bool       `json:"is_billed"`
	TimerStartedAt    *string    `json:"timer_started_at"`
	StartedTime       *string    `json:"started_time"`
	EndedTime         *string    `json:"ended_time"`
	IsRunning         bool       `json:"is_running"`
	Billable          bool       `json:"billable"`
	Budgeted          bool       `json:"budgeted"`
	BillableRate      *float64   `json:"billable_rate"`
	CostRate          *float64   `json:"cost_rate"`
	CreatedAt         string     `json:"created_at"`
	UpdatedAt         string     `json:"updated_at"`
}

func (h *Harvest) render(r record) harvestEntry {
	id, _ := strconv.ParseInt(r.ID, 10, 64)
	e := harvestEntry{
		ID: id, SpentDate: r.Day,
		User:    harvestRef{ID: h.intID("user", r.User, 1782959), Name: r.User},
		Client:  harvestRef{ID: 5735774, Name: "ABC Corp"},
		Project: harvestRef{ID: h.intID("project", r.Project, 14307913), Name: r.Project},
		Task:    harvestRef{ID: 8083365, Name: "Programming"},
		Hours:   r.Hours, HoursWithoutTimer: r.Hours, RoundedHours: r.Hours,
		IsRunning: r.Running, Billable: true, Budgeted: true,
		CreatedAt: r.created.Format(time.RFC3339), UpdatedAt: r.updated.Format(time.RFC3339),
	}
	if r.Running {
		s := r.updated.Format(time.RFC3339)
		e.TimerStartedAt = &s
	}
	return e
}

// harvestCursor is what the fake's opaque cursor holds.
type harvestCursor struct {
	Offset int    `json:"offset"`
	Query  string `json:"q"`
}

func (h *Harvest) list(w http.ResponseWriter, r *http.Request) {
	bad := func(code int, msg string) {
		writeJSON(w, code, map[string]any{"message": msg})
	}
	if r.Header.Get("User-Agent") == "" {
		bad(http.StatusBadRequest, "A User-Agent header is required: the name of your application and a link or email address")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+h.token || r.Header.Get("Harvest-Account-Id") != h.accountID {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid_token", "error_description": "The access token provided is expired, revoked, malformed or invalid for other reasons."})
		return
	}
	q := r.URL.Query()
	perPage := 2000
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 2000 {
			bad(http.StatusUnprocessableEntity, "per_page must be between 1 and 2000")
			return
		}
		perPage = n
	}
	// A cursor holds the filters of the first request.
	offset, cursored := 0, false
	filters := q
	if c := q.Get("cursor"); c != "" {
		var cur harvestCursor
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || json.Unmarshal(b, &cur) != nil {
			bad(http.StatusUnprocessableEntity, "invalid cursor")
			return
		}
		if filters, err = url.ParseQuery(cur.Query); err != nil {
			bad(http.StatusUnprocessableEntity, "invalid cursor")
			return
		}
		offset, cursored = cur.Offset, true
	} else if v := q.Get("page"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 {
			bad(http.StatusUnprocessableEntity, "page must be a positive integer")
			return
		}
		offset = (p - 1) * perPage
	}
	var since time.Time
	if v := filters.Get("updated_since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			bad(http.StatusUnprocessableEntity, "updated_since must be an ISO 8601 date and time")
			return
		}
		since = t
	}
	var from, to string
	for _, p := range []struct {
		name string
		dst  *string
	}{{"from", &from}, {"to", &to}} {
		if v := filters.Get(p.name); v != "" {
			if _, err := mustDay(v); err != nil {
				bad(http.StatusUnprocessableEntity, p.name+" must be a date (YYYY-MM-DD)")
				return
			}
			*p.dst = v
		}
	}
	running := filters.Get("is_running")
	list := h.listing(filters.Encode(), func(e *record) bool {
		return e.deleted.IsZero() && (since.IsZero() || !e.updated.Before(since)) &&
			(from == "" || e.Day >= from) && (to == "" || e.Day <= to) &&
			(running == "" || strconv.FormatBool(e.Running) == running)
	}, func(a, b record) int { // newest spent_date first, then newest id
		if c := cmp.Compare(b.Day, a.Day); c != 0 {
			return c
		}
		// Ids are integers without leading zeros: longer is larger.
		return cmp.Or(cmp.Compare(len(b.ID), len(a.ID)), cmp.Compare(b.ID, a.ID))
	})

	total := len(list)
	totalPages := max(1, (total+perPage-1)/perPage)
	page := offset/perPage + 1
	items := []harvestEntry{}
	for _, e := range list[min(offset, total):min(offset+perPage, total)] {
		items = append(items, h.render(e))
	}
	first, last := page == 1, page >= totalPages
	num := func(n int, ok bool) any {
		if !ok {
			return nil
		}
		return n
	}
	path := h.prefix + "/time_entries"
	link := func(vals ...string) string {
		v := url.Values{}
		for i := 0; i < len(vals); i += 2 {
			v.Set(vals[i], vals[i+1])
		}
		return pageLinkURL(r, path, v)
	}
	cursorAt := func(off int) string {
		b, _ := json.Marshal(harvestCursor{Offset: off, Query: filters.Encode()})
		return base64.RawURLEncoding.EncodeToString(b)
	}
	pp := strconv.Itoa(perPage)
	links := map[string]any{
		"first": link("page", "1", "per_page", pp, "ref", "first"),
		"last":  link("page", strconv.Itoa(totalPages), "per_page", pp, "ref", "last"),
		"next":  nil, "previous": nil,
	}
	if offset+perPage < total {
		links["next"] = link("cursor", cursorAt(offset+perPage), "per_page", pp, "ref", "next_cursor")
	}
	if offset > 0 {
		links["previous"] = link("cursor", cursorAt(max(0, offset-perPage)), "per_page", pp, "ref", "previous_cursor")
	}
	// Cursor pages show numbers only on the first and the last page.
	numbered := !cursored || first || last
	writeJSON(w, http.StatusOK, map[string]any{
		"time_entries":  items,
		"per_page":      perPage,
		"total_pages":   totalPages,
		"total_entries": total,
		"page":          num(page, numbered),
		"next_page":     num(page+1, numbered && !last),
		"previous_page": num(page-1, numbered && !first),
		"links":         links,
	})
}
