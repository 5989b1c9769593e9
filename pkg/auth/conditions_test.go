package auth_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/auth"
)

const (
	mfa        = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
	orgClaim   = "https://abc-inc.example/org_id"
	rolesClaim = "https://abc-inc.example/roles"
	empClaim   = "https://abc-inc.example/employee_id"
)

// userToken signs the env's usual claims for a user, with extra claims set
// (a nil value deletes the claim; json.RawMessage("null") sends null).
func (e *env) userToken(t *testing.T, scope string, extra map[string]any) string {
	c := e.claims(scope)
	c["sub"] = "auth0|alice"
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return e.is.sign(t, jwt.SigningMethodRS256, "rsa-1", c)
}

func conditionSpec(s *v1alpha1.ScopePolicySpec) {
	s.Routes = append(s.Routes,
		// has() guard, a namespaced claim and a nested claim.
		v1alpha1.Route{Path: "/people/{id}/approve", Methods: []string{"POST"}, Scopes: []string{"approve:timesheets"},
			When: `(!has(claims.gty) || claims.gty != "client-credentials") && claims["` + orgClaim + `"] == "org_abc"`},
		// Path parameters and a claim list.
		v1alpha1.Route{Path: "/people/{id}", Methods: []string{"GET"}, Scopes: []string{"read:timesheets"},
			When: `params.id == claims.sub || claims["` + rolesClaim + `"].exists(r, r == "manager")`},
		// method, path and a nested claim, on a method-less route.
		v1alpha1.Route{Path: "/reports/{rest...}", Scopes: []string{"read:timesheets"},
			When: `method == "GET" && path.startsWith("/reports/eu/") && claims.ext.region.name == "eu"`},
	)
}

