package importer

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// togglDocs is the document the Toggl connector follows.
const togglDocs = "https://engineering.toggl.com/docs/api/time_entries"

// Toggl Track API v9: GET /api/v9/me/time_entries, with HTTP basic
// authentication as TOKEN:api_token (a bad token is 403). It is the one
// endpoint of v9 that lists time entries, and the one with a modification
// filter (since, a UNIX time, which also returns deleted entries, marked by
// server_deleted_at); the workspace-wide listing is the Reports API, which
// has none. It answers one JSON array, not paged; without since or
// start_date and end_date it lists only the latest entries, so a full read
// needs a first day. start_date and end_date (YYYY-MM-DD, used together)
// bound start; the connector asks for a day more on each side, since they
// are read in the user's time zone, and keeps the entries whose start (as
// Toggl gives it, in the user's offset) falls within the window. A running
// entry has a negative duration and no stop. meta=true adds project_name.
// 429 asks to slow down (the docs suggest 1 request a second); 402 means the
// hourly quota is used up.
var togglConnector = &connector{
	kind: KindToggl, title: "Toggl Track", docs: togglDocs,
	hosts:   []string{"api.track.toggl.com"},
	example: "https://api.track.toggl.com/api/v9",
	path:    "/me/time_entries",
	need:    []string{SourceWorkspaceIDFile},
	auth: func(h http.Header, c *sourceCreds, ua string) {
		if ua != "" {
			h.Set("User-Agent", ua)
		}
		r := http.Request{Header: h}
		r.SetBasicAuth(c.token, "api_token")
	},
	authHint: "check the Toggl API token in --source-credentials-dir (file token)",
	check: func(o *SourceOptions) error {
		if o.Since.IsZero() && o.From.IsZero() {
			return ConfigError{errors.New("toggl: GET /me/time_entries lists only the latest entries unless given a first day; give one (--from DAY) for a full read")}
		}
		return nil
	},
	query: func(q url.Values, o *SourceOptions) {
		q.Set("meta", "true")
		if !o.Since.IsZero() {
			q.Set("since", strconv.FormatInt(o.Since.Unix(), 10))
			return
		}
		to := o.To
		if to.IsZero() {
			to = time.Now()
		}
		q.Set("start_date", o.From.AddDate(0, 0, -1).Format(dayLayout))
		q.Set("end_date", to.AddDate(0, 0, 2).Format(dayLayout))
	},
	shape: pageShape{array: true},
	fields: map[string]derive{
		FieldExternalID:      field("id"),
		FieldUserID:          field("user_id"),
		FieldDate:            dayOf("start"),
		FieldProject:         field("project_name", "project_id"),
		FieldHours:           hoursOf("duration"),
		FieldSourceUpdatedAt: field("at"),
	},
	skip: func(f jsonFields, c *sourceCreds) string {
		if v, ok := f.Field("server_deleted_at"); ok && v.Kind != KindNull {
			return "deleted in the tool"
		}
		if v, ok := f.Field("workspace_id"); ok && v.Text != c.workspaceID {
			return "of another workspace"
		}
		d, ok := f.Field("duration")
		if stop, has := f.Field("stop"); (ok && d.Kind == KindNumber && len(d.Text) > 0 && d.Text[0] == '-') || !has || stop.Kind == KindNull {
			return "a running timer"
		}
		return ""
	},
	status: func(code int, h http.Header) string {
		if code != http.StatusPaymentRequired {
			return ""
		}
		hint := "Toggl's hourly API quota is used up; run again later"
		if s := h.Get("X-Toggl-Quota-Resets-In"); s != "" {
			hint += " (it resets in " + s + " s)"
		}
		return hint
	},
	incremental: true,
	name:        func(c *sourceCreds) string { return "toggl-" + c.workspaceID },
}
