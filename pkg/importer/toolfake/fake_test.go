package toolfake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// get sends one GET to a fake and decodes its JSON answer, if any.
func get(t *testing.T, u string, header map[string]string, out any) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
	}
	return resp, string(b)
}

// TestHarvestPages checks the documented page shape: links by cursor, page
// numbers null on middle pages, newest spent_date first, and the errors.
func TestHarvestPages(t *testing.T) {
	h := NewHarvest(t)
	for _, d := range []string{"2026-01-01", "2026-01-03", "2026-01-02"} {
		h.Put(Entry{User: "kim", Project: "P", Day: d, Hours: 1})
	}
	hdr := map[string]string{"Authorization": "Bearer " + h.Token(), "Harvest-Account-Id": h.AccountID(), "User-Agent": "test (x@example.com)"}
	type page struct {
		TimeEntries []struct {
			SpentDate string `json:"spent_date"`
		} `json:"time_entries"`
		Page         *int `json:"page"`
		NextPage     *int `json:"next_page"`
		PreviousPage *int `json:"previous_page"`
		TotalPages   int  `json:"total_pages"`
		Links        struct{ Next *string }
	}
	var pages []page
	for u := h.BaseURL() + "/time_entries?per_page=1"; u != ""; {
		var p page
		if resp, body := get(t, u, hdr, &p); resp.StatusCode != http.StatusOK {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		pages = append(pages, p)
		u = ""
		if p.Links.Next != nil {
			u = *p.Links.Next
			if q, _ := url.Parse(u); !q.Query().Has("cursor") {
				t.Fatalf("next %s has no cursor", u)
			}
		}
	}
	n := func(p *int) any {
		if p == nil {
			return nil
		}
		return *p
	}
	if len(pages) != 3 || pages[0].TimeEntries[0].SpentDate != "2026-01-03" || pages[2].TimeEntries[0].SpentDate != "2026-01-01" ||
		n(pages[0].Page) != 1 || n(pages[0].NextPage) != 2 || pages[0].PreviousPage != nil ||
		pages[1].Page != nil || pages[1].NextPage != nil || pages[1].PreviousPage != nil ||
		n(pages[2].Page) != 3 || pages[2].NextPage != nil || n(pages[2].PreviousPage) != 2 || pages[2].TotalPages != 3 {
		t.Fatalf("pages %+v", pages)
	}
	for name, c := range map[string]struct {
		query  string
		header map[string]string
		code   int
	}{
		"per_page 2001":    {"per_page=2001", hdr, http.StatusUnprocessableEntity},
		"per_page 0":       {"per_page=0", hdr, http.StatusUnprocessableEntity},
		"no user agent":    {"", map[string]string{"Authorization": hdr["Authorization"], "Harvest-Account-Id": h.AccountID(), "User-Agent": ""}, http.StatusBadRequest},
		"wrong account id": {"", map[string]string{"Authorization": hdr["Authorization"], "Harvest-Account-Id": "1", "User-Agent": "x"}, http.StatusUnauthorized},
		"bad since":        {"updated_since=yesterday", hdr, http.StatusUnprocessableEntity},
	} {
		if resp, body := get(t, h.BaseURL()+"/time_entries?"+c.query, c.header, nil); resp.StatusCode != c.code {
			t.Errorf("%s: %d %s; want %d", name, resp.StatusCode, body, c.code)
		}
	}
	h.ThrottleNext(1)
	if resp, _ := get(t, h.BaseURL()+"/time_entries", hdr, nil); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("throttled: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func TestTempoPages(t *testing.T) {
	tp := NewTempo(t)
	tp.Put(Entry{User: "a", Project: "CTP-1", Day: "2026-02-02", Hours: 1})
	hdr := map[string]string{"Authorization": "Bearer " + tp.Token()}
	var p struct {
		Self     string
		Metadata map[string]any
		Results  []map[string]any
	}
	if resp, body := get(t, tp.BaseURL()+"/worklogs", hdr, &p); resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	issue, _ := p.Results[0]["issue"].(map[string]any)
	if p.Metadata["limit"] != 50.0 || p.Metadata["count"] != 1.0 || p.Metadata["next"] != nil || p.Self == "" ||
		len(issue) != 2 || issue["self"] == nil || issue["id"] == nil {
		t.Fatalf("page %+v; want limit 50, no next, an issue of {self, id}", p)
	}
	resp, body := get(t, tp.BaseURL()+"/worklogs", map[string]string{"Authorization": "Bearer nope"}, nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "<html>") {
		t.Fatalf("bad token: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	for _, q := range []string{"limit=5001", "updatedFrom=2026-02-02T10:00:00.5Z", "updatedFrom=2026-02-02T10:00:00%2B01:00", "from=02.02.2026"} {
		if resp, body := get(t, tp.BaseURL()+"/worklogs?"+q, hdr, nil); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"errors"`) {
			t.Errorf("%s: %d %s; want 400 with errors.message", q, resp.StatusCode, body)
		}
	}
	if resp, _ := get(t, tp.BaseURL()+"/worklogs?limit=5000&updatedFrom=2026-02-02", hdr, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("limit 5000, updatedFrom a day: %d", resp.StatusCode)
	}
}

func TestTogglAndClockifyErrors(t *testing.T) {
	tg := NewToggl(t)
	basic := func(u, p string) map[string]string {
		r := http.Request{Header: http.Header{}}
		r.SetBasicAuth(u, p)
		return map[string]string{"Authorization": r.Header.Get("Authorization")}
	}
	for name, c := range map[string]struct {
		query string
		hdr   map[string]string
		code  int
	}{
		"ok":                   {"start_date=2026-01-01&end_date=2026-01-31", basic(tg.Token(), "api_token"), http.StatusOK},
		"wrong password":       {"", basic(tg.Token(), "x"), http.StatusForbidden},
		"start without end":    {"start_date=2026-01-01", basic(tg.Token(), "api_token"), http.StatusBadRequest},
		"since not a number":   {"since=2026-01-01", basic(tg.Token(), "api_token"), http.StatusBadRequest},
		"email and no api key": {"", basic("me@example.com", "secret"), http.StatusForbidden},
	} {
		if resp, body := get(t, tg.BaseURL()+"/me/time_entries?"+c.query, c.hdr, nil); resp.StatusCode != c.code {
			t.Errorf("toggl %s: %d %s; want %d", name, resp.StatusCode, body, c.code)
		}
	}
	c := NewClockify(t)
	path := c.BaseURL() + "/workspaces/" + c.WorkspaceID() + "/user/" + c.UserID("me") + "/time-entries?"
	key := map[string]string{"X-Api-Key": c.Token()}
	for name, tc := range map[string]struct {
		url  string
		hdr  map[string]string
		code int
	}{
		"ok":              {path + "page=1&page-size=5000", key, http.StatusOK},
		"page-size 5001":  {path + "page-size=5001", key, http.StatusBadRequest},
		"start with zone": {path + "start=2026-01-01T00:00:00%2B01:00", key, http.StatusBadRequest},
		"no key":          {path, nil, http.StatusUnauthorized},
		"other workspace": {c.BaseURL() + "/workspaces/x/user/" + c.UserID("me") + "/time-entries", key, http.StatusForbidden},
	} {
		if resp, body := get(t, tc.url, tc.hdr, nil); resp.StatusCode != tc.code {
			t.Errorf("clockify %s: %d %s; want %d", name, resp.StatusCode, body, tc.code)
		}
	}
	if d := isoDuration(5400e9); d != "PT1H30M" {
		t.Errorf("isoDuration(1h30m) = %s", d)
	}
}