func TestConditions(t *testing.T) {
	e := newEnv(t, conditionSpec)
	const approve = "POST /people/{id}/approve"
	cases := []struct {
		name         string
		method, path string
		scope        string
		extra        map[string]any
		status       int
		reason       auth.Reason
		route        string
	}{
		{"true: a person of the organisation", "POST", "/people/7/approve", "approve:timesheets", map[string]any{orgClaim: "org_abc"}, 200, "", approve},
		{"has() guard: gty of another kind", "POST", "/people/7/approve", "approve:timesheets", map[string]any{orgClaim: "org_abc", "gty": "password"}, 200, "", approve},
		{"false: a machine token", "POST", "/people/7/approve", "approve:timesheets", map[string]any{orgClaim: "org_abc", "gty": "client-credentials"}, 403, auth.ReasonConditionFailed, approve},
		{"false: another organisation", "POST", "/people/7/approve", "approve:timesheets", map[string]any{orgClaim: "org_xyz"}, 403, auth.ReasonConditionFailed, approve},
		{"error: the organisation claim is missing", "POST", "/people/7/approve", "approve:timesheets", nil, 403, auth.ReasonConditionFailed, approve},
		{"error: the organisation claim is a number", "POST", "/people/7/approve", "approve:timesheets", map[string]any{orgClaim: 42}, 403, auth.ReasonConditionFailed, approve},
		{"error: the organisation claim is null", "POST", "/people/7/approve", "approve:timesheets", map[string]any{orgClaim: json.RawMessage("null")}, 403, auth.ReasonConditionFailed, approve},
		// CEL compares values of different types as unequal, not as an
		// error: an allow-list (==) refuses them, a deny-list (!=) does not.
		{"false: the organisation as a list", "POST", "/people/7/approve", "approve:timesheets", map[string]any{orgClaim: []string{"org_abc"}}, 403, auth.ReasonConditionFailed, approve},
		{"scopes first: no scope and a false condition", "POST", "/people/7/approve", "read:timesheets", map[string]any{"gty": "client-credentials"}, 403, auth.ReasonInsufficientScope, approve},

		{"params: one's own id", "GET", "/people/auth0%7Calice", "read:timesheets", nil, 200, "", "GET /people/{id}"},
		{"params: another's id", "GET", "/people/auth0%7Cbob", "read:timesheets", nil, 403, auth.ReasonConditionFailed, "GET /people/{id}"},
		{"params: another's id, as a manager", "GET", "/people/auth0%7Cbob", "read:timesheets", map[string]any{rolesClaim: []string{"employee", "manager"}}, 200, "", "GET /people/{id}"},
		{"params: roles of the wrong type", "GET", "/people/auth0%7Cbob", "read:timesheets", map[string]any{rolesClaim: "manager"}, 403, auth.ReasonConditionFailed, "GET /people/{id}"},

		{"method, path and a nested claim", "GET", "/reports/eu/2026", "read:timesheets", map[string]any{"ext": map[string]any{"region": map[string]any{"name": "eu"}}}, 200, "", "/reports/{rest...}"},
		{"another method", "DELETE", "/reports/eu/2026", "read:timesheets", map[string]any{"ext": map[string]any{"region": map[string]any{"name": "eu"}}}, 403, auth.ReasonConditionFailed, "/reports/{rest...}"},
		{"another path", "GET", "/reports/us/2026", "read:timesheets", map[string]any{"ext": map[string]any{"region": map[string]any{"name": "eu"}}}, 403, auth.ReasonConditionFailed, "/reports/{rest...}"},
		{"nested claim missing a level", "GET", "/reports/eu/2026", "read:timesheets", map[string]any{"ext": map[string]any{"name": "eu"}}, 403, auth.ReasonConditionFailed, "/reports/{rest...}"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before float64
			if tc.reason != "" {
				before = e.failures(tc.reason, tc.route)
			}
			r := e.call(t, tc.method, tc.path, "Bearer "+e.userToken(t, tc.scope, tc.extra))
			require.Equal(t, tc.status, r.status, r.text)
			if tc.reason == "" {
				return
			}
			require.Equal(t, before+1, e.failures(tc.reason, tc.route))
			if tc.reason == auth.ReasonConditionFailed {
				require.Equal(t, "access_denied", r.body["error"])
				require.Equal(t, "the access token does not meet the conditions of this request", r.body["error_description"])
				require.Empty(t, r.challenge, "authenticating again does not help")
			}
		})
	}
}

func TestConditionAudit(t *testing.T) {
	e := newEnv(t, func(s *v1alpha1.ScopePolicySpec) {
		conditionSpec(s)
		s.Mode = v1alpha1.ModeAudit
	})
	const route = "POST /people/{id}/approve"
	audited := func() float64 {
		return e.audited(auth.ReasonConditionFailed, route)
	}
	before, failed := audited(), e.failures(auth.ReasonConditionFailed, route)
	r := e.call(t, "POST", "/people/7/approve", "Bearer "+e.userToken(t, "approve:timesheets", map[string]any{"gty": "client-credentials"}))
	require.Equal(t, 200, r.status)
	require.Equal(t, "auth0|alice", r.text, "the caller is known")
	require.Equal(t, before+1, audited())
	require.Equal(t, failed+1, e.failures(auth.ReasonConditionFailed, route))
}

func stepUpSpec(acr []string, age time.Duration) func(*v1alpha1.ScopePolicySpec) {
	return func(s *v1alpha1.ScopePolicySpec) {
		s.ClockSkew = &metav1.Duration{Duration: 30 * time.Second}
		r := v1alpha1.Route{Path: "/people/{id}/approve", Methods: []string{"POST"}, Scopes: []string{"approve:timesheets"},
			When: `!has(claims.gty) || claims.gty != "client-credentials"`, AcrValues: acr}
		if age > 0 {
			r.MaxAuthAge = &metav1.Duration{Duration: age}
		}
		s.Routes = append(s.Routes, r)
	}
}

