// Package policytest holds the one table of ScopePolicy specs that both the
// CRD (on a real kube-apiserver, pkg/controller) and policy.Compile
// (pkg/policy) must judge alike, so the two rule sets cannot drift.
package policytest

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
)

// Case is a spec and its verdict.
type Case struct {
	Name  string
	Spec  v1alpha1.ScopePolicySpec
	Valid bool
}

// Base is a valid spec every case starts from.
func Base() v1alpha1.ScopePolicySpec {
	return v1alpha1.ScopePolicySpec{
		Issuers:   []v1alpha1.Issuer{{URL: "https://abc.eu.auth0.com/"}},
		Audiences: []string{"https://timesheets.abc-inc.example/"},
		Routes: []v1alpha1.Route{
			{Path: "/timesheets", Methods: []string{"GET"}, Scopes: []string{"read:timesheets"}},
			{Path: "/timesheets", Methods: []string{"POST"}, Scopes: []string{"create:timesheets"}},
			{Path: "/timesheets/{id}", Scopes: []string{"read:timesheets"}},
			{Path: "/healthcheck", Public: true},
		},
	}
}

func with(mutate func(*v1alpha1.ScopePolicySpec)) v1alpha1.ScopePolicySpec {
	s := Base()
	mutate(&s)
	return s
}

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func scope(s string) func(*v1alpha1.ScopePolicySpec) {
	return func(p *v1alpha1.ScopePolicySpec) { p.Routes[0].Scopes = []string{s} }
}

func issuerURL(u string) func(*v1alpha1.ScopePolicySpec) {
	return func(p *v1alpha1.ScopePolicySpec) { p.Issuers[0].URL = u }
}

