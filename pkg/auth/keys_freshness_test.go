package auth

import (
	"net/http"
	"testing"
	"time"
)

func TestKeyOptionDefaults(t *testing.T) {
	var o KeyOptions
	o.defaults()
	for name, c := range map[string]struct{ got, want time.Duration }{
		// jose (the Auth0 Node SDK's) waits 30 s; 5 minutes refused a
		// rotation that followed a bogus kid for minutes.
		"UnknownKIDInterval": {o.UnknownKIDInterval, 30 * time.Second},
		"MinRefreshInterval": {o.MinRefreshInterval, time.Minute},
		"RefreshInterval":    {o.RefreshInterval, time.Hour},
		"DiscoveryInterval":  {o.DiscoveryInterval, time.Hour},
		"RetryInterval":      {o.RetryInterval, 10 * time.Second},
	} {
		if c.got != c.want {
			t.Errorf("%s = %s, want %s", name, c.got, c.want)
		}
	}
	if o.MaxKeys != 100 {
		t.Errorf("MaxKeys = %d, want 100", o.MaxKeys)
	}
	o = KeyOptions{RefreshInterval: 10 * time.Second}
	o.defaults()
	if o.MinRefreshInterval != 10*time.Second {
		t.Errorf("MinRefreshInterval = %s, want the RefreshInterval it may not exceed", o.MinRefreshInterval)
	}
}

func TestFreshness(t *testing.T) {
	const floor, ceiling = time.Minute, time.Hour
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	date := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	cases := []struct {
		name string
		hdr  http.Header
		want time.Duration
	}{
		{"no freshness information: the ceiling", http.Header{}, ceiling},
		{"max-age", http.Header{"Cache-Control": {"max-age=120"}}, 2 * time.Minute},
		{"max-age among others, any case", http.Header{"Cache-Control": {"public, Max-Age=300, must-revalidate"}}, 5 * time.Minute},
		{"max-age across two field lines", http.Header{"Cache-Control": {"public", "max-age=300"}}, 5 * time.Minute},
		{"quoted max-age is accepted (§5.2)", http.Header{"Cache-Control": {`max-age="300"`}}, 5 * time.Minute},
		{"max-age below the floor", http.Header{"Cache-Control": {"max-age=5"}}, floor},
		{"max-age=0", http.Header{"Cache-Control": {"max-age=0"}}, floor},
		{"max-age above the ceiling", http.Header{"Cache-Control": {"max-age=86400"}}, ceiling},
		{"max-age beyond 2^31 saturates", http.Header{"Cache-Control": {"max-age=99999999999999999999999"}}, ceiling},
		{"Age is subtracted (§4.2.3)", http.Header{"Cache-Control": {"max-age=300"}, "Age": {"100"}}, 200 * time.Second},
		{"Age beyond max-age", http.Header{"Cache-Control": {"max-age=300"}, "Age": {"400"}}, floor},
		{"invalid Age", http.Header{"Cache-Control": {"max-age=300"}, "Age": {"-1"}}, floor},
		{"no-cache", http.Header{"Cache-Control": {"max-age=300, no-cache"}}, floor},
		{"no-cache with field names", http.Header{"Cache-Control": {`no-cache="Set-Cookie, X-Foo", max-age=300`}}, floor},
		{"no-store", http.Header{"Cache-Control": {"no-store"}}, floor},
		{"max-age not a number", http.Header{"Cache-Control": {"max-age=ten"}}, floor},
		{"max-age negative", http.Header{"Cache-Control": {"max-age=-1"}}, floor},
		{"max-age empty", http.Header{"Cache-Control": {"max-age="}}, floor},
		{"max-age without a value", http.Header{"Cache-Control": {"max-age"}}, floor},
		{"max-age twice (§4.2.1: stale)", http.Header{"Cache-Control": {"max-age=300, max-age=3000"}}, floor},
		{"max-age inside a quoted string is not one", http.Header{"Cache-Control": {`private="x, max-age=3000"`}}, ceiling},
		{"unterminated quoted string", http.Header{"Cache-Control": {`private="x, max-age=300`}}, floor},
		{"garbage", http.Header{"Cache-Control": {"max-age=300 junk"}}, floor},
		{"empty list elements are fine", http.Header{"Cache-Control": {", ,max-age=300,"}}, 5 * time.Minute},
		{"s-maxage is for shared caches", http.Header{"Cache-Control": {"s-maxage=300"}}, ceiling},
		{"Expires against Date", http.Header{"Date": {date(-time.Hour)}, "Expires": {date(-time.Hour + 10*time.Minute)}}, 10 * time.Minute},
		{"Expires without Date", http.Header{"Expires": {date(10 * time.Minute)}}, 10 * time.Minute},
		{"max-age wins over Expires", http.Header{"Cache-Control": {"max-age=120"}, "Expires": {date(10 * time.Minute)}}, 2 * time.Minute},
		{`Expires "0" is in the past`, http.Header{"Expires": {"0"}}, floor},
		{"Expires twice", http.Header{"Expires": {date(10 * time.Minute), date(20 * time.Minute)}}, floor},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := freshness(tc.hdr, now, floor, ceiling); got != tc.want {
				t.Errorf("freshness(%v) = %s, want %s", tc.hdr, got, tc.want)
			}
		})
	}
}
