package openapitest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/openapi/openapitest"
)

// recordingTB keeps what Handler reports instead of failing.
type recordingTB struct {
	testing.TB
	errs []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

const entry = `{"id":1,"user_type":"Employee","user_id":"007","date":"2017-05-10T00:00:00Z","project":"P","hours":5,"status":"pending","created_at":"2017-05-10T00:00:00Z","revision":1,"updated_at":"2017-05-10T00:00:00Z"}`

// TestHandlerCatchesDrift: the checks fail on what the document does not
// say, and pass what it does.
func TestHandlerCatchesDrift(t *testing.T) {
	for _, tc := range []struct {
		name, method, path, body string
		noToken                  bool
		status                   int
		header                   map[string]string
		answer                   string
		wrong                    string // in the report; "" for none
	}{
		{name: "a documented answer", method: "GET", path: "/timesheets/1", status: 200, header: map[string]string{"ETag": `"1"`}, answer: entry},
		{name: "an answer without its ETag", method: "GET", path: "/timesheets/1", status: 200, answer: entry, wrong: `"ETag"`},
		{name: "an undocumented field", method: "GET", path: "/timesheets/1", status: 200, header: map[string]string{"ETag": `"1"`},
			answer: strings.Replace(entry, `"id":1`, `"id":1,"owner":"x"`, 1), wrong: `"owner" is unsupported`},
		{name: "an undocumented status", method: "GET", path: "/timesheets/1", status: http.StatusTeapot, answer: `{}`, wrong: "status is not supported"},
		{name: "an undocumented route answered", method: "GET", path: "/timesheets/1/reject", status: 200, answer: `{}`, wrong: "no such operation"},
		{name: "an undocumented route refused", method: "PUT", path: "/timesheets/1", status: 405, answer: ""},
		{name: "a refused request accepted", method: "POST", path: "/timesheets", body: `{"user_id":"u","date":"2017-05-10T00:00:00Z","project":"P","hours":25}`,
			status: 201, header: map[string]string{"Location": "/timesheets/1"}, answer: `{"id":1,"message":"m"}`, wrong: "the document refuses the request, yet it succeeded"},
		{name: "nulls for absent fields (JSON Schema 2020-12 type arrays)", method: "POST", path: "/timesheets",
			body:   `{"user_type":null,"user_id":"u","date":"2017-05-10T00:00:00Z","year":null,"project":"P","hours":1,"source":null}`,
			status: 201, header: map[string]string{"Location": "/timesheets/1"}, answer: `{"id":1,"message":"m"}`},
		{name: "a calendar day", method: "GET", path: "/timesheets/1", status: 200, header: map[string]string{"ETag": `"1"`},
			answer: strings.Replace(entry, `"date":"2017-05-10T00:00:00Z"`, `"date":"2017-05-10"`, 1)},
		{name: "neither a day nor a timestamp", method: "GET", path: "/timesheets/1", status: 200, header: map[string]string{"ETag": `"1"`},
			answer: strings.Replace(entry, `"date":"2017-05-10T00:00:00Z"`, `"date":"2017-05-10T00:00"`, 1), wrong: "anyOf"},
		{name: "a week entry", method: "POST", path: "/timesheets", body: `{"user_id":"u","year":2016,"week":24,"project":"P","hours":40}`,
			status: 201, header: map[string]string{"Location": "/timesheets/1"}, answer: `{"id":1,"message":"m"}`},
		{name: "a day entry with a week's hours", method: "POST", path: "/timesheets", body: `{"user_id":"u","date":"2017-05-10T00:00:00Z","project":"P","hours":40}`,
			status: 201, header: map[string]string{"Location": "/timesheets/1"}, answer: `{"id":1,"message":"m"}`, wrong: "refuses the request"},
		{name: "a refused request refused", method: "POST", path: "/timesheets", body: `{"user_id":"u","date":"2017-05-10T00:00:00Z","project":"P","hours":25}`,
			status: 400, answer: `{"error":"invalid_entry","message":"m","fields":[{"field":"hours","message":"m"}]}`},
		{name: "an invalid batch entry rejected alone", method: "POST", path: "/timesheets/upload", body: `[{"hours":"x"}]`,
			status: 200, answer: `{"created":0,"duplicates":0,"updated":0,"conflicts":0,"stale":0,"rejected":1,"results":[{"index":0,"status":"rejected","errors":[{"field":"hours","message":"m"}]}]}`},
		{name: "a 401 without its challenge", method: "GET", path: "/timesheets", status: 401,
			answer: `{"error":"unauthorized","error_description":"d"}`, wrong: `"WWW-Authenticate"`},
		{name: "a 401 with its challenge", method: "GET", path: "/timesheets", status: 401,
			header: map[string]string{"WWW-Authenticate": `Bearer realm="timesheets"`}, answer: `{"error":"unauthorized","error_description":"d"}`},
		{name: "a 503 without Retry-After", method: "GET", path: "/timesheets", status: 503, answer: `{"error":"unavailable","message":"m"}`, wrong: `"Retry-After"`},
		{name: "a secured operation answered without a token", method: "GET", path: "/timesheets", noToken: true, status: 200, answer: `{"items":[]}`, wrong: "refuses the request"},
		{name: "a secured operation answered with a token", method: "GET", path: "/timesheets", status: 200, answer: `{"items":[]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordingTB{TB: t}
			h := openapitest.Handler(rec, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				if tc.answer != "" {
					w.Header().Set("Content-Type", "application/json")
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.answer))
			}), openapitest.Options{Tokens: true})
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			if !tc.noToken {
				req.Header.Set("Authorization", "Bearer x")
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			if tc.wrong == "" {
				require.Empty(t, rec.errs)
				return
			}
			require.Len(t, rec.errs, 1)
			require.Contains(t, rec.errs[0], tc.wrong)
		})
	}
}
