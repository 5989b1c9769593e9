package importer

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// A connector describes one tool's API to the one paged-JSON reader
// (httpSource): where the entries are, how to authenticate, how pages follow
// each other, which query parameters ask for a page size, a modification
// time or a window of days, and how the tool's fields become entry fields.
type connector struct {
	kind  string // --source-kind
	title string // for messages: "Harvest"
	docs  string // the documentation the connector follows
	// hosts are the public API hosts that imply this kind.
	hosts []string
	// example is the documented base URL, for messages.
	example string
	// path is appended to the base URL (--source); {workspace} and {user}
	// are replaced by the credentials' ids.
	path string
	// need and optional are the credential files besides token.
	need, optional []string
	// auth sets the authentication headers (and any other a tool requires).
	auth func(h http.Header, c *sourceCreds, userAgent string)
	// authHint says what to check when the tool refuses the credentials.
	authHint string
	// query sets the parameters of the first request from the options.
	query func(q url.Values, o *SourceOptions)
	shape pageShape
	// pageParam, with sizeParam and pageSize, pages by number (page=1, 2,
	// ...) until a page has fewer than pageSize entries; otherwise the next
	// page is the link the shape names (or none).
	pageParam, sizeParam string
	pageSize             int
	// fields derive entry fields (by the API's names) from a tool's record.
	fields map[string]derive
	// skip says why a record is not an entry (a running timer), or "".
	skip func(f jsonFields, c *sourceCreds) string
	// incremental: the tool takes a modification time (Since).
	incremental bool
	// name is the default source name.
	name func(c *sourceCreds) string
	// prepare runs before the first page, to look up what the credentials
	// do not say (Clockify's user id).
	prepare func(ctx context.Context, s *httpSource) error
	// check refuses options the tool cannot serve.
	check func(o *SourceOptions) error
	// status explains a refusal the tool documents (Toggl's 402), or "".
	status func(code int, h http.Header) string
}

// connectors are the tools the importer knows, by kind.
var connectors = map[string]*connector{
	KindHarvest:  harvestConnector,
	KindTempo:    tempoConnector,
	KindToggl:    togglConnector,
	KindClockify: clockifyConnector,
}

// kindOfHost infers a connector from a tool's public API host.
func kindOfHost(host string) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for k, c := range connectors {
		for _, h := range c.hosts {
			if h == host {
				return k
			}
		}
	}
	return KindHTTPJSON
}

// A derive computes an entry field from a tool's record.
type derive func(f jsonFields) (Value, bool)

// field is the first of these (dotted) source fields the record has, not null.
func field(names ...string) derive {
	return func(f jsonFields) (Value, bool) {
		for _, n := range names {
			if v, ok := f.Field(n); ok && v.Kind != KindNull {
				return v, true
			}
		}
		return Value{}, false
	}
}

// constant is a fixed value.
func constant(s string) derive {
	return func(jsonFields) (Value, bool) { return Value{Text: s}, true }
}

// hoursOf turns a number of seconds into hours. A value that is not a
// number is handed on as it is, for the mapper to reject.
func hoursOf(name string) derive {
	return func(f jsonFields) (Value, bool) {
		v, ok := f.Field(name)
		if !ok || v.Kind != KindNumber {
			return v, ok
		}
		s, err := strconv.ParseFloat(v.Text, 64)
		if err != nil {
			return v, true
		}
		return number(s / 3600), true
	}
}

// isoHoursOf turns an ISO 8601 duration (PT1H30M) into hours.
func isoHoursOf(name string) derive {
	return func(f jsonFields) (Value, bool) {
		v, ok := f.Field(name)
		if !ok || v.Kind != KindString {
			return v, ok
		}
		d, err := parseISODuration(v.Text)
		if err != nil {
			return Value{Text: strconv.Quote(v.Text), Kind: KindOther}, true
		}
		return number(d.Hours()), true
	}
}

// dayOf is the calendar day of a timestamp as the tool gives it, in the
// tool's own offset (2026-01-05T23:30:00+01:00 is 2026-01-05): not shifted
// to UTC. A value that is not a timestamp is handed on as it is.
func dayOf(name string) derive {
	return func(f jsonFields) (Value, bool) {
		v, ok := f.Field(name)
		if !ok || v.Kind != KindString {
			return v, ok
		}
		if _, err := time.Parse(time.RFC3339Nano, v.Text); err != nil {
			return v, true
		}
		return Value{Text: v.Text[:len(dayLayout)]}, true
	}
}

func number(f float64) Value {
	return Value{Text: strconv.FormatFloat(f, 'g', -1, 64), Kind: KindNumber}
}

const dayLayout = "2006-01-02"

// toolFields is a record of a connector: the tool's JSON object, with the
// entry fields the connector derives from it (user_id from user.id, hours
// from timeSpentSeconds/3600, ...) in front of its own members, so that the
// default mapping finds them and --map can still name any member.
type toolFields struct {
	raw    jsonFields
	fields map[string]derive
}

func (f *toolFields) Field(name string) (Value, bool) {
	if d, ok := f.fields[name]; ok {
		if v, ok := d(f.raw); ok {
			return v, true
		}
	}
	return f.raw.Field(name)
}

// isTrue reports whether a member is the JSON literal true.
func isTrue(f jsonFields, name string) bool {
	v, ok := f.Field(name)
	return ok && v.Kind == KindOther && v.Text == "true"
}

// parseISODuration reads the ISO 8601 durations tools send (PT1H30M,
// PT45.5S, P1DT2H); years and months, whose length varies, are refused.
func parseISODuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not an ISO 8601 duration such as PT1H30M", s)
	rest, ok := strings.CutPrefix(s, "P")
	if !ok || rest == "" {
		return 0, bad
	}
	var d float64
	inTime := false
	for rest != "" {
		if rest[0] == 'T' {
			if inTime {
				return 0, bad
			}
			inTime, rest = true, rest[1:]
			continue
		}
		i := strings.IndexFunc(rest, func(r rune) bool { return (r < '0' || r > '9') && r != '.' && r != ',' })
		if i <= 0 {
			return 0, bad
		}
		n, err := strconv.ParseFloat(strings.ReplaceAll(rest[:i], ",", "."), 64)
		if err != nil {
			return 0, bad
		}
		unit := map[byte]float64{'D': 24 * 3600, 'W': 7 * 24 * 3600}
		if inTime {
			unit = map[byte]float64{'H': 3600, 'M': 60, 'S': 1}
		}
		u, ok := unit[rest[i]]
		if !ok {
			return 0, bad
		}
		d += n * u
		rest = rest[i+1:]
	}
	return time.Duration(d * float64(time.Second)), nil
}

// setDefault sets a query parameter the base URL does not already have: a
// page size given in --source (Harvest's per_page=100) is kept.
func setDefault(q url.Values, key, value string) {
	if !q.Has(key) {
		q.Set(key, value)
	}
}
