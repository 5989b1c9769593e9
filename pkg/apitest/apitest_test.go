package apitest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/abc-inc/timesheets/pkg/apitest"
)

func TestStart(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	call := func(client, method, path, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, api.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+api.Token(t, client))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	entry := `[{"user_id":"007","date":"2017-05-10T17:40:20.095Z","project":"StoreZero","hours":5,"source":"t","external_id":"1"}]`
	if r := call(apitest.ImporterClient, "POST", "/timesheets/upload", entry); r.StatusCode != http.StatusOK {
		t.Fatalf("importer upload: %d", r.StatusCode)
	}
	r := call(apitest.ReaderClient, "POST", "/timesheets/upload", entry)
	if r.StatusCode != http.StatusForbidden || !strings.Contains(r.Header.Get("WWW-Authenticate"), `scope="batch:upload"`) {
		t.Fatalf("reader upload: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	if r := call(apitest.AdminClient, "GET", "/timesheets", ""); r.StatusCode != http.StatusOK {
		t.Fatalf("admin list: %d", r.StatusCode)
	}
	api.FailUploads(1, "7")
	r = call(apitest.ImporterClient, "POST", "/timesheets/upload", entry)
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") != "7" {
		t.Fatalf("FailUploads: %d %q", r.StatusCode, r.Header.Get("Retry-After"))
	}
	if r := call(apitest.ImporterClient, "POST", "/timesheets/upload", entry); r.StatusCode != http.StatusOK {
		t.Fatalf("after FailUploads: %d", r.StatusCode)
	}
	if api.Count(t) != 1 || api.UploadRequests() != 4 || api.FailedUploads() != 1 || api.TokenRequests() != 0 {
		t.Fatalf("count %d, uploads %d, failed %d, token requests %d", api.Count(t), api.UploadRequests(), api.FailedUploads(), api.TokenRequests())
	}
}
