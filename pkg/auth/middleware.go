package auth

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/dpop"
	"github.com/abc-inc/timesheets/pkg/metrics"
	"github.com/abc-inc/timesheets/pkg/policy"
	"github.com/abc-inc/timesheets/pkg/server"
)

// Middleware enforces the policy in force on every request it wraps.
type Middleware struct {
	Policy   *policy.Holder
	Verifier *Verifier
	Logger   *slog.Logger
	// Realm is sent in WWW-Authenticate.
	Realm string
	// Metadata, when set, names the protected-resource metadata in every
	// challenge (RFC 9728 §5.1), so a client can learn where to get a token.
	Metadata *Metadata
	// Metrics counts the refusals; default the set of the verifier's keys.
	Metrics *metrics.Metrics
	// DPoP checks DPoP proofs; default a ledger in memory (one replica).
	DPoP *DPoP
}

type (
	tokenKey    struct{}
	snapshotKey struct{}
)

// snapshotFrom returns the policy the request was checked against: the one
// whose identity rules apply to it, even if another is loaded meanwhile.
func snapshotFrom(ctx context.Context) *policy.Snapshot {
	s, _ := ctx.Value(snapshotKey{}).(*policy.Snapshot)
	return s
}

// TokenFrom returns the verified token of the request, or nil (public route,
// or a failure let through by Audit mode).
func TokenFrom(ctx context.Context) *Token {
	t, _ := ctx.Value(tokenKey{}).(*Token)
	return t
}

// Subject returns the sub of the request's verified token, or "".
func Subject(ctx context.Context) string {
	if t := TokenFrom(ctx); t != nil {
		return t.Subject
	}
	return ""
}

// Wrap returns next guarded by the policy.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	if m.Metrics == nil {
		m.Metrics = m.Verifier.keys.Metrics()
	}
	metrics.InitReasons(m.Metrics, Reasons)
	if m.DPoP == nil {
		m.DPoP = &DPoP{}
	}
	if m.DPoP.Ledger == nil {
		m.DPoP.Ledger = dpop.NewMemoryLedger(DefaultMemoryLedgerSize)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		snap := m.Policy.Load()
		if snap == nil {
			server.TraceAuthReason(r.Context(), string(ReasonNoPolicy))
			m.refuse(w, r, nil, ReasonNoPolicy, metrics.RouteUnmatched, nil)
			return
		}
		route, params := snap.MatchParams(r)
		label := metrics.RouteUnmatched
		if route != nil {
			label = route.Pattern
			if route.Public {
				next.ServeHTTP(w, r)
				return
			}
		}

		tok, reason, badRequest := m.authorize(w, r, snap, route, params)
		if reason != "" {
			server.TraceAuthReason(r.Context(), string(reason)) // audit mode's would-deny too
		}
		if reason == "" {
			next.ServeHTTP(w, r.WithContext(withToken(r.Context(), snap, tok)))
			return
		}
		if snap.Audit {
			m.Metrics.AuthFailures.WithLabelValues(string(reason), label).Inc()
			m.Metrics.AuthAuditAllowed.WithLabelValues(string(reason), label).Inc()
			// A valid token that only lacks scopes still names who called:
			// what an operator checks before switching to Enforce. tok is
			// nil when it did not verify, and nothing unverified is logged.
			ctx := withToken(r.Context(), snap, tok)
			attrs := []any{"reason", reason, "route", label, "method", server.MethodLabel(r.Method)}
			if tok != nil {
				attrs = append(attrs, "caller", Caller(ctx), "client", Client(ctx))
			}
			m.Logger.Info("audit mode: request would be refused", attrs...)
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		if badRequest {
			m.invalidRequest(w, label)
			return
		}
		m.refuse(w, r, snap, reason, label, route)
	})
}

func withToken(ctx context.Context, snap *policy.Snapshot, tok *Token) context.Context {
	return context.WithValue(context.WithValue(ctx, tokenKey{}, tok), snapshotKey{}, snap)
}

