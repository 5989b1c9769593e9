package importer

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// MaxPages bounds how many pages one run follows, against a tool whose next
// links never end.
const MaxPages = 100_000

// httpSource reads a tool's HTTP API: pages of JSON, one after the other,
// as its connector describes them (where the entries are, the next page,
// authentication, query parameters, fields). --source-kind http-json is the
// generic connector: pages that are an array of entries or an object with
// "items" or "data" and "next" (or the paths --items-path and --next-path
// give), the next page also named by a Link header with rel="next". Pages
// are streamed, never held whole.
type httpSource struct {
	c *connector
	// base is --source; start is the first page's URL: for a connector its
	// endpoint under base, with query q.
	base, start *url.URL
	q           url.Values
	creds       sourceCreds
	client      *http.Client
	back        *Backoff
	ua          string
	log         *slog.Logger
	// from and to bound the entries' days (a connector's window); "" is
	// unbounded.
	from, to string
	// o are the options of a connector, with the range SetRange gave.
	o SourceOptions
	// fields are the connector's, with the user type.
	fields  map[string]derive
	skipped map[string]int
}

// httpJSON is the generic connector of --source-kind http-json.
func httpJSON(o *SourceOptions) *connector {
	shape := filePage
	if o.ItemsPath != "" {
		shape.items, shape.array = parsePaths(o.ItemsPath), false
	}
	if o.NextPath != "" {
		shape.next = parsePaths(o.NextPath)
	}
	hint := "give the tool's token with --source-credentials-dir (file token)"
	switch {
	case o.TokenFile != "":
		hint = "check --source-token-file"
	case o.CredentialsDir != "":
		hint = "check the token in --source-credentials-dir"
	}
	return &connector{
		kind: KindHTTPJSON, title: "the tool", shape: shape, authHint: hint,
		auth: func(h http.Header, c *sourceCreds, ua string) {
			if ua != "" {
				h.Set("User-Agent", ua)
			}
			if c.token != "" {
				h.Set("Authorization", "Bearer "+c.token)
			}
		},
	}
}

