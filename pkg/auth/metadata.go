package auth

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/abc-inc/timesheets/pkg/loopback"
	"github.com/abc-inc/timesheets/pkg/openapi"
	"github.com/abc-inc/timesheets/pkg/policy"
)

// WellKnownPath is where RFC 9728 §3 puts protected-resource metadata.
const WellKnownPath = "/.well-known/oauth-protected-resource"

// ParsePublicURL checks a --public-url: an absolute https URL (http only to
// a loopback host) without user info, query or fragment, whose path can be
// a net/http pattern. The trailing slash is dropped: the API's routes hang
// below it.
func ParsePublicURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, err
	case u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return nil, fmt.Errorf("%q must be an absolute https URL", raw)
	case u.Scheme == "http" && !loopback.Host(u.Hostname()):
		// A client would send its token to a plain-http URL.
		return nil, fmt.Errorf("%q must use https (http only to localhost or a loopback address)", raw)
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("%q must not carry user info, a query or a fragment", raw)
	case strings.ContainsAny(u.Path, "{}") || strings.ContainsAny(raw, `"\`):
		return nil, errors.New("the public URL's path must not contain '{', '}', '\"' or '\\'")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// Metadata serves RFC 9728 protected-resource metadata from the policy in
// force, and builds the URL the challenges point to.
type Metadata struct {
	Policy *policy.Holder
	// PublicURL is the API's public base URL (ParsePublicURL); nil: the
	// request as received, scheme by TLS and the Host header.
	PublicURL *url.URL
	// ResourceName is the human-readable resource_name.
	ResourceName string
}

// ProtectedResource is the metadata document (RFC 9728 §2).
type ProtectedResource struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	ScopesSupported        []string `json:"scopes_supported"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name,omitempty"`
	// OpenAPIURL is an extension (RFC 9728 §2 allows others): the OpenAPI
	// document. resource_documentation is for people, so not that.
	OpenAPIURL string `json:"openapi_url"`
	// DPoP (RFC 9728 §2, RFC 9449 §5.1): the proof algorithms taken, none
	// when the policy takes no DPoP; whether some route takes only
	// DPoP-bound tokens.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
	DPoPBoundAccessTokensRequired bool     `json:"dpop_bound_access_tokens_required"`
}

// base is the API's base URL for r: the public URL, else the request's.
func (m *Metadata) base(r *http.Request) *url.URL {
	if m.PublicURL != nil {
		u := *m.PublicURL
		return &u
	}
	u := &url.URL{Scheme: "http", Host: r.Host}
	if r.TLS != nil {
		u.Scheme = "https"
	}
	return u
}

// URL is the metadata URL for r, formed from the base URL as RFC 9728 §3.1
// says: the well-known path goes between the host and the base URL's path.
func (m *Metadata) URL(r *http.Request) string {
	u := m.base(r)
	u.Path = WellKnownPath + u.Path
	return u.String()
}

// Mux is what routes are registered on (an *http.ServeMux).
type Mux interface {
	Handle(pattern string, handler http.Handler)
}

// Register adds the metadata routes to mux: the well-known path, and with
// a public URL under a path the path-aware form too (RFC 9728 §3.1).
func (m *Metadata) Register(mux Mux) {
	mux.Handle("GET "+WellKnownPath, m)
	if m.PublicURL != nil && m.PublicURL.Path != "" {
		mux.Handle("GET "+WellKnownPath+m.PublicURL.Path, m)
	}
}

// ServeHTTP answers the metadata of the policy in force; 503 with none.
func (m *Metadata) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	snap := m.Policy.Load()
	if snap == nil {
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "temporarily_unavailable", Description: description[ReasonNoPolicy]})
		return
	}
	base := m.base(r)
	doc := ProtectedResource{
		Resource:                      snap.Resource,
		AuthorizationServers:          make([]string, 0, len(snap.Issuers)),
		ScopesSupported:               Scopes(snap),
		BearerMethodsSupported:        []string{"header"},
		ResourceName:                  m.ResourceName,
		OpenAPIURL:                    base.JoinPath(openapi.Path).String(),
		DPoPBoundAccessTokensRequired: snap.DPoPRequiredAnywhere(),
	}
	if snap.DPoPAnywhere() {
		doc.DPoPSigningAlgValuesSupported = slices.Clone(snap.Algorithms)
	}
	for _, is := range snap.Issuers {
		doc.AuthorizationServers = append(doc.AuthorizationServers, is.URL)
	}
	writeJSON(w, http.StatusOK, doc)
}

// Scopes are the scopes a client may need: every scope a route requires and
// the identity's all-entries scope, sorted, each once.
func Scopes(snap *policy.Snapshot) []string {
	scopes := []string{}
	for _, rt := range snap.Routes {
		scopes = append(scopes, rt.Scopes...)
	}
	if s := snap.Identity.AllEntriesScope; s != "" {
		scopes = append(scopes, s)
	}
	slices.Sort(scopes)
	return slices.Compact(scopes)
}
