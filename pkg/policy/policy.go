// Package policy turns a ScopePolicy spec into an immutable, validated
// snapshot with a compiled route matcher. The file loader and the Kubernetes
// reconciler both go through Compile, so a policy means the same thing
// whichever way it arrives. Nothing here talks to Kubernetes.
package policy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/loopback"
)

// Defaults applied to fields a spec leaves empty; they match the CRD's.
var (
	DefaultAlgorithms  = []string{"RS256"}
	DefaultScopeClaims = []string{"scope", "scp", "permissions"}
)

const (
	DefaultClockSkew = 30 * time.Second
	// DefaultDPoPMaxAge is how old a DPoP proof may be (RFC 9449 §11.1
	// leaves it to the server; 5 minutes, the bound, is the most
	// allowed) and ShortestDPoPMaxAge the least.
	DefaultDPoPMaxAge  = 5 * time.Minute
	ShortestDPoPMaxAge = 10 * time.Second
	MaxClockSkew       = 5 * time.Minute
	// DefaultMaxTokenAge is Auth0's default access-token lifetime.
	DefaultMaxTokenAge  = 24 * time.Hour
	ShortestMaxTokenAge = time.Minute
	LongestMaxTokenAge  = 30 * 24 * time.Hour
)

// Limits the CRD's markers set (scopepolicy_types.go). Compile enforces them
// too, so a policy file means what the API server would admit.
const (
	maxIssuers      = 8
	maxURLLen       = 512
	maxAudiences    = 16
	maxAudienceLen  = 512
	maxRoutes       = 128
	maxPathLen      = 256
	maxRouteScopes  = 32
	maxScopeLen     = 128
	maxTokenTypeLen = 128
	maxAcrValues    = 8
	maxAcrLen       = 256
	maxClaimNameLen = 256
	maxOrigins      = 32
	maxOriginLen    = 256
	maxCORSHeaders  = 16
	maxHeaderLen    = 64
	MaxCORSMaxAge   = 24 * time.Hour
)

// Issuer is an accepted token issuer.
type Issuer struct {
	URL     string // equals the token's iss exactly
	JWKSURI string // empty: discover from URL
}

// Route is a compiled route rule.
type Route struct {
	Pattern  string // methods and path, e.g. "POST /timesheets/{id}/approve"; the metric label
	Scopes   []string
	MatchAny bool
	Public   bool
	When     *Condition // nil: no condition
	// Step-up (RFC 9470): the token's acr must be one of AcrValues (when
	// any), and its auth_time at most MaxAuthAge old (when not zero).
	AcrValues  []string
	MaxAuthAge time.Duration
	// DPoP is the route's own dpop mode; "" takes the policy's (DPoPFor).
	DPoP v1alpha1.DPoPMode

	params []string // the path pattern's wildcard names
}

// Identity says how a user token names the employee it acts for.
type Identity struct {
	// EmployeeClaim is the claim carrying the employee id; "" when the
	// policy tells no employees apart.
	EmployeeClaim string
	// AllEntriesScope grants a user token every employee's entries.
	AllEntriesScope string
}

// CORS is the compiled spec.cors: which browser pages of other origins may
// call the API.
type CORS struct {
	// AllowedOrigins holds the exact origins, as a browser's Origin header
	// spells them; compare with OriginAllowed.
	AllowedOrigins map[string]struct{}
	// AllowedHeaders are the request headers a preflight may ask for, in
	// canonical form (http.CanonicalHeaderKey): Authorization and
	// Content-Type always, then the policy's own, without duplicates.
	AllowedHeaders []string
	// MaxAge is Access-Control-Max-Age in whole seconds; 0: not sent.
	MaxAge time.Duration
}

// OriginAllowed reports whether origin is exactly one of the allowed ones.
func (c *CORS) OriginAllowed(origin string) bool {
	_, ok := c.AllowedOrigins[origin]
	return ok
}

// CORSImpliedHeaders are allowed whatever spec.cors.allowedHeaders says: a
// browser client cannot call the API without them (DPoP carries a browser
// client's proofs, RFC 9449 §4.1; If-Match a change of an entry).
var CORSImpliedHeaders = []string{"Authorization", "Content-Type", "Dpop", "If-Match"}

