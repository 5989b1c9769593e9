package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Algorithm is a JWS signing algorithm. Only asymmetric algorithms can be named:
// a shared-secret (HS*) or "none" token can never pass.
// +kubebuilder:validation:Enum=RS256;RS384;RS512;PS256;PS384;PS512;ES256;ES384;ES512;EdDSA
type Algorithm string

// DefaultAction decides what happens to a request that no route matches.
// +kubebuilder:validation:Enum=Deny;Authenticated
type DefaultAction string

const (
	// DefaultActionDeny refuses requests that no route matches.
	DefaultActionDeny DefaultAction = "Deny"
	// DefaultActionAuthenticated lets any valid token through when no route matches.
	DefaultActionAuthenticated DefaultAction = "Authenticated"
)

// Mode decides whether decisions are enforced or only recorded.
// +kubebuilder:validation:Enum=Enforce;Audit
type Mode string

const (
	// ModeEnforce refuses requests that fail authentication or authorization.
	ModeEnforce Mode = "Enforce"
	// ModeAudit records the decision (metrics, logs) but lets the request through.
	ModeAudit Mode = "Audit"
)

// ScopeMatch says whether a route needs all of its scopes or any one of them.
// +kubebuilder:validation:Enum=All;Any
type ScopeMatch string

const (
	// MatchAll requires every listed scope.
	MatchAll ScopeMatch = "All"
	// MatchAny requires at least one listed scope.
	MatchAny ScopeMatch = "Any"
)

// ScopeClaim names a token claim that carries scopes.
// +kubebuilder:validation:Enum=scope;scp;permissions
type ScopeClaim string

// Issuer is an authorization server whose tokens are accepted.
type Issuer struct {
	// URL must equal the token's iss claim exactly (Auth0 issuers end with "/").
	// https, or plain http to a loopback host (a local development issuer).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.startsWith('https://') || self.matches('^http://(localhost|127[.][0-9]+[.][0-9]+[.][0-9]+|[[]::1[]])(:[0-9]+)?(/|$)')",message="must be an https URL: signing keys fetched over plain http could be replaced on the way (http only to localhost, 127.0.0.0/8 or [::1])"
	URL string `json:"url"`

	// JWKSURI is where the issuer publishes its signing keys. When empty, it is
	// found by OIDC discovery at URL + "/.well-known/openid-configuration".
	// https, or plain http to a loopback host.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.startsWith('https://') || self.matches('^http://(localhost|127[.][0-9]+[.][0-9]+[.][0-9]+|[[]::1[]])(:[0-9]+)?(/|$)')",message="must be an https URL: signing keys fetched over plain http could be replaced on the way (http only to localhost, 127.0.0.0/8 or [::1])"
	JWKSURI string `json:"jwksURI,omitempty"`
}

// Route requires scopes for requests matching a path pattern and methods.
// +kubebuilder:validation:XValidation:rule="!(has(self.public) && self.public && has(self.scopes) && size(self.scopes) > 0)",message="a route is either public or requires scopes, not both"
// +kubebuilder:validation:XValidation:rule="!(has(self.public) && self.public && (has(self.when) || has(self.acrValues) || has(self.maxAuthAge) || has(self.dpop)))",message="a public route has no when, acrValues, maxAuthAge or dpop: it sees no token"
type Route struct {
	// Path is a net/http ServeMux path pattern such as /timesheets/{id}/approve.
	// The most specific pattern wins.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^/`
	Path string `json:"path"`

	// Methods the route applies to; empty means every method.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=7
	// +kubebuilder:validation:items:Enum=GET;HEAD;POST;PUT;PATCH;DELETE;OPTIONS
	Methods []string `json:"methods,omitempty"`

	// Scopes the token must carry (see Match).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=128
	// Each is an RFC 6749 §3.3 scope-token: printable ASCII except space,
	// '"' and '\'. A token's scopes are parsed the same way, so a scope
	// outside that syntax could never be granted.
	// +kubebuilder:validation:items:Pattern=`^[!#-\[\]-~]+$`
	Scopes []string `json:"scopes,omitempty"`

	// Match is All (every scope needed, the default) or Any (one is enough).
	// +optional
	// +kubebuilder:default=All
	Match ScopeMatch `json:"match,omitempty"`

	// Public routes need no token at all.
	// +optional
	Public bool `json:"public,omitempty"`

	// When is a CEL expression that must be true for the request to pass,
	// checked after the scopes. It sees claims (the verified token's claims:
	// claims.sub, claims["https://abc-inc.example/roles"]), method, path and
	// params (the path pattern's wildcards, such as params.id). A condition
	// that is false or fails (a missing claim, a wrong type) refuses the
	// request with 403; guard optional claims with has(). It must be a
	// boolean expression; the policy is refused when it does not compile.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	When string `json:"when,omitempty"`

	// AcrValues are authentication context classes (OpenID Connect acr) of
	// which the token's acr must equal one; a token that falls short gets
	// 401 insufficient_user_authentication with acr_values (RFC 9470).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	// RFC 9470 §3 sends them space-separated in a quoted string, so none
	// holds a space, '"' or '\'.
	// +kubebuilder:validation:items:Pattern=`^[!#-\[\]-~]+$`
	AcrValues []string `json:"acrValues,omitempty"`

	// MaxAuthAge is the longest since the user authenticated (the token's
	// auth_time, with the clock skew) that the route accepts; a token
	// without auth_time or with an older one gets 401
	// insufficient_user_authentication with max_age (RFC 9470).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="maxAuthAge must be at least 1s (max_age is sent in seconds)"
	MaxAuthAge *metav1.Duration `json:"maxAuthAge,omitempty"`

	// DPoP overrides the policy's dpop mode for this route (RFC 9449):
	// Required on a route that must not take a bearer token, say.
	// +optional
	DPoP DPoPMode `json:"dpop,omitempty"`
}