// openHTTPSource opens an http(s) --source of kind o.Kind, inferred from the
// host when empty.
func openHTTPSource(spec string, o SourceOptions) (*httpSource, error) {
	if err := checkURL("--source", spec, false); err != nil {
		return nil, err
	}
	base, _ := url.Parse(spec)
	kind := o.Kind
	if kind == "" || kind == KindAuto {
		kind = kindOfHost(base.Hostname())
	}
	s := &httpSource{client: o.HTTPClient, back: o.Backoff, ua: o.UserAgent, log: o.Logger}
	if s.client == nil {
		s.client = &http.Client{Timeout: time.Minute}
	}
	if s.back == nil {
		s.back = &Backoff{MaxAttempts: DefaultMaxAttempts}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if kind == KindHTTPJSON {
		s.c = httpJSON(&o)
		switch {
		case o.TokenFile != "" && o.CredentialsDir != "":
			return nil, ConfigError{errors.New("give the tool's token either in --source-credentials-dir or with --source-token-file (the older way), not both")}
		case o.TokenFile != "":
			b, err := os.ReadFile(o.TokenFile)
			if err != nil {
				return nil, ConfigError{fmt.Errorf("--source-token-file: %w", err)}
			}
			if s.creds.token = strings.TrimRight(string(b), "\r\n"); s.creds.token == "" {
				return nil, ConfigError{fmt.Errorf("--source-token-file %s is empty", o.TokenFile)}
			}
		case o.CredentialsDir != "":
			c, err := readSourceCreds(o.CredentialsDir, "an http-json source", nil, nil)
			if err != nil {
				return nil, err
			}
			s.creds = c
		}
		s.base, s.start = base, base
		return s, nil
	}

	c := connectors[kind]
	if c == nil {
		return nil, ConfigError{fmt.Errorf("--source-kind %q: use %s", kind, strings.Join(kinds, ", "))}
	}
	s.c, s.o = c, o
	switch {
	case o.TokenFile != "":
		return nil, ConfigError{fmt.Errorf("--source-token-file is for --source-kind http-json; the %s connector reads the file %s (and the others it needs) from --source-credentials-dir", kind, SourceTokenFile)}
	case o.ItemsPath != "" || o.NextPath != "":
		return nil, ConfigError{fmt.Errorf("--items-path and --next-path are for --source-kind http-json; the %s connector knows where %s's entries and pages are", kind, c.title)}
	}
	if !strings.Contains(c.path, "{") && strings.HasSuffix(strings.TrimSuffix(base.Path, "/"), c.path) {
		return nil, ConfigError{fmt.Errorf("--source %s: give %s's API base URL, e.g. %s, not its endpoint; the connector adds %s", base.Redacted(), c.title, c.example, c.path)}
	}
	dir := o.CredentialsDir
	if dir == "" {
		dir = DefaultSourceCredentialsDir
	}
	creds, err := readSourceCreds(dir, c.title, c.need, c.optional)
	if err != nil {
		return nil, err
	}
	s.creds = creds
	s.fields = map[string]derive{FieldUserType: constant(cmp.Or(o.UserType, timesheets.UserTypeContractor))}
	for k, d := range c.fields {
		s.fields[k] = d
	}
	s.base = base
	if err := s.SetRange(o.Since, o.From, o.To); err != nil {
		return nil, err
	}
	return s, nil
}

// SetRange sets what a connector asks the tool for, as SourceOptions.Since,
// From and To do, replacing what it was opened with: for the run, which
// learns Since from the API once it knows the source is incremental. Call
// it before Each. http-json takes no range and ignores it.
func (s *httpSource) SetRange(since, from, to time.Time) error {
	if s.c.kind == KindHTTPJSON {
		return nil
	}
	s.o.Since, s.o.From, s.o.To = since, from, to
	s.from, s.to = "", ""
	if !from.IsZero() {
		s.from = from.Format(dayLayout)
	}
	if !to.IsZero() {
		s.to = to.Format(dayLayout)
	}
	if s.from != "" && s.to != "" && s.from > s.to {
		return ConfigError{fmt.Errorf("the window from %s to %s is empty; its first day comes after its last", s.from, s.to)}
	}
	s.q = s.base.Query()
	if s.c.pageParam != "" {
		s.q.Set(s.c.pageParam, "1")
		setDefault(s.q, s.c.sizeParam, strconv.Itoa(s.c.pageSize))
	}
	if s.c.query != nil {
		s.c.query(s.q, &s.o)
	}
	s.start = s.first()
	return nil
}

// first is the URL of the first page: the connector's path under the base
// URL, with the ids of the credentials filled in, and its query. The base
// URL's own query (a tool's filter such as Harvest's project_id) is kept.
func (s *httpSource) first() *url.URL {
	u := *s.base
	p := strings.NewReplacer("{workspace}", url.PathEscape(s.creds.workspaceID), "{user}", url.PathEscape(s.creds.userID)).Replace(s.c.path)
	u.Path = strings.TrimSuffix(u.Path, "/") + p
	u.RawPath = ""
	u.RawQuery = s.q.Encode()
	return &u
}

// at is a URL of the tool's API under the base URL, for requests other
// than the pages (Clockify's GET /user).
func (s *httpSource) at(path string) *url.URL {
	u := *s.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawPath, u.RawQuery = "", ""
	return &u
}

// Name is the default source name: the kind with the account or workspace
// (harvest-123456, toggl-42, clockify-5f..., tempo), or the host for
// http-json.
func (s *httpSource) Name() string {
	if s.c.name != nil {
		return sourceName(s.c.name(&s.creds))
	}
	return sourceName(s.base.Hostname())
}

// Kind is the source's --source-kind.
func (s *httpSource) Kind() string { return s.c.kind }

// Incremental reports whether the tool was asked only for the entries
// changed since SourceOptions.Since.
func (s *httpSource) Incremental() bool { return s.c.incremental }

// Windowed reports whether the source yields only the entries whose day is
// within SourceOptions.From and To: true for every connector, false for
// http-json, which reads what its URL says.
func (s *httpSource) Windowed() bool { return s.c.kind != KindHTTPJSON }

// Secret is the tool's token, for redaction.
func (s *httpSource) Secret() string { return s.creds.token }

func (s *httpSource) Each(ctx context.Context, fn func(*Record) error) error {
	if s.c.check != nil {
		if err := s.c.check(&s.o); err != nil {
			return err
		}
	}
	if s.c.prepare != nil {
		if err := s.c.prepare(ctx, s); err != nil {
			return err
		}
		s.start = s.first()
	}
	s.skipped = map[string]int{}
	defer s.logSkipped()
	each := s.records(fn)
	seen := map[string]bool{}
	for u := s.start; u != nil; {
		if seen[u.String()] {
			return fmt.Errorf("source: the pages loop back to %s", u.Redacted())
		}
		if len(seen) >= MaxPages {
			return fmt.Errorf("source: more than %d pages; stopping", MaxPages)
		}
		seen[u.String()] = true
		next, err := s.page(ctx, u, each)
		if err != nil {
			return err
		}
		u = next
	}
	return nil
}

// records hands on a connector's records as entries seen through its
// fields, leaving out those it skips (running timers) and those outside the
// window.
func (s *httpSource) records(fn func(*Record) error) func(*Record) error {
	if s.fields == nil && s.c.skip == nil {
		return fn
	}
	tf := &toolFields{fields: s.fields}
	return func(r *Record) error {
		raw, ok := r.Fields.(jsonFields)
		if r.Err != nil || !ok {
			return fn(r)
		}
		if s.c.skip != nil {
			if why := s.c.skip(raw, &s.creds); why != "" {
				s.skip(r.Loc, why)
				return nil
			}
		}
		tf.raw = raw
		if s.from != "" || s.to != "" {
			if d, ok := tf.Field(FieldDate); ok && d.Kind == KindString && ((s.from != "" && d.Text < s.from) || (s.to != "" && d.Text > s.to)) {
				s.skip(r.Loc, "outside the window")
				return nil
			}
		}
		r.Fields = tf
		return fn(r)
	}
}

func (s *httpSource) skip(loc Location, why string) {
	s.skipped[why]++
	s.log.Debug("source record skipped", "at", loc.String(), "reason", why)
}

func (s *httpSource) logSkipped() {
	for why, n := range s.skipped {
		s.log.Info("source records skipped", "reason", why, "count", n)
	}
}

// get sends one GET with the connector's headers, retrying what is worth
// retrying (429 and 5xx, honouring Retry-After, and network errors). It
// returns the response of a 200.
func (s *httpSource) get(ctx context.Context, u *url.URL) (*http.Response, error) {
	var resp *http.Response
	err := s.back.retry(ctx, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "application/json")
		s.c.auth(req.Header, &s.creds, s.ua)
		r, err := s.client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &retryable{err: fmt.Errorf("source: GET %s: %w", u.Redacted(), err)}
		}
		if r.StatusCode == http.StatusOK {
			resp = r
			return nil
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<10))
		r.Body.Close()
		err = fmt.Errorf("source: GET %s answered %s: %s", u.Redacted(), r.Status, toolMessage(body, r.Header.Get("Content-Type")))
		if retryableStatus(r.StatusCode) {
			return &retryable{err: err, after: ParseRetryAfter(r.Header.Get("Retry-After"), time.Now())}
		}
		if s.c.status != nil {
			if hint := s.c.status(r.StatusCode, r.Header); hint != "" {
				return fmt.Errorf("%w; %s", err, hint)
			}
		}
		if r.StatusCode == http.StatusUnauthorized || r.StatusCode == http.StatusForbidden {
			return fmt.Errorf("%w; %s", err, s.c.authHint)
		}
		return err
	})
	return resp, err
}