// Snapshot is one validated policy. It is never modified after Compile, so
// requests can read it without locks.
type Snapshot struct {
	Source        string // file path or namespace/name, for logs
	Generation    int64
	Issuers       []Issuer
	Audiences     []string
	Algorithms    []string
	ClockSkew     time.Duration
	MaxTokenAge   time.Duration // exp at most this far after iat and after now
	TokenType     string        // required typ, normalised by TokenType; "" accepts any
	ScopeClaims   []string
	DefaultAction v1alpha1.DefaultAction
	Audit         bool
	Routes        []*Route
	Identity      Identity
	// Resource is the RFC 9728 resource identifier: spec.resource, else the
	// first audience.
	Resource string
	// CORS is nil when the policy allows no cross-origin access.
	CORS *CORS
	// DPoP is the routes' dpop mode unless a route has its own (DPoPFor);
	// DPoPMaxAge bounds a proof's age and DPoPNonce requires server nonces
	// (RFC 9449 §4.3, §8).
	DPoP       v1alpha1.DPoPMode
	DPoPMaxAge time.Duration
	DPoPNonce  bool

	issuers    map[string]Issuer
	audiences  map[string]struct{}
	algorithms map[string]struct{}
	mux        *http.ServeMux
}

// Issuer returns the accepted issuer with exactly this URL.
func (s *Snapshot) Issuer(iss string) (Issuer, bool) {
	i, ok := s.issuers[iss]
	return i, ok
}

// AudienceAllowed reports whether any of aud is an accepted audience.
func (s *Snapshot) AudienceAllowed(aud []string) bool {
	for _, a := range aud {
		if _, ok := s.audiences[a]; ok {
			return true
		}
	}
	return false
}

// AlgorithmAllowed reports whether alg is on the allow-list.
func (s *Snapshot) AlgorithmAllowed(alg string) bool {
	_, ok := s.algorithms[alg]
	return ok
}

// routeHandler marks a route in the matcher mux. It serves only Match's
// probe, reporting the route and the path values net/http matched.
type routeHandler struct{ route *Route }

type matchKey struct{}

type matched struct {
	route  *Route
	params map[string]string
}

func (h routeHandler) ServeHTTP(_ http.ResponseWriter, r *http.Request) {
	m, ok := r.Context().Value(matchKey{}).(*matched)
	if !ok {
		return
	}
	m.route = h.route
	if len(h.route.params) > 0 {
		m.params = make(map[string]string, len(h.route.params))
		for _, name := range h.route.params {
			m.params[name] = r.PathValue(name)
		}
	}
}

// Match returns the most specific route for r, with net/http's own rules, or
// nil when none matches.
func (s *Snapshot) Match(r *http.Request) *Route {
	route, _ := s.MatchParams(r)
	return route
}

// MatchParams is Match with the values of the route's path wildcards, as
// r.PathValue would give them in a handler of that pattern.
func (s *Snapshot) MatchParams(r *http.Request) (*Route, map[string]string) {
	// Serving (not Handler) is what sets path values; a redirect or an
	// error the mux would answer is discarded and matches no route.
	m := &matched{}
	s.mux.ServeHTTP(discard{}, r.WithContext(context.WithValue(r.Context(), matchKey{}, m)))
	return m.route, m.params
}

// discard is a ResponseWriter that drops what the mux answers itself.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

// DPoPFor is the dpop mode of route (nil: a request no route matched).
func (s *Snapshot) DPoPFor(route *Route) v1alpha1.DPoPMode {
	if route != nil && route.DPoP != "" {
		return route.DPoP
	}
	return s.DPoP
}

// DPoPRequiredAnywhere tells whether some route, or the policy, takes only
// DPoP-bound tokens (the metadata's dpop_bound_access_tokens_required).
func (s *Snapshot) DPoPRequiredAnywhere() bool {
	return s.DPoP == v1alpha1.DPoPRequired || slices.ContainsFunc(s.Routes, func(r *Route) bool { return r.DPoP == v1alpha1.DPoPRequired })
}

// DPoPAnywhere tells whether the policy, or some route, takes DPoP-bound
// tokens at all (the metadata's dpop_signing_alg_values_supported).
func (s *Snapshot) DPoPAnywhere() bool {
	return s.DPoP != v1alpha1.DPoPDisabled || slices.ContainsFunc(s.Routes, func(r *Route) bool { return r.DPoP != "" && r.DPoP != v1alpha1.DPoPDisabled })
}