// DPoPMode says which tokens a route takes (RFC 9449). Allowed: a bearer
// token, or a DPoP-bound token (cnf.jkt) with a valid proof; a bound token
// sent as a bearer one is refused. Required: only DPoP-bound tokens with a
// valid proof. Disabled: only bearer tokens; DPoP-bound ones are refused
// (fail closed: their binding cannot be checked).
// +kubebuilder:validation:Enum=Disabled;Allowed;Required
type DPoPMode string

const (
	DPoPDisabled DPoPMode = "Disabled"
	DPoPAllowed  DPoPMode = "Allowed"
	DPoPRequired DPoPMode = "Required"
)

// DPoPProofs tune how DPoP proofs are checked (RFC 9449 §4.3, §8). A
// proof's algorithm must be one of the policy's algorithms.
type DPoPProofs struct {
	// MaxAge is how old a proof's iat may be (with the clock skew either
	// way); its jti is remembered, across replicas, as long.
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s') && duration(self) <= duration('5m')",message="dpopProofs.maxAge must be from 10s to 5m"
	MaxAge *metav1.Duration `json:"maxAge,omitempty"`
	// RequireNonce makes every proof carry a nonce the API issued (RFC 9449
	// §8): a proof without a current one gets 401 use_dpop_nonce with a
	// DPoP-Nonce header to retry with. Nonces are valid on every replica.
	// +optional
	RequireNonce bool `json:"requireNonce,omitempty"`
}

// Identity says how a user token names the employee it acts for.
type Identity struct {
	// EmployeeClaim is the claim carrying the employee id of a user token,
	// such as https://abc-inc.example/employee_id. A token carrying it (and
	// lacking AllEntriesScope) reads and writes only that employee's entries;
	// tokens without it (machine clients) are not restricted.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	EmployeeClaim string `json:"employeeClaim"`

	// AllEntriesScope grants a user token every employee's entries, such as
	// read:all-timesheets for managers and payroll. Empty: no user token
	// sees others' entries.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[!#-\[\]-~]+$`
	AllEntriesScope string `json:"allEntriesScope,omitempty"`
}

// Origin is a web origin exactly as a browser sends it in the Origin header
// (RFC 6454 §6.2, the Fetch standard): scheme://host[:port], lower case, no
// path, no default port. https only; plain http only to localhost,
// 127.0.0.0/8 or [::1] (a developer's page), since a page served over plain
// http elsewhere could be replaced on the way and then call the API with the
// user's token. No wildcard and no "null".
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=256
// +kubebuilder:validation:XValidation:rule="self.matches('^(https://[a-z0-9]([a-z0-9.-]*[a-z0-9])?|http://(localhost|127[.][0-9]+[.][0-9]+[.][0-9]+|[[]::1[]]))(:[1-9][0-9]{0,4})?$')",message="must be an exact origin such as https://app.example or http://localhost:5173: https (http only to localhost, 127.0.0.0/8 or [::1]), lower case, no path, no wildcard"
// +kubebuilder:validation:XValidation:rule="!(self.startsWith('https://') && self.endsWith(':443')) && !(self.startsWith('http://') && self.endsWith(':80'))",message="must not name the scheme's default port: browsers omit it from the Origin header"
type Origin string

