package toolfake

// Toggl follows the Toggl Track API v9 documentation:
//   - GET /me/time_entries ("Lists latest time entries"): since (a UNIX
//     time: "entries modified since this date ..., including deleted ones"),
//     before, start_date and end_date (YYYY-MM-DD or RFC 3339, "to be used
//     with" each other), meta (project_name, client_name, ...); the answer is
//     one JSON array, not paged:
//     https://engineering.toggl.com/docs/api/time_entries
//   - the time entry: duration in seconds, negative for a running entry
//     (preferably -1) whose stop is null; at is the last update;
//     server_deleted_at marks a deleted one; start and stop are in the
//     user's time zone with its offset: same page, and the Overview
//     https://engineering.toggl.com/docs/ ("on return the data is set into
//     the appropriate timezone according to the setting in user profile");
//   - authentication: HTTP basic with API_TOKEN:api_token (Authentication);
//     a failed one is 403 (so in v8's documentation; v9's says no more);
//   - rate limiting: 429 (a leaky bucket, about 1 request a second; the docs
//     name no Retry-After, the fake sends one unless told not to), and 402
//     when the hourly quota is used up, with X-Toggl-Quota-Remaining and
//     X-Toggl-Quota-Resets-In (https://support.toggl.com/en/articles/11484112-api-webhook-limits).
// Without since, start_date and end_date the endpoint lists only the latest
// entries: the fake lists those started in the last 10 days (what Toggl's
// backend team told its mobile team: toggl/mobileapp issue 536; the v9
// docs give no number). end_date as a date is taken as exclusive.

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"
)

// Toggl is a fake of Toggl Track's time entries API.
type Toggl struct {
	*fake
	workspaceID string
	loc         *time.Location
	quota       int // requests left; negative: unlimited
}

// NewToggl starts a Toggl fake for the test. Its user's time zone is UTC+2,
// so that a start just after midnight is the previous day in UTC.
func NewToggl(t testing.TB) *Toggl {
	tg := &Toggl{workspaceID: "4402611", loc: time.FixedZone("UTC+2", 2*3600), quota: -1}
	tg.fake = newFake(t, "/api/v9", "1971800d4d82861d8f2c1651fea4d212", map[string]string{"workspace-id": tg.workspaceID})
	tg.newID = func(n int64) string { return strconv.FormatInt(436694099+n, 10) }
	tg.tooMany = func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte("Too Many Requests\n"))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v9/me/time_entries", tg.list)
	tg.start(mux)
	return tg
}

// WorkspaceID is the fake's workspace.
func (tg *Toggl) WorkspaceID() string { return tg.workspaceID }

// Location is the time zone of the fake's user.
func (tg *Toggl) Location() *time.Location { return tg.loc }

// SetQuota lets n more requests through, then answers 402 (negative:
// unlimited).
func (tg *Toggl) SetQuota(n int) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.quota = n
}

// Put adds or replaces an entry (an integer id), bumping its at.
func (tg *Toggl) Put(e Entry) Entry {
	tg.t.Helper()
	if e.ID != "" {
		if _, err := strconv.ParseInt(e.ID, 10, 64); err != nil {
			tg.t.Fatalf("toolfake: Toggl's ids are integers, not %q", e.ID)
		}
	}
	return tg.put(e)
}

// Delete deletes an entry; since queries still list it, with its
// server_deleted_at.
func (tg *Toggl) Delete(id string) bool { return tg.remove(id) }

// UserID is user_id of the entries of user.
func (tg *Toggl) UserID(user string) string {
	return strconv.FormatInt(tg.intID("user", user, 6011501), 10)
}

// ProjectOf is what the importer reads as project: project_name (asked for
// with meta=true).
func (tg *Toggl) ProjectOf(project string) string { return project }

// start is when an entry started: Start, or half past midnight of its day
// in the user's time zone.
func (tg *Toggl) startOf(e record) time.Time {
	if !e.Start.IsZero() {
		return e.Start.In(tg.loc)
	}
	d, _ := time.ParseInLocation("2006-01-02", e.Day, tg.loc)
	return d.Add(30 * time.Minute)
}

