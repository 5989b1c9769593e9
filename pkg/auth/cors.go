package auth

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/policy"
)

// CORS answers the Fetch standard's CORS protocol for the origins the policy
// in force allows, around the guarded API: outermost, so preflights are
// answered before authentication (browsers send no token on them) and the
// guard's refusals carry the headers a page needs to read them.
//
// No wildcard is ever sent, nor Access-Control-Allow-Credentials: the API
// takes bearer tokens, never cookies.
type CORS struct {
	Policy *policy.Holder
}

// corsExposed are the response headers a page may read beyond the
// CORS-safelisted ones: why it was refused (RFC 6750 §3, RFC 9470 §3,
// RFC 9449 §7.1), when to retry a 503, where a created entry is, an
// entry's revision for If-Match, and the DPoP nonce to prove with next
// (RFC 9449 §8).
const corsExposed = "WWW-Authenticate, Retry-After, Location, ETag, DPoP-Nonce"

// corsMethods are the methods a preflight may be told about, in the order
// they are listed.
var corsMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// Wrap returns next with CORS.
func (c *CORS) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		snap := c.Policy.Load()
		if snap == nil || snap.CORS == nil {
			next.ServeHTTP(w, r)
			return
		}
		// Fetch §3.2.5: the answer depends on Origin, so every response
		// says so, even one without CORS headers, lest a cache hand it to
		// an allowed origin (or the reverse).
		w.Header().Add("Vary", "Origin")
		origins := r.Header.Values("Origin")
		if len(origins) != 1 || !snap.CORS.OriginAllowed(origins[0]) {
			next.ServeHTTP(w, r)
			return
		}
		origin := origins[0]
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if methods := allowedMethods(snap, r); len(methods) > 0 {
				h.Set("Access-Control-Allow-Methods", strings.Join(methods, ", "))
			}
			h.Set("Access-Control-Allow-Headers", strings.Join(snap.CORS.AllowedHeaders, ", "))
			if d := snap.CORS.MaxAge; d > 0 {
				h.Set("Access-Control-Max-Age", strconv.FormatInt(int64(d/time.Second), 10))
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", corsExposed)
		next.ServeHTTP(w, r)
	})
}

// allowedMethods are the methods the policy lets through on r's path: those
// a route matches, and every method when unmatched requests need only a
// valid token. Whether a request then passes is the guard's to say.
func allowedMethods(snap *policy.Snapshot, r *http.Request) []string {
	var out []string
	for _, m := range corsMethods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if snap.Match(probe) != nil || snap.DefaultAction == v1alpha1.DefaultActionAuthenticated {
			out = append(out, m)
		}
	}
	return out
}