// authorize authenticates the request and checks its scopes, the route's
// condition, then its step-up rules: a request that fails scopes or
// condition gets 403 even when its authentication is also insufficient, as
// authenticating again would not help it. badRequest is set (with
// ReasonMalformedToken) when the token was not sent in exactly one
// Authorization header.
func (m *Middleware) authorize(w http.ResponseWriter, r *http.Request, snap *policy.Snapshot, route *policy.Route, params map[string]string) (tok *Token, reason Reason, badRequest bool) {
	if r.URL.Query().Has("access_token") {
		return nil, ReasonMalformedToken, true // RFC 6750 §2.3 is not supported: query strings end up in logs
	}
	hdrs := r.Header.Values("Authorization")
	if len(hdrs) == 0 {
		return nil, ReasonMissingToken, false
	}
	// The scheme is case-insensitive (RFC 9110 §11.1): Bearer (RFC 6750),
	// or DPoP (RFC 9449 §7.1) with a proof in the DPoP header.
	scheme, raw, ok := strings.Cut(hdrs[0], " ")
	scheme, raw = strings.ToLower(scheme), strings.TrimSpace(raw)
	if len(hdrs) > 1 || !ok || (scheme != "bearer" && scheme != "dpop") || raw == "" {
		return nil, ReasonMalformedToken, true
	}
	// The verified-token cache holds the token's signature and claims; its
	// binding is checked below on every request, with a fresh proof.
	tok, reason = m.Verifier.Verify(r.Context(), snap, raw)
	if reason != "" {
		return nil, reason, false
	}
	if reason := m.checkDPoP(w, r, snap, route, tok, scheme, raw); reason != "" {
		return tok, reason, false
	}
	return tok, permitted(r.Context(), snap, tok, route, params, r.Method, r.URL.Path, m.Verifier.now()), false
}

// permitted decides whether a verified token may call the route (nil: no
// route matched) by the policy snap: "" or the reason it may not.
func permitted(ctx context.Context, snap *policy.Snapshot, tok *Token, route *policy.Route, params map[string]string, method, path string, now time.Time) Reason {
	if route == nil {
		if snap.DefaultAction == v1alpha1.DefaultActionAuthenticated {
			return ""
		}
		return ReasonInsufficientScope
	}
	if !hasScopes(tok, route, snap.ScopeClaims) {
		return ReasonInsufficientScope
	}
	if route.When != nil {
		// An error (a missing claim, a wrong type, the cost limit) refuses
		// like false; its text may quote claim values, so it is not logged.
		ok, err := route.When.Eval(ctx, tok.claims, method, path, params)
		if err != nil || !ok {
			return ReasonConditionFailed
		}
	}
	if !authenticatedEnough(tok, route, snap.ClockSkew, now) {
		return ReasonInsufficientUserAuthentication
	}
	return ""
}

// Permits tells whether the request's verified token would be let through
// to method and path by the policy it was verified under, as the
// middleware decides; false without a token. A handler asks it what the
// caller may learn: who approved an entry, say, only if it may read it.
func Permits(ctx context.Context, method, path string) bool {
	tok, snap := TokenFrom(ctx), snapshotFrom(ctx)
	if tok == nil || snap == nil {
		return false
	}
	r, err := http.NewRequestWithContext(ctx, method, path, nil)
	if err != nil {
		return false
	}
	route, params := snap.MatchParams(r)
	if route != nil && route.Public {
		return true
	}
	return permitted(ctx, snap, tok, route, params, method, r.URL.Path, time.Now()) == ""
}

// authenticatedEnough checks the route's step-up rules (RFC 9470 §2): the
// token's acr is one of acrValues, and its auth_time is at most maxAuthAge
// ago (a token without auth_time, or with one in the future, falls short).
func authenticatedEnough(t *Token, route *policy.Route, skew time.Duration, now time.Time) bool {
	if len(route.AcrValues) > 0 && !slices.Contains(route.AcrValues, t.acr) {
		return false
	}
	if route.MaxAuthAge > 0 {
		if t.authTime.IsZero() || t.authTime.After(now.Add(skew)) || now.After(t.authTime.Add(route.MaxAuthAge+skew)) {
			return false
		}
	}
	return true
}

func hasScopes(t *Token, route *policy.Route, claimNames []string) bool {
	if len(route.Scopes) == 0 {
		return true
	}
	for _, s := range route.Scopes {
		has := t.HasScope(s, claimNames)
		if route.MatchAny && has {
			return true
		}
		if !route.MatchAny && !has {
			return false
		}
	}
	return !route.MatchAny
}

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Scope       string `json:"scope,omitempty"`
}