// page reads one page and returns the URL of the next, or nil.
func (s *httpSource) page(ctx context.Context, u *url.URL, fn func(*Record) error) (*url.URL, error) {
	resp, err := s.get(ctx, u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	next, n, err := readPage(ctx, resp.Body, u.Redacted(), s.c.shape, true, fn)
	if err != nil {
		return nil, err
	}
	if s.c.pageParam != "" {
		size, err := strconv.Atoi(u.Query().Get(s.c.sizeParam))
		if err != nil {
			size = s.c.pageSize
		}
		if n < size {
			return nil, nil
		}
		q := u.Query()
		p, _ := strconv.Atoi(q.Get(s.c.pageParam))
		q.Set(s.c.pageParam, strconv.Itoa(max(p, 1)+1))
		nu := *u
		nu.RawQuery = q.Encode()
		return &nu, nil
	}
	if next == "" && s.c.kind == KindHTTPJSON {
		next = linkNext(resp.Header.Values("Link"))
	}
	if next == "" {
		return nil, nil
	}
	nu, err := u.Parse(next)
	if err != nil {
		return nil, fmt.Errorf("source: next page %q of %s: %w", next, u.Redacted(), err)
	}
	// The token goes only where the first page came from.
	if nu.Scheme != s.start.Scheme || nu.Host != s.start.Host {
		return nil, fmt.Errorf("source: next page %s is not on %s://%s; refusing to send the token elsewhere", nu.Redacted(), s.start.Scheme, s.start.Host)
	}
	return nu, nil
}

// getJSON decodes the JSON object of one GET into v.
func (s *httpSource) getJSON(ctx context.Context, u *url.URL, v any) error {
	resp, err := s.get(ctx, u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("source: GET %s: %w", u.Redacted(), err)
	}
	return nil
}

// toolMessage is the gist of a tool's error response: the message of a JSON
// body (message, error_description, error, or Tempo's errors.message), not
// an HTML page.
func toolMessage(body []byte, contentType string) string {
	var b struct {
		Message     string          `json:"message"`
		Description string          `json:"error_description"`
		Error       json.RawMessage `json:"error"`
		Errors      json.RawMessage `json:"errors"`
	}
	if json.Unmarshal(body, &b) == nil {
		var nested struct {
			Message string `json:"message"`
		}
		var list []struct {
			Message string `json:"message"`
		}
		var errText string
		_ = json.Unmarshal(b.Error, &errText)
		if json.Unmarshal(b.Errors, &nested) != nil && json.Unmarshal(b.Errors, &list) == nil && len(list) > 0 {
			nested.Message = list[0].Message
		}
		for _, m := range []string{b.Message, b.Description, nested.Message, errText} {
			if m != "" {
				return m
			}
		}
	}
	if strings.HasPrefix(strings.TrimSpace(contentType), "text/html") || bytes.HasPrefix(bytes.TrimSpace(bytes.ToLower(body)), []byte("<")) {
		return "an HTML error page"
	}
	return apiMessage(body, "no message")
}

// linkNext finds the target of rel="next" in Link headers (RFC 8288).
func linkNext(headers []string) string {
	for _, h := range headers {
		for _, link := range splitLinks(h) {
			link = strings.TrimSpace(link)
			if !strings.HasPrefix(link, "<") {
				continue
			}
			end := strings.IndexByte(link, '>')
			if end < 0 {
				continue
			}
			target := link[1:end]
			for _, p := range strings.Split(link[end+1:], ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(v), `"`)) {
					if strings.EqualFold(rel, "next") {
						return target
					}
				}
			}
		}
	}
	return ""
}

// splitLinks splits a Link header at the commas between links, not those
// inside <...> or quotes.
func splitLinks(h string) []string {
	var (
		out     []string
		start   int
		inURL   bool
		inQuote bool
	)
	for i := 0; i < len(h); i++ {
		switch c := h[i]; {
		case c == '<' && !inQuote:
			inURL = true
		case c == '>' && !inQuote:
			inURL = false
		case c == '"' && !inURL:
			inQuote = !inQuote
		case c == ',' && !inURL && !inQuote:
			out = append(out, h[start:i])
			start = i + 1
		}
	}
	return append(out, h[start:])
}