const togglStamp = "2006-01-02T15:04:05-07:00"

func (tg *Toggl) render(e record, meta bool) map[string]any {
	id, _ := strconv.ParseInt(e.ID, 10, 64)
	ws, _ := strconv.ParseInt(cmp.Or(e.Workspace, tg.workspaceID), 10, 64)
	user := tg.intID("user", e.User, 6011501)
	start := tg.startOf(e)
	var project, stop, deleted any
	if e.Project != "" {
		project = tg.intID("project", e.Project, 193791)
	}
	duration := seconds(e.Hours)
	if e.Running {
		duration = -1
	} else {
		stop = start.Add(time.Duration(duration) * time.Second).Format(togglStamp)
	}
	if !e.deleted.IsZero() {
		deleted = e.deleted.Format(togglStamp)
	}
	m := map[string]any{
		"id": id, "workspace_id": ws, "project_id": project, "task_id": nil,
		"billable": false, "start": start.Format(togglStamp), "stop": stop, "duration": duration,
		"description": "", "tags": []string{}, "tag_ids": []int{}, "duronly": true,
		"at": e.updated.Format(togglStamp), "server_deleted_at": deleted,
		"user_id": user, "uid": user, "wid": ws, "pid": project, "permissions": nil,
	}
	if meta {
		m["project_name"], m["project_color"], m["project_active"], m["project_billable"], m["client_name"] = nil, nil, nil, nil, nil
		if e.Project != "" {
			m["project_name"], m["project_color"], m["project_active"], m["project_billable"] = e.Project, "#0b83d9", true, false
		}
	}
	return m
}

// togglTime reads YYYY-MM-DD (midnight in the user's time zone) or RFC 3339.
func (tg *Toggl) togglTime(v string) (time.Time, bool) {
	if t, err := time.ParseInLocation("2006-01-02", v, tg.loc); err == nil {
		return t, true
	}
	t, err := time.Parse(time.RFC3339, v)
	return t, err == nil
}

func (tg *Toggl) list(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != tg.token || pass != "api_token" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("Incorrect username and/or password\n"))
		return
	}
	tg.mu.Lock()
	quota := tg.quota
	if tg.quota > 0 {
		tg.quota--
	}
	tg.mu.Unlock()
	if quota == 0 {
		w.Header().Set("X-Toggl-Quota-Remaining", "0")
		w.Header().Set("X-Toggl-Quota-Resets-In", "3600")
		writeJSON(w, http.StatusPaymentRequired, "You have hit your hourly limit for API calls.")
		return
	}
	bad := func(msg string) { writeJSON(w, http.StatusBadRequest, msg) }
	q := r.URL.Query()
	var since time.Time
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			bad("since must be a UNIX timestamp")
			return
		}
		since = time.Unix(n, 0)
	}
	var start, end, before time.Time
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"start_date", &start}, {"end_date", &end}, {"before", &before}} {
		if v := q.Get(p.name); v != "" {
			t, ok := tg.togglTime(v)
			if !ok {
				bad(p.name + " must be YYYY-MM-DD or RFC 3339")
				return
			}
			*p.dst = t
		}
	}
	if start.IsZero() != end.IsZero() {
		bad("start_date and end_date must be given together")
		return
	}
	if since.IsZero() && start.IsZero() && before.IsZero() {
		start, end = time.Now().AddDate(0, 0, -10), time.Now().Add(time.Hour)
	}
	list := tg.snapshot(func(e *record) bool {
		st := tg.startOf(*e)
		if !since.IsZero() {
			if e.updated.Before(since) {
				return false
			}
		} else if !e.deleted.IsZero() {
			return false
		}
		return (start.IsZero() || !st.Before(start)) && (end.IsZero() || st.Before(end)) && (before.IsZero() || st.Before(before))
	})
	slices.SortFunc(list, func(a, b record) int {
		return cmp.Or(tg.startOf(b).Compare(tg.startOf(a)), cmp.Compare(b.ID, a.ID))
	})
	meta := q.Get("meta") == "true"
	out := []map[string]any{}
	for _, e := range list {
		out = append(out, tg.render(e, meta))
	}
	writeJSON(w, http.StatusOK, out)
}
