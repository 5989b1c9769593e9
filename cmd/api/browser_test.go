package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/policy"
)

// chromium is the browser binary: Debian's, which `make chromium`
// (hack/chromium.sh) installs, or TIMESHEETS_CHROMIUM.
func chromium(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("TIMESHEETS_CHROMIUM")
	if bin == "" {
		bin = "/usr/bin/chromium"
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no Chromium at %s (run `make chromium`, or set TIMESHEETS_CHROMIUM): %v", bin, err)
	}
	return bin
}

// page serves an empty HTML page: its origin is the server's.
func page(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!doctype html><title>timesheets page</title>\n"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// fetchResult is what the page's script reports of one fetch.
type fetchResult struct {
	Rejected  string         `json:"rejected"` // the error's name when fetch rejected
	Status    int            `json:"status"`
	Challenge string         `json:"challenge"` // WWW-Authenticate, as the page can read it
	Body      map[string]any `json:"body"`
}

// TestBrowserCORS calls the API from pages in a real headless Chromium: the
// page of an allowed origin reads the list (after the preflight its
// Authorization header needs) and the reason of a refusal; the page of
// another origin cannot read anything.
func TestBrowserCORS(t *testing.T) {
	bin := chromium(t)
	allowed, other := page(t), page(t)
	is := newDevIssuer(t)
	spec := policy.Sample(is.Issuer(), devAudience)
	spec.CORS = &v1alpha1.CORS{AllowedOrigins: []v1alpha1.Origin{v1alpha1.Origin(allowed.URL)}}
	s := newStackPolicy(t, true, "sqlite://"+filepath.Join(t.TempDir(), "ts.db"), is, spec)
	admin := s.token(t, "admin")
	require.Equal(t, 201, s.do(t, "POST", "/timesheets", admin, jsonType, dayEntry).status)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox, // Chromium refuses to run as root with its sandbox
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	fetch := func(t *testing.T, pageURL, token string) fetchResult {
		t.Helper()
		script := fmt.Sprintf(`(async () => {
			const headers = %q ? {Authorization: "Bearer " + %[1]q} : {};
			try {
				const r = await fetch(%q, {headers});
				return JSON.stringify({status: r.status, challenge: r.headers.get("WWW-Authenticate") || "", body: await r.json()});
			} catch (e) {
				return JSON.stringify({rejected: e.name});
			}
		})()`, token, s.srv.URL+"/timesheets")
		require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(pageURL)))
		out, err := chromedp.Run(bctx, chromedp.Evaluate[string](script, chromedp.EvalAwaitPromise))
		require.NoError(t, err)
		var res fetchResult
		require.NoError(t, json.Unmarshal([]byte(out), &res), out)
		return res
	}

	t.Run("an allowed origin reads the list", func(t *testing.T) {
		res := fetch(t, allowed.URL, admin)
		require.Empty(t, res.Rejected)
		require.Equal(t, 200, res.Status)
		items, _ := res.Body["items"].([]any)
		require.Len(t, items, 1, res.Body)
		require.Equal(t, "007", items[0].(map[string]any)["user_id"])
	})
	t.Run("an allowed origin reads why it was refused", func(t *testing.T) {
		res := fetch(t, allowed.URL, "")
		require.Equal(t, 401, res.Status)
		require.Contains(t, res.Challenge, `Bearer realm="timesheets"`)
		require.Equal(t, "unauthorized", res.Body["error"])
	})
	t.Run("another origin cannot", func(t *testing.T) {
		require.Equal(t, "TypeError", fetch(t, other.URL, admin).Rejected, "fetch rejects: the preflight got no CORS headers")
		require.Equal(t, "TypeError", fetch(t, other.URL, "").Rejected, "fetch rejects: the response carries no Access-Control-Allow-Origin")
	})
}
