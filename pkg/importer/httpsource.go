package importer

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// MaxPages bounds how many pages one run follows, against a tool whose next
// links never end.
const MaxPages = 100_000

// httpSource is the tool's HTTP API: pages of JSON, each an array of entries
// or an object with "items" or "data" and "next"; the next page is named by
// "next" or by a Link header with rel="next". Pages are streamed, never held
// whole.
type httpSource struct {
	start  *url.URL
	token  string
	client *http.Client
	back   *Backoff
	ua     string
}

func openHTTPSource(spec string, o SourceOptions) (*httpSource, error) {
	if err := checkURL("--source", spec, false); err != nil {
		return nil, err
	}
	u, _ := url.Parse(spec)
	s := &httpSource{start: u, client: o.HTTPClient, back: o.Backoff, ua: o.UserAgent}
	if s.client == nil {
		s.client = &http.Client{Timeout: time.Minute}
	}
	if s.back == nil {
		s.back = &Backoff{MaxAttempts: DefaultMaxAttempts}
	}
	if o.TokenFile != "" {
		b, err := os.ReadFile(o.TokenFile)
		if err != nil {
			return nil, ConfigError{fmt.Errorf("--source-token-file: %w", err)}
		}
		if s.token = strings.TrimRight(string(b), "\r\n"); s.token == "" {
			return nil, ConfigError{fmt.Errorf("--source-token-file %s is empty", o.TokenFile)}
		}
	}
	return s, nil
}

func (s *httpSource) Name() string { return sourceName(s.start.Hostname()) }

// Secret is the tool's token, for redaction.
func (s *httpSource) Secret() string { return s.token }

func (s *httpSource) Each(ctx context.Context, fn func(*Record) error) error {
	seen := map[string]bool{}
	for u := s.start; u != nil; {
		if seen[u.String()] {
			return fmt.Errorf("source: the pages loop back to %s", u.Redacted())
		}
		if len(seen) >= MaxPages {
			return fmt.Errorf("source: more than %d pages; stopping", MaxPages)
		}
		seen[u.String()] = true
		next, err := s.page(ctx, u, fn)
		if err != nil {
			return err
		}
		u = next
	}
	return nil
}

// page reads one page and returns the URL of the next, or nil.
func (s *httpSource) page(ctx context.Context, u *url.URL, fn func(*Record) error) (*url.URL, error) {
	var resp *http.Response
	err := s.back.retry(ctx, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "application/json")
		if s.ua != "" {
			req.Header.Set("User-Agent", s.ua)
		}
		if s.token != "" {
			req.Header.Set("Authorization", "Bearer "+s.token)
		}
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
		err = fmt.Errorf("source: GET %s answered %s: %s", u.Redacted(), r.Status, apiMessage(body, ""))
		if retryableStatus(r.StatusCode) {
			return &retryable{err: err, after: ParseRetryAfter(r.Header.Get("Retry-After"), time.Now())}
		}
		if r.StatusCode == http.StatusUnauthorized || r.StatusCode == http.StatusForbidden {
			return fmt.Errorf("%w; check --source-token-file", err)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	next, err := readJSON(ctx, resp.Body, u.Redacted(), true, fn)
	if err != nil {
		return nil, err
	}
	if next == "" {
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