// HeaderName is an HTTP field name (RFC 9110 §5.1 token), compared
// case-insensitively. Not "*": the Fetch standard's wildcard would never
// cover Authorization anyway, and the policy names what it allows.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=64
// +kubebuilder:validation:Pattern=`^[!#$%&'*+.^_|~0-9A-Za-z-]+$`
// +kubebuilder:validation:XValidation:rule="self != '*'",message="no wildcard: name each header"
type HeaderName string

// CORS lets web pages of other origins call the API (the Fetch standard's
// CORS protocol). Without it, browsers keep pages of other origins from
// reading any response.
type CORS struct {
	// AllowedOrigins are the exact origins whose pages may call the API.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	AllowedOrigins []Origin `json:"allowedOrigins"`

	// AllowedHeaders are request headers a page may send besides the ones
	// always allowed: Authorization (the access token), Content-Type (a
	// JSON body), DPoP (a proof, RFC 9449) and If-Match (a change of an
	// entry), and the CORS-safelisted ones browsers send anyway. Such as
	// traceparent.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=set
	AllowedHeaders []HeaderName `json:"allowedHeaders,omitempty"`

	// MaxAge is how long a browser may cache a preflight's answer
	// (Access-Control-Max-Age, sent in whole seconds); at most 24h.
	// Browsers cap it lower (Chromium at 2h). Unset: the browser's default
	// (5s).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('24h')",message="maxAge must be at most 24h"
	MaxAge *metav1.Duration `json:"maxAge,omitempty"`
}

// ScopePolicySpec says which tokens the Timesheets API accepts and which
// scopes each route requires.
type ScopePolicySpec struct {
	// Issuers whose tokens are accepted.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +listType=map
	// +listMapKey=url
	Issuers []Issuer `json:"issuers"`

	// Audiences accepted: the token's aud must contain one of them.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +listType=set
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=512
	Audiences []string `json:"audiences"`

	// Algorithms accepted in the token header; asymmetric only.
	// +optional
	// +kubebuilder:default={RS256}
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=10
	// +listType=set
	Algorithms []Algorithm `json:"algorithms,omitempty"`

	// ClockSkew tolerated when checking exp, nbf and iat; at most 5m.
	// +optional
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('5m')",message="clockSkew must be at most 5m (a longer skew accepts expired tokens)"
	ClockSkew *metav1.Duration `json:"clockSkew,omitempty"`

	// RequireTokenType, when set, is the media type the token's typ header
	// must name, such as at+jwt for RFC 9068 access tokens. It is compared
	// case-insensitively, with or without "application/" (RFC 7515 §4.1.9).
	// Empty accepts any typ.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^([A-Za-z]+/)?[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$`
	// +kubebuilder:validation:XValidation:rule="!self.contains('/') || self.lowerAscii().startsWith('application/')",message="requireTokenType must be an application/ media type, such as at+jwt or application/at+jwt"
	RequireTokenType string `json:"requireTokenType,omitempty"`

	// MaxTokenAge is the longest a token may be valid: its exp at most this
	// far after its iat (when present) and after now. From 1m to 720h (30
	// days); the default is Auth0's default access-token lifetime.
	// +optional
	// +kubebuilder:default="24h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) <= duration('720h')",message="maxTokenAge must be from 1m to 720h (30 days)"
	MaxTokenAge *metav1.Duration `json:"maxTokenAge,omitempty"`

	// ScopeClaims lists the claims scopes are read from.
	// +optional
	// +kubebuilder:default={scope,scp,permissions}
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=3
	// +listType=set
	ScopeClaims []ScopeClaim `json:"scopeClaims,omitempty"`

	// DefaultAction applies to requests no route matches.
	// +optional
	// +kubebuilder:default=Deny
	DefaultAction DefaultAction `json:"defaultAction,omitempty"`

	// Mode is Enforce, or Audit to only record decisions.
	// +optional
	// +kubebuilder:default=Enforce
	Mode Mode `json:"mode,omitempty"`

	// Routes and the scopes they require. Each method+path may appear in
	// one route only; a route naming no method takes the methods no other
	// route of its path names.
	// +optional
	// +kubebuilder:validation:MaxItems=128
	// +kubebuilder:validation:XValidation:rule="self.all(r, self.exists_one(o, o.path == r.path && (has(o.methods) && size(o.methods) > 0 ? has(r.methods) && r.methods.exists(m, m in o.methods) : !has(r.methods) || size(r.methods) == 0)))",message="duplicate method+path: two routes name the same path with a common method (or both name no method); each method+path may appear in one route only"
	Routes []Route `json:"routes,omitempty"`

	// DPoP says which tokens the routes take, unless a route says
	// otherwise: Allowed (the default) takes bearer tokens and DPoP-bound
	// ones with a valid proof; Required only bound ones; Disabled only
	// bearer ones (RFC 9449).
	// +optional
	// +kubebuilder:default=Allowed
	DPoP DPoPMode `json:"dpop,omitempty"`

	// DPoPProofs tune the checks of DPoP proofs.
	// +optional
	DPoPProofs *DPoPProofs `json:"dpopProofs,omitempty"`

	// Identity tells employees apart in user tokens.
	// +optional
	Identity *Identity `json:"identity,omitempty"`

	// Resource is the API's resource identifier (RFC 9728 §1.2), served as
	// "resource" in its protected-resource metadata: an https URL without a
	// query or fragment (http only to localhost, 127.0.0.0/8 or [::1]).
	// Clients compare it with the URL they fetched the metadata from, so it
	// should be the API's public URL. Empty: the first audience.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^(https://[^/?#@]+|http://(localhost|127[.][0-9]+[.][0-9]+[.][0-9]+|[[]::1[]])(:[0-9]+)?)(/[^?#]*)?$')",message="must be an https URL without user info, query or fragment (http only to localhost, 127.0.0.0/8 or [::1])"
	Resource string `json:"resource,omitempty"`

	// CORS lets browser pages of the listed origins call the API.
	// Unset: no cross-origin access.
	// +optional
	CORS *CORS `json:"cors,omitempty"`
}