func validDPoPMode(m v1alpha1.DPoPMode) bool {
	return m == v1alpha1.DPoPDisabled || m == v1alpha1.DPoPAllowed || m == v1alpha1.DPoPRequired
}

// Holder holds the snapshot in force; the zero value holds none.
type Holder struct{ p atomic.Pointer[Snapshot] }

// Load returns the snapshot in force, or nil when none is loaded.
func (h *Holder) Load() *Snapshot { return h.p.Load() }

// Store puts s in force (nil removes the policy: protected routes fail closed).
func (h *Holder) Store(s *Snapshot) { h.p.Store(s) }

var registeredAt = regexp.MustCompile(` \(registered at [^)]*\)`)

// loopbackHTTP is the CRD's CEL rule for plain-http issuer and JWKS URLs,
// literally: the host spelled localhost, 127.x.y.z or [::1].
var loopbackHTTP = regexp.MustCompile(`^http://(localhost|127[.][0-9]+[.][0-9]+[.][0-9]+|[[]::1[]])(:[0-9]+)?(/|$)`)

// tokenTypeSyntax is the CRD's pattern for requireTokenType: a media type
// (RFC 6838 restricted-name), its "application/" optional.
var tokenTypeSyntax = regexp.MustCompile(`^([A-Za-z]+/)?[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$`)

// ScopeToken reports whether s is a scope-token of RFC 6749 §3.3:
// 1*( %x21 / %x23-5B / %x5D-7E ). Policies and tokens both use it.
func ScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c == '"' || c == '\\' || c > 0x7e {
			return false
		}
	}
	return true
}

// TokenType normalises a typ value for comparison: media types compare
// case-insensitively, and a typ without "/" means "application/" + typ
// (RFC 7515 §4.1.9).
func TokenType(typ string) string {
	typ = strings.ToLower(typ)
	if !strings.Contains(typ, "/") {
		typ = "application/" + typ
	}
	return typ
}

var knownMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

var allowedAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Compile applies defaults to spec, validates it and builds a snapshot. The
// error lists every problem with its field path.
func Compile(source string, generation int64, spec v1alpha1.ScopePolicySpec) (*Snapshot, error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("spec.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	s := &Snapshot{
		Source:      source,
		Generation:  generation,
		ClockSkew:   DefaultClockSkew,
		MaxTokenAge: DefaultMaxTokenAge,
		DPoP:        v1alpha1.DPoPAllowed,
		DPoPMaxAge:  DefaultDPoPMaxAge,
		Algorithms:  DefaultAlgorithms,
		ScopeClaims: DefaultScopeClaims,
		issuers:     map[string]Issuer{},
		audiences:   map[string]struct{}{},
		algorithms:  map[string]struct{}{},
		mux:         http.NewServeMux(),
	}

	if n := len(spec.Issuers); n < 1 || n > maxIssuers {
		bad("issuers", "need 1 to %d issuers, got %d", maxIssuers, n)
	}
	for i, is := range spec.Issuers {
		if err := checkURL(is.URL); err != nil {
			bad(fmt.Sprintf("issuers[%d].url", i), "%v", err)
		}
		if is.JWKSURI != "" {
			if err := checkURL(is.JWKSURI); err != nil {
				bad(fmt.Sprintf("issuers[%d].jwksURI", i), "%v", err)
			}
		}
		if _, dup := s.issuers[is.URL]; dup {
			bad(fmt.Sprintf("issuers[%d].url", i), "duplicate issuer %q", is.URL)
		}
		iss := Issuer{URL: is.URL, JWKSURI: is.JWKSURI}
		s.issuers[is.URL] = iss
		s.Issuers = append(s.Issuers, iss)
	}

	if n := len(spec.Audiences); n < 1 || n > maxAudiences {
		bad("audiences", "need 1 to %d audiences, got %d", maxAudiences, n)
	}
	for i, a := range spec.Audiences {
		field := fmt.Sprintf("audiences[%d]", i)
		switch _, dup := s.audiences[a]; {
		case a == "":
			bad(field, "must not be empty")
		case len(a) > maxAudienceLen:
			bad(field, "is %d bytes long; at most %d", len(a), maxAudienceLen)
		case dup:
			bad(field, "duplicate audience %q", a)
		}
		s.audiences[a] = struct{}{}
	}
	s.Audiences = slices.Clone(spec.Audiences)

	if len(spec.Algorithms) > 0 {
		s.Algorithms = nil
		for i, a := range spec.Algorithms {
			if !slices.Contains(allowedAlgorithms, string(a)) {
				bad(fmt.Sprintf("algorithms[%d]", i), "%q is not allowed; use one of %s (asymmetric only)", a, strings.Join(allowedAlgorithms, ", "))
				continue
			}
			if slices.Contains(s.Algorithms, string(a)) {
				bad(fmt.Sprintf("algorithms[%d]", i), "duplicate algorithm %q", a)
			}
			s.Algorithms = append(s.Algorithms, string(a))
		}
	}
	for _, a := range s.Algorithms {
		s.algorithms[a] = struct{}{}
	}

	if spec.ClockSkew != nil {
		d := spec.ClockSkew.Duration
		if d < 0 || d > MaxClockSkew {
			bad("clockSkew", "%s is out of range; use 0s to 5m", d)
		}
		s.ClockSkew = d
	}

	if spec.MaxTokenAge != nil {
		d := spec.MaxTokenAge.Duration
		if d < ShortestMaxTokenAge || d > LongestMaxTokenAge {
			bad("maxTokenAge", "%s is out of range; use 1m to 720h (30 days)", d)
		}
		s.MaxTokenAge = d
	}

	if spec.DPoP != "" {
		if !validDPoPMode(spec.DPoP) {
			bad("dpop", "%q: use Disabled, Allowed or Required", spec.DPoP)
		}
		s.DPoP = spec.DPoP
	}
	if p := spec.DPoPProofs; p != nil {
		if p.MaxAge != nil {
			d := p.MaxAge.Duration
			if d < ShortestDPoPMaxAge || d > DefaultDPoPMaxAge {
				bad("dpopProofs.maxAge", "%s is out of range; use 10s to 5m", d)
			}
			s.DPoPMaxAge = d
		}
		s.DPoPNonce = p.RequireNonce
	}

	if t := spec.RequireTokenType; t != "" {
		switch {
		case len(t) > maxTokenTypeLen || !tokenTypeSyntax.MatchString(t):
			bad("requireTokenType", "%q is not a media type such as at+jwt", t)
		case !strings.HasPrefix(TokenType(t), "application/"):
			bad("requireTokenType", "%q must be an application/ media type, such as at+jwt or application/at+jwt", t)
		}
		s.TokenType = TokenType(t)
	}

	if len(spec.ScopeClaims) > 0 {
		s.ScopeClaims = nil
		for i, c := range spec.ScopeClaims {
			if !slices.Contains(DefaultScopeClaims, string(c)) {
				bad(fmt.Sprintf("scopeClaims[%d]", i), "%q is not supported; use scope, scp or permissions", c)
				continue
			}
			if slices.Contains(s.ScopeClaims, string(c)) {
				bad(fmt.Sprintf("scopeClaims[%d]", i), "duplicate claim %q", c)
			}
			s.ScopeClaims = append(s.ScopeClaims, string(c))
		}
	}

	switch spec.DefaultAction {
	case "", v1alpha1.DefaultActionDeny:
		s.DefaultAction = v1alpha1.DefaultActionDeny
	case v1alpha1.DefaultActionAuthenticated:
		s.DefaultAction = v1alpha1.DefaultActionAuthenticated
	default:
		bad("defaultAction", "%q is not Deny or Authenticated", spec.DefaultAction)
	}

	switch spec.Mode {
	case "", v1alpha1.ModeEnforce:
	case v1alpha1.ModeAudit:
		s.Audit = true
	default:
		bad("mode", "%q is not Enforce or Audit", spec.Mode)
	}

	// Routes naming methods go first: a method-less route then takes only
	// the methods they left on its path, so "GET /timesheets/{id}" and a
	// public "/timesheets/healthcheck" do not conflict in the mux, and an
	// explicit method is more specific than "every method".
	if n := len(spec.Routes); n > maxRoutes {
		bad("routes", "at most %d routes, got %d", maxRoutes, n)
	}
	taken := map[string]bool{}
	for _, withMethods := range []bool{true, false} {
		for i, r := range spec.Routes {
			if (len(r.Methods) > 0) == withMethods {
				errs = append(errs, s.addRoute(i, r, taken)...)
			}
		}
	}

	if id := spec.Identity; id != nil {
		switch c := id.EmployeeClaim; {
		case c == "":
			bad("identity.employeeClaim", "must not be empty")
		case len([]rune(c)) > maxClaimNameLen:
			bad("identity.employeeClaim", "is %d characters long; at most %d", len([]rune(c)), maxClaimNameLen)
		}
		if sc := id.AllEntriesScope; sc != "" && (!ScopeToken(sc) || len(sc) > maxScopeLen) {
			bad("identity.allEntriesScope", "%q is not an RFC 6749 scope token of at most %d bytes", sc, maxScopeLen)
		}
		s.Identity = Identity{EmployeeClaim: id.EmployeeClaim, AllEntriesScope: id.AllEntriesScope}
	}

	s.Resource = spec.Resource
	if spec.Resource != "" {
		if err := checkResource(spec.Resource); err != nil {
			bad("resource", "%v", err)
		}
	} else if len(s.Audiences) > 0 {
		s.Resource = s.Audiences[0]
	}

	if spec.CORS != nil {
		c, cerrs := compileCORS(spec.CORS)
		errs = append(errs, cerrs...)
		s.CORS = c
	}

	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// resourceSyntax is the CRD's CEL rule for spec.resource, literally.
var resourceSyntax = regexp.MustCompile(`^(https://[^/?#@]+|http://(localhost|127[.][0-9]+[.][0-9]+[.][0-9]+|[[]::1[]])(:[0-9]+)?)(/[^?#]*)?$`)

// checkResource applies RFC 9728 §1.2: an https URL with no fragment (and,
// stricter than its SHOULD NOT, no query), so clients can compare it with
// the URL they fetched the metadata from.
func checkResource(raw string) error {
	if len(raw) > maxURLLen {
		return fmt.Errorf("is %d bytes long; at most %d", len(raw), maxURLLen)
	}
	if !resourceSyntax.MatchString(raw) {
		return fmt.Errorf("%q must be an https URL without user info, query or fragment (http only to localhost, 127.0.0.0/8 or [::1])", raw)
	}
	if u, err := url.Parse(raw); err != nil || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%q is not an absolute URL with a host", raw)
	}
	return nil
}