// refuse answers per RFC 6750 §3: no error code when the token is missing,
// invalid_token for a bad token, insufficient_scope with the scopes needed;
// per RFC 9470 §3 insufficient_user_authentication with what the route
// requires; per RFC 9449 §7.1 invalid_dpop_proof or use_dpop_nonce in a
// DPoP challenge. Where the route takes DPoP, a 401 names the DPoP scheme
// too (only it, where only DPoP-bound tokens are taken). route is nil when
// no route matched; snap when no policy is in force.
func (m *Middleware) refuse(w http.ResponseWriter, r *http.Request, snap *policy.Snapshot, reason Reason, label string, route *policy.Route) {
	m.Metrics.AuthFailures.WithLabelValues(string(reason), label).Inc()
	m.Logger.Debug("request refused", "reason", reason, "route", label, "method", server.MethodLabel(r.Method))

	body := errorBody{Description: description[reason]}
	var (
		params   string // the challenge's parameters after its scheme's own
		dpopOnly bool   // an error of the DPoP scheme (RFC 9449 §7.1)
	)
	switch reason {
	case ReasonMissingToken:
		body.Error = "unauthorized"
	case ReasonInsufficientScope:
		body.Error = "insufficient_scope"
		if route != nil {
			body.Scope = strings.Join(route.Scopes, " ")
		}
		params = `, error="insufficient_scope", error_description="` + body.Description + `"`
		if body.Scope != "" {
			params += `, scope="` + body.Scope + `"`
		}
	case ReasonConditionFailed:
		// Another token of the same client would not help, and the
		// condition is policy, not something to tell a client.
		body.Error = "access_denied"
	case ReasonInsufficientUserAuthentication:
		body.Error = "insufficient_user_authentication"
		params = `, error="insufficient_user_authentication", error_description="` + body.Description + `"`
		if len(route.AcrValues) > 0 {
			params += `, acr_values="` + strings.Join(route.AcrValues, " ") + `"`
		}
		if route.MaxAuthAge > 0 {
			// Quoted, as in RFC 9470 §3's example; a token is valid too (RFC 9110 §11.2).
			params += `, max_age="` + strconv.FormatInt(int64(route.MaxAuthAge/time.Second), 10) + `"`
		}
	case ReasonNoPolicy, ReasonKeysUnavailable, ReasonDPoPUnavailable:
		body.Error = "temporarily_unavailable"
		w.Header().Set("Retry-After", "5")
	case ReasonDPoPInvalidProof, ReasonDPoPProofMismatch, ReasonDPoPReplay, ReasonDPoPNonce,
		ReasonDPoPRequired, ReasonDPoPNotBound, ReasonDPoPUnsupportedBinding:
		body.Error, dpopOnly = "invalid_token", true
		switch reason {
		case ReasonDPoPInvalidProof, ReasonDPoPProofMismatch, ReasonDPoPReplay:
			body.Error = "invalid_dpop_proof"
		case ReasonDPoPNonce:
			body.Error = "use_dpop_nonce"
		}
		params = `, error="` + body.Error + `", error_description="` + body.Description + `"`
	default:
		body.Error = "invalid_token"
		params = `, error="invalid_token", error_description="` + body.Description + `"`
	}
	if reason.status() == http.StatusUnauthorized || reason == ReasonInsufficientScope {
		if m.Metadata != nil {
			params += `, resource_metadata="` + m.Metadata.URL(r) + `"`
		}
		mode := v1alpha1.DPoPDisabled
		if snap != nil {
			mode = snap.DPoPFor(route)
		}
		if !dpopOnly && mode != v1alpha1.DPoPRequired {
			w.Header().Add("WWW-Authenticate", `Bearer realm="`+m.Realm+`"`+params)
		}
		if dpopOnly || mode != v1alpha1.DPoPDisabled {
			w.Header().Add("WWW-Authenticate", dpopChallenge(snap)+params)
		}
	}
	writeJSON(w, reason.status(), body)
}

func (m *Middleware) invalidRequest(w http.ResponseWriter, route string) {
	m.Metrics.AuthFailures.WithLabelValues(string(ReasonMalformedToken), route).Inc()
	const d = "send the access token only in one Authorization header: Bearer <token>"
	w.Header().Set("WWW-Authenticate", `Bearer realm="`+m.Realm+`", error="invalid_request", error_description="`+d+`"`)
	writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid_request", Description: d})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
