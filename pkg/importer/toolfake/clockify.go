package toolfake

// Clockify follows the Clockify API v1 documentation at
// https://docs.clockify.me/:
//   - "Get time entries for a user on workspace", GET
//     /v1/workspaces/{workspaceId}/user/{userId}/time-entries
//     (#tag/Time-entry/operation/getTimeEntries): start and end in the
//     yyyy-MM-ddThh:mm:ssZ format, page (default 1) and page-size (default
//     50, at least 1), in-progress, project; the answer is a JSON array of
//     time entries (id, userId, projectId, workspaceId, timeInterval {start,
//     end, duration}, type, ...), with no modification time;
//   - "Get currently logged-in user's info", GET /v1/user;
//   - authentication: the X-Api-Key header; a bad key is 401 {"message":
//     "Api key does not exist", "code": 4003} (as Clockify answers it; the
//     docs show no body);
//   - rate limiting: 429 Too Many Requests (50 requests a second on paid
//     workspaces; Clockify's help page "Webhook and API limitations").
// The docs give no maximum page-size; the fake refuses more than 5000 (the
// most third parties report). Entries come newest start first; a running
// one has no end and no duration; the timeInterval is in UTC.

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"
)

// Clockify is a fake of Clockify's time entries API.
type Clockify struct {
	*fake
	workspaceID, userID string
}

// NewClockify starts a Clockify fake for the test; its key's user is the
// user with the id UserID("me").
func NewClockify(t testing.TB) *Clockify {
	c := &Clockify{workspaceID: "64a687e29ae1f428e7ebe303"}
	c.fake = newFake(t, "/api/v1", "YQ6wba4vACaht9CUK9k5N7QxV2ieRPJ396g94vkWSYauYmch", map[string]string{"workspace-id": c.workspaceID})
	c.newID = func(n int64) string { return fmt.Sprintf("64c777ddd3fcab07%08x", n) }
	c.userID = c.UserID("me")
	c.tooMany = func(w http.ResponseWriter) {
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"message": "Too many requests", "code": 429})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/user", c.user)
	mux.HandleFunc("GET /api/v1/workspaces/{workspace}/user/{user}/time-entries", c.list)
	c.start(mux)
	return c
}

// WorkspaceID is the fake's workspace.
func (c *Clockify) WorkspaceID() string { return c.workspaceID }

// Put adds or replaces an entry. An entry with no User is the key's user's.
func (c *Clockify) Put(e Entry) Entry {
	if e.User == "" {
		e.User = "me"
	}
	return c.put(e)
}

// Delete deletes an entry.
func (c *Clockify) Delete(id string) bool { return c.remove(id) }

// UserID is userId of the entries of user: 24 hex digits, the user's own
// when it is such an id.
func (c *Clockify) UserID(user string) string { return c.hexID("user", user, 0x5a0ab5acb0798712) }

// ProjectOf is what the importer reads as project: projectId.
func (c *Clockify) ProjectOf(project string) string {
	return c.hexID("project", project, 0x25b687e29ae1f428)
}

func (c *Clockify) hexID(kind, name string, base int64) string {
	if len(name) == 24 {
		if _, err := strconv.ParseUint(name[:16], 16, 64); err == nil {
			return name
		}
	}
	return fmt.Sprintf("%024x", c.intID(kind, "\x00"+name, base))
}

func (c *Clockify) startOf(e record) time.Time {
	if !e.Start.IsZero() {
		return e.Start.UTC()
	}
	d, _ := time.Parse("2006-01-02", e.Day)
	return d.Add(9 * time.Hour)
}

const clockifyStamp = "2006-01-02T15:04:05Z"