func TestStepUp(t *testing.T) {
	e := newEnv(t, stepUpSpec([]string{mfa, "urn:abc:loa:3"}, 5*time.Minute))
	const route = "POST /people/{id}/approve"
	const want = `Bearer realm="timesheets", error="insufficient_user_authentication", ` +
		`error_description="the user must authenticate again, with a stronger method or more recently, for this request", ` +
		`acr_values="` + mfa + ` urn:abc:loa:3", max_age="300"`
	now := time.Now()
	cases := []struct {
		name   string
		scope  string
		extra  map[string]any
		status int
		reason auth.Reason
	}{
		{"multi-factor, just now", "approve:timesheets", map[string]any{"acr": mfa, "auth_time": now.Unix()}, 200, ""},
		{"the other class, 4 minutes ago", "approve:timesheets", map[string]any{"acr": "urn:abc:loa:3", "auth_time": now.Add(-4 * time.Minute).Unix()}, 200, ""},
		{"within the clock skew of max age", "approve:timesheets", map[string]any{"acr": mfa, "auth_time": now.Add(-5*time.Minute - 20*time.Second).Unix()}, 200, ""},
		{"no acr", "approve:timesheets", map[string]any{"auth_time": now.Unix()}, 401, auth.ReasonInsufficientUserAuthentication},
		{"another acr", "approve:timesheets", map[string]any{"acr": "http://schemas.openid.net/pape/policies/2007/06/phishing-resistant", "auth_time": now.Unix()}, 401, auth.ReasonInsufficientUserAuthentication},
		{"acr differs in case", "approve:timesheets", map[string]any{"acr": "URN:ABC:LOA:3", "auth_time": now.Unix()}, 401, auth.ReasonInsufficientUserAuthentication},
		{"acr a list", "approve:timesheets", map[string]any{"acr": []string{mfa}, "auth_time": now.Unix()}, 401, auth.ReasonInsufficientUserAuthentication},
		{"no auth_time", "approve:timesheets", map[string]any{"acr": mfa}, 401, auth.ReasonInsufficientUserAuthentication},
		{"auth_time too old", "approve:timesheets", map[string]any{"acr": mfa, "auth_time": now.Add(-6 * time.Minute).Unix()}, 401, auth.ReasonInsufficientUserAuthentication},
		{"auth_time a string", "approve:timesheets", map[string]any{"acr": mfa, "auth_time": "1999999999"}, 401, auth.ReasonInsufficientUserAuthentication},
		{"auth_time in the future", "approve:timesheets", map[string]any{"acr": mfa, "auth_time": now.Add(10 * time.Minute).Unix()}, 401, auth.ReasonInsufficientUserAuthentication},
		// 403 wins: authenticating again would not help these.
		{"no scope and no acr", "read:timesheets", nil, 403, auth.ReasonInsufficientScope},
		{"a machine token without acr", "approve:timesheets", map[string]any{"gty": "client-credentials"}, 403, auth.ReasonConditionFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before float64
			if tc.reason != "" {
				before = e.failures(tc.reason, route)
			}
			r := e.call(t, "POST", "/people/7/approve", "Bearer "+e.userToken(t, tc.scope, tc.extra))
			require.Equal(t, tc.status, r.status, r.text)
			if tc.reason == "" {
				return
			}
			require.Equal(t, before+1, e.failures(tc.reason, route))
			if tc.reason == auth.ReasonInsufficientUserAuthentication {
				require.Equal(t, want, r.challenge)
				require.Equal(t, "insufficient_user_authentication", r.body["error"])
			}
		})
	}
}