func n[T any](count int, f func(i int) T) []T {
	out := make([]T, count)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

func routes(count int) []v1alpha1.Route {
	return n(count, func(i int) v1alpha1.Route {
		return v1alpha1.Route{Path: fmt.Sprintf("/r%d", i), Methods: []string{"GET"}, Scopes: []string{"read:timesheets"}}
	})
}

func route0(f func(*v1alpha1.Route)) func(*v1alpha1.ScopePolicySpec) {
	return func(p *v1alpha1.ScopePolicySpec) { f(&p.Routes[0]) }
}

func when(expr string) func(*v1alpha1.ScopePolicySpec) {
	return route0(func(r *v1alpha1.Route) { r.When = expr })
}

// longCondition is a valid condition of n characters, not bytes: the
// schema's maxLength counts characters.
func longCondition(n int) string { return `"` + strings.Repeat("ä", n-8) + `" != ""` }

func acr(v ...string) func(*v1alpha1.ScopePolicySpec) {
	return route0(func(r *v1alpha1.Route) { r.AcrValues = v })
}

func authAge(d time.Duration) func(*v1alpha1.ScopePolicySpec) {
	return route0(func(r *v1alpha1.Route) { r.MaxAuthAge = dur(d) })
}

func identity(claim, scope string) func(*v1alpha1.ScopePolicySpec) {
	return func(p *v1alpha1.ScopePolicySpec) {
		p.Identity = &v1alpha1.Identity{EmployeeClaim: claim, AllEntriesScope: scope}
	}
}

func tokenType(t string) func(*v1alpha1.ScopePolicySpec) {
	return func(p *v1alpha1.ScopePolicySpec) { p.RequireTokenType = t }
}

func resource(r string) func(*v1alpha1.ScopePolicySpec) {
	return func(p *v1alpha1.ScopePolicySpec) { p.Resource = r }
}

func origins(o ...v1alpha1.Origin) func(*v1alpha1.ScopePolicySpec) {
	return func(p *v1alpha1.ScopePolicySpec) { p.CORS = &v1alpha1.CORS{AllowedOrigins: o} }
}

func corsHeaders(h ...v1alpha1.HeaderName) func(*v1alpha1.ScopePolicySpec) {
	return func(p *v1alpha1.ScopePolicySpec) {
		p.CORS = &v1alpha1.CORS{AllowedOrigins: []v1alpha1.Origin{"https://app.example"}, AllowedHeaders: h}
	}
}

func corsMaxAge(d time.Duration) func(*v1alpha1.ScopePolicySpec) {
	return func(p *v1alpha1.ScopePolicySpec) {
		p.CORS = &v1alpha1.CORS{AllowedOrigins: []v1alpha1.Origin{"https://app.example"}, MaxAge: dur(d)}
	}
}

func maxAge(d time.Duration) func(*v1alpha1.ScopePolicySpec) {
	return func(p *v1alpha1.ScopePolicySpec) { p.MaxTokenAge = dur(d) }
}

// Cases are judged alike by the CRD and by Compile.
func Cases() []Case {
	valid := func(name string, m func(*v1alpha1.ScopePolicySpec)) Case { return Case{name, with(m), true} }
	invalid := func(name string, m func(*v1alpha1.ScopePolicySpec)) Case { return Case{name, with(m), false} }
	return []Case{
		valid("base", func(*v1alpha1.ScopePolicySpec) {}),
		valid("every field set", func(p *v1alpha1.ScopePolicySpec) {
			p.Algorithms = []v1alpha1.Algorithm{"RS256", "ES256", "EdDSA"}
			p.ClockSkew = dur(time.Minute)
			p.ScopeClaims = []v1alpha1.ScopeClaim{"scope", "permissions"}
			p.DefaultAction = v1alpha1.DefaultActionAuthenticated
			p.Mode = v1alpha1.ModeAudit
			p.RequireTokenType = "at+jwt"
			p.MaxTokenAge = dur(time.Hour)
			p.Routes[0].Match = v1alpha1.MatchAny
		}),

		// Issuers.
		invalid("no issuers", func(p *v1alpha1.ScopePolicySpec) { p.Issuers = nil }),
		valid("8 issuers", func(p *v1alpha1.ScopePolicySpec) {
			p.Issuers = n(8, func(i int) v1alpha1.Issuer { return v1alpha1.Issuer{URL: fmt.Sprintf("https://i%d.example/", i)} })
		}),
		invalid("9 issuers", func(p *v1alpha1.ScopePolicySpec) {
			p.Issuers = n(9, func(i int) v1alpha1.Issuer { return v1alpha1.Issuer{URL: fmt.Sprintf("https://i%d.example/", i)} })
		}),
		invalid("duplicate issuer", func(p *v1alpha1.ScopePolicySpec) { p.Issuers = append(p.Issuers, p.Issuers[0]) }),
		valid("issuer URL of 512 bytes", issuerURL("https://abc.example/"+strings.Repeat("a", 512-20))),
		invalid("issuer URL of 513 bytes", issuerURL("https://abc.example/"+strings.Repeat("a", 513-20))),
		valid("http issuer on 127.0.0.1", issuerURL("http://127.0.0.1:9443/")),
		valid("http issuer on localhost", issuerURL("http://localhost/")),
		valid("http issuer on [::1]", issuerURL("http://[::1]:8080/")),
		invalid("http issuer off loopback", issuerURL("http://abc.eu.auth0.com/")),
		invalid("http issuer on LOCALHOST", issuerURL("http://LOCALHOST/")),
		invalid("http issuer on a mapped loopback address", issuerURL("http://[::ffff:127.0.0.1]/")),
		invalid("issuer scheme in upper case", issuerURL("HTTPS://abc.eu.auth0.com/")),
		invalid("http JWKS off loopback", func(p *v1alpha1.ScopePolicySpec) { p.Issuers[0].JWKSURI = "http://10.0.0.7/jwks.json" }),
		invalid("JWKS URL of 513 bytes", func(p *v1alpha1.ScopePolicySpec) {
			p.Issuers[0].JWKSURI = "https://abc.example/" + strings.Repeat("a", 513-20)
		}),

		// Audiences.
		invalid("no audiences", func(p *v1alpha1.ScopePolicySpec) { p.Audiences = nil }),
		valid("16 audiences", func(p *v1alpha1.ScopePolicySpec) {
			p.Audiences = n(16, func(i int) string { return fmt.Sprintf("https://a%d.example/", i) })
		}),
		invalid("17 audiences", func(p *v1alpha1.ScopePolicySpec) {
			p.Audiences = n(17, func(i int) string { return fmt.Sprintf("https://a%d.example/", i) })
		}),
		invalid("empty audience", func(p *v1alpha1.ScopePolicySpec) { p.Audiences = []string{""} }),
		invalid("duplicate audience", func(p *v1alpha1.ScopePolicySpec) { p.Audiences = append(p.Audiences, p.Audiences[0]) }),
		valid("audience of 512 bytes", func(p *v1alpha1.ScopePolicySpec) { p.Audiences = []string{strings.Repeat("a", 512)} }),
		invalid("audience of 513 bytes", func(p *v1alpha1.ScopePolicySpec) { p.Audiences = []string{strings.Repeat("a", 513)} }),

		// Algorithms, clock skew, scope claims, actions.
		invalid("HS256", func(p *v1alpha1.ScopePolicySpec) { p.Algorithms = []v1alpha1.Algorithm{"HS256"} }),
		invalid("none", func(p *v1alpha1.ScopePolicySpec) { p.Algorithms = []v1alpha1.Algorithm{"none"} }),
		invalid("duplicate algorithm", func(p *v1alpha1.ScopePolicySpec) { p.Algorithms = []v1alpha1.Algorithm{"RS256", "RS256"} }),
		valid("clock skew 0s", func(p *v1alpha1.ScopePolicySpec) { p.ClockSkew = dur(0) }),
		valid("clock skew 5m", func(p *v1alpha1.ScopePolicySpec) { p.ClockSkew = dur(5 * time.Minute) }),
		invalid("clock skew 6m", func(p *v1alpha1.ScopePolicySpec) { p.ClockSkew = dur(6 * time.Minute) }),
		invalid("negative clock skew", func(p *v1alpha1.ScopePolicySpec) { p.ClockSkew = dur(-time.Second) }),
		invalid("scope claim roles", func(p *v1alpha1.ScopePolicySpec) { p.ScopeClaims = []v1alpha1.ScopeClaim{"roles"} }),
		invalid("duplicate scope claim", func(p *v1alpha1.ScopePolicySpec) { p.ScopeClaims = []v1alpha1.ScopeClaim{"scp", "scp"} }),
		invalid("default action Allow", func(p *v1alpha1.ScopePolicySpec) { p.DefaultAction = "Allow" }),
		invalid("mode DryRun", func(p *v1alpha1.ScopePolicySpec) { p.Mode = "DryRun" }),

		// Token type and age.
		valid("token type application/at+jwt", tokenType("application/at+jwt")),
		valid("token type in mixed case", tokenType("Application/AT+JWT")),
		invalid("token type under text/", tokenType("text/at+jwt")),
		invalid("token type with a parameter", tokenType("at+jwt; charset=utf-8")),
		invalid("token type starting with +", tokenType("+jwt")),
		invalid("token type of 129 bytes", tokenType(strings.Repeat("a", 129))),
		valid("max token age 1m", maxAge(time.Minute)),
		valid("max token age 720h", maxAge(720*time.Hour)),
		invalid("max token age 30s", maxAge(30*time.Second)),
		invalid("max token age 721h", maxAge(721*time.Hour)),
		invalid("max token age 0", maxAge(0)),
		invalid("negative max token age", maxAge(-time.Hour)),

		// Routes.
		valid("no routes", func(p *v1alpha1.ScopePolicySpec) { p.Routes = nil }),
		valid("128 routes", func(p *v1alpha1.ScopePolicySpec) { p.Routes = routes(128) }),
		invalid("129 routes", func(p *v1alpha1.ScopePolicySpec) { p.Routes = routes(129) }),
		invalid("relative path", func(p *v1alpha1.ScopePolicySpec) { p.Routes[0].Path = "timesheets" }),
		valid("path of 256 bytes", func(p *v1alpha1.ScopePolicySpec) { p.Routes[0].Path = "/" + strings.Repeat("a", 255) }),
		invalid("path of 257 bytes", func(p *v1alpha1.ScopePolicySpec) { p.Routes[0].Path = "/" + strings.Repeat("a", 256) }),
		invalid("method FETCH", func(p *v1alpha1.ScopePolicySpec) { p.Routes[0].Methods = []string{"FETCH"} }),
		invalid("method in lower case", func(p *v1alpha1.ScopePolicySpec) { p.Routes[0].Methods = []string{"get"} }),
		invalid("method listed twice", func(p *v1alpha1.ScopePolicySpec) { p.Routes[0].Methods = []string{"GET", "GET"} }),
		invalid("two routes with one method+path", func(p *v1alpha1.ScopePolicySpec) { p.Routes[1].Methods = []string{"PUT", "GET"} }),
		invalid("two method-less routes of one path", func(p *v1alpha1.ScopePolicySpec) {
			p.Routes = append(p.Routes, v1alpha1.Route{Path: "/timesheets/{id}", Scopes: []string{"admin"}})
		}),
		invalid("public and scoped", func(p *v1alpha1.ScopePolicySpec) { p.Routes[3].Scopes = []string{"x"} }),
		invalid("match Some", func(p *v1alpha1.ScopePolicySpec) { p.Routes[0].Match = "Some" }),

		// Scopes: RFC 6749 §3.3 scope-tokens, as a token's scopes are parsed.
		valid("scope with every allowed punctuation", scope("!#$%&'()*+,-./:;<=>?@[]^_`{|}~")),
		valid("scope of 128 bytes", scope(strings.Repeat("s", 128))),
		invalid("scope of 129 bytes", scope(strings.Repeat("s", 129))),
		invalid("empty scope", scope("")),
		invalid("scope with a space", scope("read timesheets")),
		invalid("scope with a tab", scope("read\ttimesheets")),
		invalid("scope with a newline", scope("read\ntimesheets")),
		invalid("scope with a no-break space", scope("read\u00a0timesheets")),
		invalid("scope with a quote", scope(`read"timesheets`)),
		invalid("scope with a backslash", scope(`read\timesheets`)),
		invalid("scope with a DEL", scope("read\x7f")),
		invalid("scope with a non-ASCII letter", scope("lesen:zeitbl\u00e4tter")),
		valid("32 scopes", func(p *v1alpha1.ScopePolicySpec) {
			p.Routes[0].Scopes = n(32, func(i int) string { return fmt.Sprintf("s%d", i) })
		}),
		invalid("33 scopes", func(p *v1alpha1.ScopePolicySpec) {
			p.Routes[0].Scopes = n(33, func(i int) string { return fmt.Sprintf("s%d", i) })
		}),
		invalid("scope listed twice", func(p *v1alpha1.ScopePolicySpec) { p.Routes[0].Scopes = []string{"a", "a"} }),

		// Conditions: their CEL is checked by Compile only (CompileOnly);
		// the schema bounds their size.
		valid("condition", when(`!has(claims.gty) || claims.gty != "client-credentials"`)),
		valid("condition of 1024 characters", when(longCondition(1024))),
		invalid("condition of 1025 characters", when(longCondition(1025))),
		invalid("public route with a condition", func(p *v1alpha1.ScopePolicySpec) { p.Routes[3].When = "true" }),

		// Step-up (RFC 9470).
		valid("acr values", acr("http://schemas.openid.net/pape/policies/2007/06/multi-factor", "urn:mace:incommon:iap:silver")),
		valid("8 acr values", acr(n(8, func(i int) string { return fmt.Sprintf("acr%d", i) })...)),
		invalid("9 acr values", acr(n(9, func(i int) string { return fmt.Sprintf("acr%d", i) })...)),
		invalid("empty acr value", acr("")),
		invalid("acr value with a space", acr("multi factor")),
		invalid("acr value with a quote", acr(`mf"a`)),
		invalid("acr value listed twice", acr("mfa", "mfa")),
		valid("acr value of 256 bytes", acr(strings.Repeat("a", 256))),
		invalid("acr value of 257 bytes", acr(strings.Repeat("a", 257))),
		valid("max auth age 1s", authAge(time.Second)),
		valid("max auth age 15m", authAge(15*time.Minute)),
		invalid("max auth age 999ms", authAge(999*time.Millisecond)),
		invalid("max auth age 0", authAge(0)),
		invalid("public route with acr values", func(p *v1alpha1.ScopePolicySpec) { p.Routes[3].AcrValues = []string{"mfa"} }),
		invalid("public route with a max auth age", func(p *v1alpha1.ScopePolicySpec) { p.Routes[3].MaxAuthAge = dur(time.Minute) }),

		// Identity.
		valid("identity", identity("https://abc-inc.example/employee_id", "read:all-timesheets")),
		valid("identity without an all-entries scope", identity("https://abc-inc.example/employee_id", "")),
		invalid("identity without a claim", identity("", "read:all-timesheets")),
		valid("employee claim of 256 characters", identity(strings.Repeat("ü", 256), "")),
		invalid("employee claim of 257 characters", identity(strings.Repeat("ü", 257), "")),
		invalid("all-entries scope with a space", identity("employee_id", "read all")),
		invalid("all-entries scope of 129 bytes", identity("employee_id", strings.Repeat("s", 129))),

		// Resource identifier (RFC 9728 §1.2).
		valid("resource", resource("https://api.abc-inc.example/timesheets")),
		valid("resource without a path", resource("https://api.abc-inc.example")),
		valid("http resource on loopback", resource("http://127.0.0.1:8080/")),
		invalid("http resource off loopback", resource("http://api.abc-inc.example/")),
		invalid("resource with a fragment", resource("https://api.abc-inc.example/#x")),
		invalid("resource with a query", resource("https://api.abc-inc.example/?v=1")),
		invalid("resource with user info", resource("https://u@api.abc-inc.example/")),
		invalid("resource that is a URN", resource("urn:abc:timesheets")),
		invalid("resource of 513 bytes", resource("https://abc.example/"+strings.Repeat("a", 513-20))),

		// CORS origins: exact, as a browser's Origin header spells them.
		valid("origin", origins("https://app.abc-inc.example")),
		valid("origin with a port", origins("https://app.abc-inc.example:8443")),
		valid("origin on an IP", origins("https://10.0.0.7")),
		valid("http origin on localhost", origins("http://localhost:5173")),
		valid("http origin on 127.0.0.1", origins("http://127.0.0.1:3000")),
		valid("http origin on [::1]", origins("http://[::1]:3000")),
		valid("32 origins", origins(n(32, func(i int) v1alpha1.Origin { return v1alpha1.Origin(fmt.Sprintf("https://a%d.example", i)) })...)),
		invalid("33 origins", origins(n(33, func(i int) v1alpha1.Origin { return v1alpha1.Origin(fmt.Sprintf("https://a%d.example", i)) })...)),
		invalid("no origins", origins()),
		invalid("wildcard origin", origins("*")),
		invalid("wildcard subdomain origin", origins("https://*.abc-inc.example")),
		invalid("null origin", origins("null")),
		invalid("http origin off loopback", origins("http://app.abc-inc.example")),
		invalid("origin with a path", origins("https://app.abc-inc.example/")),
		invalid("origin in upper case", origins("https://App.abc-inc.example")),
		invalid("origin with the default https port", origins("https://app.abc-inc.example:443")),
		invalid("origin with the default http port", origins("http://localhost:80")),
		invalid("origin with user info", origins("https://u@app.abc-inc.example")),
		invalid("duplicate origin", origins("https://app.example", "https://app.example")),
		invalid("origin of 257 bytes", origins(v1alpha1.Origin("https://"+strings.Repeat("a", 257-8)))),

		// CORS headers and max age.
		valid("allowed headers", corsHeaders("traceparent", "X-Request-Id", "authorization")),
		invalid("wildcard header", corsHeaders("*")),
		invalid("header with a colon", corsHeaders("X-A:b")),
		invalid("header with a space", corsHeaders("X A")),
		invalid("empty header", corsHeaders("")),
		invalid("header of 65 bytes", corsHeaders(v1alpha1.HeaderName(strings.Repeat("h", 65)))),
		valid("16 headers", corsHeaders(n(16, func(i int) v1alpha1.HeaderName { return v1alpha1.HeaderName(fmt.Sprintf("X-H%d", i)) })...)),
		invalid("17 headers", corsHeaders(n(17, func(i int) v1alpha1.HeaderName { return v1alpha1.HeaderName(fmt.Sprintf("X-H%d", i)) })...)),
		valid("CORS max age 0", corsMaxAge(0)),
		valid("CORS max age 24h", corsMaxAge(24*time.Hour)),
		invalid("CORS max age 25h", corsMaxAge(25*time.Hour)),
		invalid("negative CORS max age", corsMaxAge(-time.Second)),
	}
}

// CompileOnly are specs the CRD admits but Compile refuses: rules no
// OpenAPI schema or CEL rule can state (net/http's pattern syntax and
// conflicts, a URL's parts). The API keeps its last good policy and reports
// Ready=False/InvalidSpec for them.
func CompileOnly() []Case {
	invalid := func(name string, m func(*v1alpha1.ScopePolicySpec)) Case { return Case{name, with(m), false} }
	return []Case{
		invalid("patterns net/http finds ambiguous", func(p *v1alpha1.ScopePolicySpec) {
			p.Routes = append(p.Routes,
				v1alpha1.Route{Path: "/a/{x}", Methods: []string{"GET"}},
				v1alpha1.Route{Path: "/{y}/b", Methods: []string{"GET"}})
		}),
		invalid("bad pattern syntax", func(p *v1alpha1.ScopePolicySpec) { p.Routes[0].Path = "/a/{x" }),
		invalid("issuer URL without a host", issuerURL("https://")),
		invalid("issuer URL with user info", issuerURL("https://user@abc.eu.auth0.com/")),
		invalid("issuer URL with a query", issuerURL("https://abc.eu.auth0.com/?tenant=x")),
		invalid("condition that does not parse", when(`claims.gty ==`)),
		invalid("condition with an undeclared variable", when(`request.auth.claims.sub == "x"`)),
		invalid("condition that is not boolean", when(`claims.sub`)),
		invalid("condition of type string", when(`method + path`)),
		invalid("condition with an unknown function", when(`claims.sub.startsWithX("a")`)),
		invalid("condition nested too deep", when(strings.Repeat("(", 40)+"true"+strings.Repeat(")", 40))),
	}
}