func (c *Clockify) render(e record) map[string]any {
	start := c.startOf(e)
	interval := map[string]any{"start": start.Format(clockifyStamp), "end": nil, "duration": nil}
	if !e.Running {
		d := time.Duration(seconds(e.Hours)) * time.Second
		interval["end"] = start.Add(d).Format(clockifyStamp)
		interval["duration"] = isoDuration(d)
	}
	var project any
	if e.Project != "" {
		project = c.ProjectOf(e.Project)
	}
	return map[string]any{
		"id": e.ID, "description": "", "tagIds": []string{}, "userId": c.UserID(e.User),
		"billable": false, "taskId": nil, "projectId": project,
		"workspaceId": cmp.Or(e.Workspace, c.workspaceID), "timeInterval": interval,
		"customFieldValues": []any{}, "type": "REGULAR", "kioskId": nil,
		"hourlyRate": nil, "costRate": nil, "isLocked": false,
	}
}

// isoDuration writes a duration as Clockify does: PT1H30M.
func isoDuration(d time.Duration) string {
	s := int64(d / time.Second)
	out := "PT"
	if h := s / 3600; h > 0 {
		out += strconv.FormatInt(h, 10) + "H"
	}
	if m := s / 60 % 60; m > 0 {
		out += strconv.FormatInt(m, 10) + "M"
	}
	if sec := s % 60; sec > 0 || out == "PT" {
		out += strconv.FormatInt(sec, 10) + "S"
	}
	return out
}

func (c *Clockify) authorized(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("X-Api-Key") != c.token {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Api key does not exist", "code": 4003})
		return false
	}
	return true
}

func (c *Clockify) user(w http.ResponseWriter, r *http.Request) {
	if !c.authorized(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": c.userID, "email": "contractor@example.com", "name": "me", "memberships": []any{},
		"profilePicture":  "https://img.clockify.me/no-user-image.png",
		"activeWorkspace": c.workspaceID, "defaultWorkspace": c.workspaceID, "status": "ACTIVE",
		"settings": map[string]any{"weekStart": "MONDAY", "timeZone": "Europe/Vienna"},
	})
}

func (c *Clockify) list(w http.ResponseWriter, r *http.Request) {
	if !c.authorized(w, r) {
		return
	}
	bad := func(msg string) { writeJSON(w, http.StatusBadRequest, map[string]any{"message": msg, "code": 501}) }
	ws, uid := r.PathValue("workspace"), r.PathValue("user")
	if ws != c.workspaceID {
		writeJSON(w, http.StatusForbidden, map[string]any{"message": "Access Denied", "code": 1000})
		return
	}
	q := r.URL.Query()
	page, size := 1, 50
	for _, p := range []struct {
		name string
		dst  *int
		max  int
	}{{"page", &page, 1 << 30}, {"page-size", &size, 5000}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > p.max {
				bad(fmt.Sprintf("%s must be from 1 to %d", p.name, p.max))
				return
			}
			*p.dst = n
		}
	}
	var start, end time.Time
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"start", &start}, {"end", &end}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(clockifyStamp, v)
			if err != nil {
				bad(p.name + " must be in the yyyy-MM-ddThh:mm:ssZ format")
				return
			}
			*p.dst = t
		}
	}
	inProgress := q.Get("in-progress")
	project := q.Get("project")
	list := slices.DeleteFunc(c.snapshot(func(e *record) bool { return e.deleted.IsZero() }), func(e record) bool {
		st := c.startOf(e)
		return cmp.Or(e.Workspace, c.workspaceID) != ws || c.UserID(e.User) != uid ||
			(!start.IsZero() && st.Before(start)) || (!end.IsZero() && st.After(end)) ||
			(inProgress != "" && strconv.FormatBool(e.Running) != inProgress) ||
			(project != "" && (e.Project == "" || c.ProjectOf(e.Project) != project))
	})
	slices.SortFunc(list, func(a, b record) int {
		return cmp.Or(c.startOf(b).Compare(c.startOf(a)), cmp.Compare(b.ID, a.ID))
	})
	out := []map[string]any{}
	off := (page - 1) * size
	for _, e := range list[min(off, len(list)):min(off+size, len(list))] {
		out = append(out, c.render(e))
	}
	writeJSON(w, http.StatusOK, out)
}
