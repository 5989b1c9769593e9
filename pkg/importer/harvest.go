package importer

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// harvestDocs is the document the Harvest connector follows; pagination and
// the required headers are in its Overview and Pagination pages.
const harvestDocs = "https://help.getharvest.com/api-v2/timesheets-api/timesheets/time-entries/"

// harvestContact completes the importer's User-Agent for Harvest, which
// wants an application's name and a link or email address in it.
const harvestContact = "(https://github.com/abc-inc/timesheets)"

// Harvest API v2: GET /v2/time_entries, with a personal access token and the
// account id in headers (and a User-Agent, without which Harvest answers
// 400). Pages hold "time_entries" and link the next by cursor in
// links.next; page numbers are null on middle pages, so only the link is
// followed. per_page is 1 to 2000 (2000 is the default and the most; more
// is 422). updated_since is an ISO 8601 time, from and to bound spent_date.
// 429 comes with Retry-After (100 requests per 15 seconds).
var harvestConnector = &connector{
	kind: KindHarvest, title: "Harvest", docs: harvestDocs,
	hosts:   []string{"api.harvestapp.com"},
	example: "https://api.harvestapp.com/v2",
	path:    "/time_entries",
	need:    []string{SourceAccountIDFile},
	auth: func(h http.Header, c *sourceCreds, ua string) {
		if ua == "" {
			ua = "timesheets-importer"
		}
		if !strings.Contains(ua, "(") {
			ua += " " + harvestContact
		}
		h.Set("User-Agent", ua)
		h.Set("Authorization", "Bearer "+c.token)
		h.Set("Harvest-Account-Id", c.accountID)
	},
	authHint: "check token and account-id in --source-credentials-dir (a Harvest personal access token and its account id)",
	query: func(q url.Values, o *SourceOptions) {
		setDefault(q, "per_page", "2000")
		if !o.Since.IsZero() {
			q.Set("updated_since", o.Since.UTC().Format(time.RFC3339))
		}
		if !o.From.IsZero() {
			q.Set("from", o.From.Format(dayLayout))
		}
		if !o.To.IsZero() {
			q.Set("to", o.To.Format(dayLayout))
		}
	},
	shape: pageShape{items: parsePaths("time_entries"), next: parsePaths("links.next")},
	fields: map[string]derive{
		FieldExternalID:      field("id"),
		FieldUserID:          field("user.id"),
		FieldDate:            field("spent_date"),
		FieldProject:         field("project.name"),
		FieldHours:           field("hours"),
		FieldSourceUpdatedAt: field("updated_at"),
	},
	// A running timer's hours grow until it stops, which changes its
	// updated_at: it is read then.
	skip: func(f jsonFields, _ *sourceCreds) string {
		if isTrue(f, "is_running") {
			return "a running timer"
		}
		return ""
	},
	incremental: true,
	name:        func(c *sourceCreds) string { return "harvest-" + c.accountID },
}