// Condition types and reasons set on a ScopePolicy.
const (
	ConditionReady = "Ready"

	ReasonLoaded          = "Loaded"
	ReasonInvalidSpec     = "InvalidSpec"
	ReasonKeysUnavailable = "KeysUnavailable"
)

// IssuerStatus reports the last JWKS fetch for an issuer.
type IssuerStatus struct {
	// URL of the issuer.
	URL string `json:"url"`
	// JWKSURI the keys were fetched from.
	// +optional
	JWKSURI string `json:"jwksURI,omitempty"`
	// LastFetchTime is when the JWKS was last fetched, successfully or not.
	// +optional
	LastFetchTime *metav1.Time `json:"lastFetchTime,omitempty"`
	// LastFetchResult is "Success" or a short error.
	// +optional
	LastFetchResult string `json:"lastFetchResult,omitempty"`
	// KeyCount is the number of keys currently held for the issuer.
	KeyCount int32 `json:"keyCount"`
}

// ScopePolicyStatus reports whether the API enforces the policy.
type ScopePolicyStatus struct {
	// ObservedGeneration is the generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready says whether this generation is enforced.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Issuers reports the key fetches per issuer.
	// +optional
	Issuers []IssuerStatus `json:"issuers,omitempty"`
	// IssuerCount is the number of issuers, for the printer columns.
	// +optional
	IssuerCount int32 `json:"issuerCount,omitempty"`
	// RouteCount is the number of routes, for the printer columns.
	// +optional
	RouteCount int32 `json:"routeCount,omitempty"`
}

// ScopePolicy tells the Timesheets API which tokens to accept and which
// scopes each route needs.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sp,categories=timesheets
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Issuers",type=integer,JSONPath=`.status.issuerCount`
// +kubebuilder:printcolumn:name="Routes",type=integer,JSONPath=`.status.routeCount`
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ScopePolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says which tokens are accepted and which scopes each route needs.
	Spec ScopePolicySpec `json:"spec"`
	// Status reports whether the API enforces this generation of the spec.
	// +optional
	Status ScopePolicyStatus `json:"status,omitempty"`
}

// ScopePolicyList is a list of ScopePolicy.
// +kubebuilder:object:root=true
type ScopePolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the ScopePolicies.
	Items []ScopePolicy `json:"items"`
}