// RFC 9470 §3: the challenge carries only the parameters the route sets.
func TestStepUpChallengeParameters(t *testing.T) {
	const prefix = `Bearer realm="timesheets", error="insufficient_user_authentication", ` +
		`error_description="the user must authenticate again, with a stronger method or more recently, for this request"`
	cases := []struct {
		name string
		acr  []string
		age  time.Duration
		want string
	}{
		{"acr only", []string{mfa}, 0, prefix + `, acr_values="` + mfa + `"`},
		{"max age only, in whole seconds", nil, 90*time.Second + 500*time.Millisecond, prefix + `, max_age="90"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, stepUpSpec(tc.acr, tc.age))
			r := e.call(t, "POST", "/people/7/approve", "Bearer "+e.userToken(t, "approve:timesheets", nil))
			require.Equal(t, 401, r.status)
			require.Equal(t, tc.want, r.challenge)
		})
	}
}

func TestStepUpAudit(t *testing.T) {
	e := newEnv(t, func(s *v1alpha1.ScopePolicySpec) {
		stepUpSpec([]string{mfa}, time.Minute)(s)
		s.Mode = v1alpha1.ModeAudit
	})
	const route = "POST /people/{id}/approve"
	before := e.audited(auth.ReasonInsufficientUserAuthentication, route)
	r := e.call(t, "POST", "/people/7/approve", "Bearer "+e.userToken(t, "approve:timesheets", nil))
	require.Equal(t, 200, r.status)
	require.Empty(t, r.challenge)
	require.Equal(t, before+1, e.audited(auth.ReasonInsufficientUserAuthentication, route))
}

// TestEmployee: what auth.Employee tells a handler, for the token and the
// policy of the request.
func TestEmployee(t *testing.T) {
	identity := func(s *v1alpha1.ScopePolicySpec) {
		s.ScopeClaims = []v1alpha1.ScopeClaim{"scope"}
		s.Identity = &v1alpha1.Identity{EmployeeClaim: empClaim, AllEntriesScope: "read:all-timesheets"}
	}
	e := newEnv(t, identity)
	mw := &auth.Middleware{Policy: e.holder, Verifier: auth.NewVerifier(e.keys, 1000), Logger: slog.New(slog.DiscardHandler), Realm: "timesheets"}
	srv := httptest.NewServer(mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, restricted := auth.Employee(r.Context())
		_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "restricted": restricted})
	})))
	t.Cleanup(srv.Close)
	employee := func(t *testing.T, tok string) (string, bool) {
		req, err := http.NewRequest("GET", srv.URL+"/timesheets/1", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		var got struct {
			ID         string
			Restricted bool
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
		return got.ID, got.Restricted
	}
	cases := []struct {
		name       string
		scope      string
		extra      map[string]any
		id         string
		restricted bool
	}{
		{"machine token", "read:timesheets", nil, "", false},
		{"employee", "read:timesheets", map[string]any{empClaim: "E-1001"}, "E-1001", true},
		{"manager", "read:timesheets read:all-timesheets", map[string]any{empClaim: "E-2002"}, "E-2002", false},
		{"all-entries scope in a claim the policy does not read", "read:timesheets", map[string]any{empClaim: "E-1001", "permissions": []string{"read:all-timesheets"}}, "E-1001", true},
		{"empty employee id", "read:timesheets", map[string]any{empClaim: ""}, "", true},
		{"numeric employee id", "read:timesheets", map[string]any{empClaim: 1001}, "", true},
		{"null employee id", "read:timesheets", map[string]any{empClaim: json.RawMessage("null")}, "", true},
		{"employee id with a control character", "read:timesheets", map[string]any{empClaim: "E-1\n001"}, "", true},
		{"a claim of another name", "read:timesheets", map[string]any{"employee_id": "E-1001"}, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, restricted := employee(t, e.userToken(t, tc.scope, tc.extra))
			require.Equal(t, tc.id, id)
			require.Equal(t, tc.restricted, restricted)
		})
	}
	t.Run("a policy without identity restricts nobody", func(t *testing.T) {
		tok := e.userToken(t, "read:timesheets", map[string]any{empClaim: "E-1001"})
		e.apply(t, baseSpec(e.is))
		id, restricted := employee(t, tok)
		require.Equal(t, "", id)
		require.False(t, restricted)
	})
}
