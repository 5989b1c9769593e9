package importer

import (
	"net/http"
	"net/url"
	"strconv"
)

// tempoDocs is the document the Tempo connector follows (its OpenAPI
// description of version 4).
const tempoDocs = "https://apidocs.tempo.io/"

// tempoTimeLayout is the one date-time form updatedFrom takes: no fraction
// of a second and no offset but Z.
const tempoTimeLayout = "2006-01-02T15:04:05Z"

// tempoMaxLimit is the most worklogs a page of version 4 holds.
const tempoMaxLimit = 5000

// Tempo Cloud REST API v4: GET /4/worklogs with an API token as a bearer
// token (a bad one is 401 with an HTML body). Pages are {"self", "metadata":
// {"count", "offset", "limit", "next"}, "results"}; the next page is
// metadata.next. limit defaults to 50, at most 5000. updatedFrom takes
// yyyy-MM-dd or yyyy-MM-ddTHH:mm:ssZ; from and to bound startDate. A
// worklog's issue is {self, id}: no key in version 4. 429 when rate limited.
var tempoConnector = &connector{
	kind: KindTempo, title: "Tempo", docs: tempoDocs,
	hosts:   []string{"api.tempo.io", "api.eu.tempo.io", "api.us.tempo.io"},
	example: "https://api.tempo.io/4",
	path:    "/worklogs",
	auth: func(h http.Header, c *sourceCreds, ua string) {
		if ua != "" {
			h.Set("User-Agent", ua)
		}
		h.Set("Authorization", "Bearer "+c.token)
	},
	authHint: "check the Tempo API token in --source-credentials-dir (file token); a base URL of another region than the data's (api.eu.tempo.io, api.us.tempo.io) is refused the same way",
	query: func(q url.Values, o *SourceOptions) {
		setDefault(q, "limit", strconv.Itoa(tempoMaxLimit))
		if !o.Since.IsZero() {
			q.Set("updatedFrom", o.Since.UTC().Format(tempoTimeLayout))
		}
		if !o.From.IsZero() {
			q.Set("from", o.From.Format(dayLayout))
		}
		if !o.To.IsZero() {
			q.Set("to", o.To.Format(dayLayout))
		}
	},
	shape: pageShape{items: parsePaths("results"), next: parsePaths("metadata.next")},
	fields: map[string]derive{
		FieldExternalID:      field("tempoWorklogId"),
		FieldUserID:          field("author.accountId"),
		FieldDate:            field("startDate"),
		FieldProject:         field("issue.key", "issue.id"),
		FieldHours:           hoursOf("timeSpentSeconds"),
		FieldSourceUpdatedAt: field("updatedAt"),
	},
	incremental: true,
	name:        func(*sourceCreds) string { return "tempo" },
}