// originSyntax is the CRD's CEL rule for an origin, literally.
var originSyntax = regexp.MustCompile(`^(https://[a-z0-9]([a-z0-9.-]*[a-z0-9])?|http://(localhost|127[.][0-9]+[.][0-9]+[.][0-9]+|[[]::1[]]))(:[1-9][0-9]{0,4})?$`)

// headerNameSyntax is the CRD's pattern for a header name (RFC 9110 token).
var headerNameSyntax = regexp.MustCompile(`^[!#$%&'*+.^_|~0-9A-Za-z-]+$`)

func compileCORS(spec *v1alpha1.CORS) (*CORS, []error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("spec.cors.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	c := &CORS{AllowedOrigins: map[string]struct{}{}, AllowedHeaders: slices.Clone(CORSImpliedHeaders)}
	if n := len(spec.AllowedOrigins); n < 1 || n > maxOrigins {
		bad("allowedOrigins", "need 1 to %d origins, got %d", maxOrigins, n)
	}
	for i, o := range spec.AllowedOrigins {
		field := fmt.Sprintf("allowedOrigins[%d]", i)
		s := string(o)
		_, dup := c.AllowedOrigins[s]
		switch {
		case len(s) > maxOriginLen:
			bad(field, "is %d bytes long; at most %d", len(s), maxOriginLen)
		case !originSyntax.MatchString(s):
			bad(field, "%q must be an exact origin such as https://app.example or http://localhost:5173: https (http only to localhost, 127.0.0.0/8 or [::1]), lower case, no path, no wildcard", s)
		case strings.HasPrefix(s, "https://") && strings.HasSuffix(s, ":443"),
			strings.HasPrefix(s, "http://") && strings.HasSuffix(s, ":80"):
			bad(field, "%q must not name the scheme's default port: browsers omit it from the Origin header", s)
		case dup:
			bad(field, "duplicate origin %q", s)
		}
		c.AllowedOrigins[s] = struct{}{}
	}
	if n := len(spec.AllowedHeaders); n > maxCORSHeaders {
		bad("allowedHeaders", "at most %d headers, got %d", maxCORSHeaders, n)
	}
	for i, h := range spec.AllowedHeaders {
		field := fmt.Sprintf("allowedHeaders[%d]", i)
		s := string(h)
		switch {
		case len(s) > maxHeaderLen:
			bad(field, "is %d bytes long; at most %d", len(s), maxHeaderLen)
		case s == "*":
			bad(field, "no wildcard: name each header")
		case !headerNameSyntax.MatchString(s):
			bad(field, "%q is not an HTTP header name", s)
		case slices.ContainsFunc(spec.AllowedHeaders[:i], func(o v1alpha1.HeaderName) bool { return o == h }):
			bad(field, "duplicate header %q", s)
		}
		// Header names compare case-insensitively; an implied one or a
		// second spelling adds nothing.
		if k := http.CanonicalHeaderKey(s); !slices.Contains(c.AllowedHeaders, k) {
			c.AllowedHeaders = append(c.AllowedHeaders, k)
		}
	}
	if spec.MaxAge != nil {
		d := spec.MaxAge.Duration
		if d < 0 || d > MaxCORSMaxAge {
			bad("maxAge", "%s is out of range; use 0s to 24h", d)
		}
		c.MaxAge = d.Truncate(time.Second)
	}
	return c, errs
}

func (s *Snapshot) addRoute(i int, r v1alpha1.Route, taken map[string]bool) []error {
	var errs []error
	field := fmt.Sprintf("spec.routes[%d]", i)
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if !strings.HasPrefix(r.Path, "/") {
		bad("path %q must start with /", r.Path)
	}
	if len(r.Path) > maxPathLen {
		bad("path is %d bytes long; at most %d", len(r.Path), maxPathLen)
	}
	if r.Public && len(r.Scopes) > 0 {
		bad("a route is either public or requires scopes, not both")
	}
	if r.DPoP != "" && !validDPoPMode(r.DPoP) {
		bad("dpop %q: use Disabled, Allowed or Required", r.DPoP)
	}
	if r.Public && (r.When != "" || len(r.AcrValues) > 0 || r.MaxAuthAge != nil || r.DPoP != "") {
		bad("a public route has no when, acrValues, maxAuthAge or dpop: it sees no token")
	}
	var when *Condition
	if r.When != "" {
		c, err := compileCondition(r.When)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.when: %w", field, err))
		}
		when = c
	}
	if len(r.AcrValues) > maxAcrValues {
		bad("at most %d acrValues, got %d", maxAcrValues, len(r.AcrValues))
	}
	for j, v := range r.AcrValues {
		switch {
		case !ScopeToken(v) || len(v) > maxAcrLen:
			// RFC 9470 §3 sends them space-separated in a quoted string.
			errs = append(errs, fmt.Errorf("%s.acrValues[%d]: %q must be 1 to %d characters of printable ASCII except space, '\"' and '\\'", field, j, v, maxAcrLen))
		case slices.Contains(r.AcrValues[:j], v):
			errs = append(errs, fmt.Errorf("%s.acrValues[%d]: %q is listed twice", field, j, v))
		}
	}
	var maxAuthAge time.Duration
	if r.MaxAuthAge != nil {
		maxAuthAge = r.MaxAuthAge.Duration
		if maxAuthAge < time.Second {
			errs = append(errs, fmt.Errorf("%s.maxAuthAge: %s is too short; at least 1s (max_age is sent in seconds)", field, maxAuthAge))
		}
	}
	if len(r.Scopes) > maxRouteScopes {
		bad("at most %d scopes, got %d", maxRouteScopes, len(r.Scopes))
	}
	for j, sc := range r.Scopes {
		switch {
		case !ScopeToken(sc):
			bad("scope %q is not an RFC 6749 scope token: printable ASCII except space, '\"' and '\\'", sc)
		case len(sc) > maxScopeLen:
			bad("scope %q is %d bytes long; at most %d", sc, len(sc), maxScopeLen)
		case slices.Contains(r.Scopes[:j], sc):
			bad("scope %q is listed twice", sc)
		}
	}
	matchAny := false
	switch r.Match {
	case "", v1alpha1.MatchAll:
	case v1alpha1.MatchAny:
		matchAny = true
	default:
		bad("match %q is not All or Any", r.Match)
	}
	for j, m := range r.Methods {
		if !slices.Contains(knownMethods, m) {
			bad("method %q is not one of %s", m, strings.Join(knownMethods, ", "))
		}
		if slices.Contains(r.Methods[:j], m) {
			bad("method %q is listed twice", m)
		}
	}
	// Two method-less routes of one path: the second would take no method
	// at all and silently never apply.
	if len(r.Methods) == 0 {
		if taken["* "+r.Path] {
			bad("another route of path %q names no method; each method+path may appear in one route only", r.Path)
		}
		taken["* "+r.Path] = true
	}
	if len(errs) > 0 {
		return errs
	}

	route := &Route{
		Pattern: r.Path, Scopes: slices.Clone(r.Scopes), MatchAny: matchAny, Public: r.Public,
		When: when, AcrValues: slices.Clone(r.AcrValues), MaxAuthAge: maxAuthAge, DPoP: r.DPoP, params: patternParams(r.Path),
	}
	methods := r.Methods
	if len(methods) == 0 {
		methods = nil
		for _, m := range knownMethods {
			// GET patterns also match HEAD in net/http; a HEAD pattern beside
			// them would conflict, so HEAD goes with whichever route has GET.
			if m != http.MethodHead && !taken[m+" "+r.Path] {
				methods = append(methods, m)
			}
		}
	} else {
		route.Pattern = strings.Join(r.Methods, ",") + " " + r.Path
	}
	for _, m := range methods {
		pattern := m + " " + r.Path
		if taken[pattern] {
			bad("%s is already covered by another route; each method and path may appear once", pattern)
			continue
		}
		taken[pattern] = true
		if err := register(s.mux, pattern, route); err != nil {
			bad("%v", err)
		}
	}
	s.Routes = append(s.Routes, route)
	return errs
}

