package importer

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// clockifyDocs is the document the Clockify connector follows.
const clockifyDocs = "https://docs.clockify.me/#tag/Time-entry/operation/getTimeEntries"

// Clockify API v1: GET /v1/workspaces/{workspaceId}/user/{userId}/time-entries
// with the API key in X-Api-Key. It answers a JSON array per page: page
// (from 1) and page-size (default 50); a page shorter than page-size is the
// last. start and end (yyyy-MM-ddThh:mm:ssZ) bound the entries; they are read
// in the profile's time zone, so the connector asks for a day more on each
// side and keeps the entries whose timeInterval.start falls within the
// window. A running entry has no timeInterval.end and no duration. A time
// entry has no modification time, and the endpoint no filter for one: reads
// are not incremental, and source_updated_at stays unset. The user is the
// user-id file, or else the key's own user (GET /v1/user). Regional hosts:
// euc1, use2, euw2 and apse2.clockify.me. 429 when rate limited.
var clockifyConnector = &connector{
	kind: KindClockify, title: "Clockify", docs: clockifyDocs,
	hosts:    []string{"api.clockify.me", "euc1.clockify.me", "use2.clockify.me", "euw2.clockify.me", "apse2.clockify.me"},
	example:  "https://api.clockify.me/api/v1",
	path:     "/workspaces/{workspace}/user/{user}/time-entries",
	need:     []string{SourceWorkspaceIDFile},
	optional: []string{SourceUserIDFile},
	auth: func(h http.Header, c *sourceCreds, ua string) {
		if ua != "" {
			h.Set("User-Agent", ua)
		}
		h.Set("X-Api-Key", c.token)
	},
	authHint:  "check the Clockify API key in --source-credentials-dir (file token); a workspace on a subdomain or another region needs a key of its own",
	pageParam: "page", sizeParam: "page-size", pageSize: 1000,
	query: func(q url.Values, o *SourceOptions) {
		if !o.From.IsZero() {
			q.Set("start", o.From.AddDate(0, 0, -1).Format(dayLayout)+"T00:00:00Z")
		}
		if !o.To.IsZero() {
			q.Set("end", o.To.AddDate(0, 0, 2).Format(dayLayout)+"T00:00:00Z")
		}
	},
	shape: pageShape{array: true},
	fields: map[string]derive{
		FieldExternalID: field("id"),
		FieldUserID:     field("userId"),
		FieldDate:       dayOf("timeInterval.start"),
		FieldProject:    field("projectId"),
		FieldHours:      isoHoursOf("timeInterval.duration"),
	},
	skip: func(f jsonFields, _ *sourceCreds) string {
		end, ok := f.Field("timeInterval.end")
		if d, has := f.Field("timeInterval.duration"); !ok || end.Kind == KindNull || !has || d.Kind == KindNull {
			return "a running timer"
		}
		return ""
	},
	prepare: func(ctx context.Context, s *httpSource) error {
		if s.creds.userID != "" {
			return nil
		}
		var me struct {
			ID string `json:"id"`
		}
		if err := s.getJSON(ctx, s.at("/user"), &me); err != nil {
			return fmt.Errorf("clockify: looking up the key's user (or give the file %s): %w", SourceUserIDFile, err)
		}
		if me.ID == "" || strings.ContainsAny(me.ID, "/?#%") {
			return fmt.Errorf("clockify: GET /user gave no usable id; give the file %s", SourceUserIDFile)
		}
		s.creds.userID = me.ID
		return nil
	},
	name: func(c *sourceCreds) string { return "clockify-" + c.workspaceID },
}