// register adds a pattern to the mux, turning ServeMux's panic on an invalid
// or conflicting pattern into an error.
func register(mux *http.ServeMux, pattern string, r *Route) (err error) {
	defer func() {
		if p := recover(); p != nil {
			// Drop ServeMux's "(registered at file:line)": it names our source, not the policy.
			msg := registeredAt.ReplaceAllString(fmt.Sprint(p), "")
			err = fmt.Errorf("pattern %q: %s", pattern, strings.ReplaceAll(msg, "\n", " "))
		}
	}()
	mux.Handle(pattern, routeHandler{r})
	return nil
}

func checkURL(raw string) error {
	if len(raw) > maxURLLen {
		return fmt.Errorf("is %d bytes long; at most %d", len(raw), maxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", raw, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q must be an absolute http(s) URL", raw)
	}
	if u.User != nil || u.Fragment != "" || u.RawQuery != "" {
		return fmt.Errorf("%q must not carry user info, a query or a fragment", raw)
	}
	if err := checkKeyURL(u, raw); err != nil {
		return err
	}
	if !strings.HasPrefix(raw, "https://") && !loopbackHTTP.MatchString(raw) {
		return fmt.Errorf("%q must start with https:// (or http://localhost, http://127.x.y.z or http://[::1], in lower case)", raw)
	}
	return nil
}

// CheckKeyURL refuses a URL that signing keys (a JWKS, or the discovery
// document naming it) must not be fetched from: keys fetched over plain http
// could be replaced on the way, and then any token verifies. https is
// required; http only to a loopback host, such as a local development issuer.
func CheckKeyURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %v", raw, err)
	}
	return checkKeyURL(u, raw)
}

// checkKeyURL is CheckKeyURL on a URL already parsed from raw.
func checkKeyURL(u *url.URL, raw string) error {
	switch {
	case u.Scheme == "https" && u.Host != "":
		return nil
	case u.Scheme == "http" && loopback.Host(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("%q must use https: keys fetched over plain http could be replaced on the way (http is accepted only on loopback)", raw)
	}
	return fmt.Errorf("%q must be an absolute https URL", raw)
}
