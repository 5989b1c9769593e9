package auth_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/policy"
)

var knownReasons = func() map[auth.Reason]bool {
	m := map[auth.Reason]bool{}
	for _, r := range auth.Reasons {
		m[r] = true
	}
	return m
}()

// FuzzVerify: no input makes the verifier panic or accept a token it did not
// see signed, and every refusal has a reason from the fixed set.
func FuzzVerify(f *testing.F) {
	is := newIssuer(f)
	keys := auth.NewKeys(auth.KeyOptions{UnknownKIDInterval: time.Hour})
	defer keys.Close()
	snap, err := policy.Compile("fuzz", 1, baseSpec(is))
	if err != nil {
		f.Fatal(err)
	}
	keys.Sync(snap.Issuers)
	if err := keys.WaitReady(context.Background(), snap.Issuers); err != nil {
		f.Fatal(err)
	}
	valid := is.sign(f, jwt.SigningMethodRS256, "rsa-1", jwt.MapClaims{"iss": is.iss(), "aud": audience, "exp": time.Now().Add(time.Hour).Unix()})
	parts := strings.Split(valid, ".")
	f.Add(valid)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + ".." + parts[2])
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("...")
	f.Add("a.b.c.d")
	v := auth.NewVerifier(keys, 0)
	f.Fuzz(func(t *testing.T, raw string) {
		tok, reason := v.Verify(context.Background(), snap, raw)
		if raw == valid {
			if reason != "" {
				t.Fatalf("valid token refused: %s", reason)
			}
			return
		}
		if reason == "" {
			t.Fatalf("accepted a token that was never signed: %q", raw)
		}
		if tok != nil {
			t.Fatal("a refused token is returned")
		}
		if !knownReasons[reason] {
			t.Fatalf("reason %q is not in the fixed set", reason)
		}
	})
}

// rig signs whatever header and claims a fuzz target makes with a key the
// issuer publishes (ES256: fast enough to fuzz), so the parser's and the
// policy's rules, not the signature, decide.
type rig struct {
	is    *issuer
	snaps map[string]*policy.Snapshot
	fresh *auth.Verifier // no cache: every call parses
	cache *auth.Verifier // a token accepted once is then rechecked from the cache
}

func newRig(f *testing.F) *rig {
	r := &rig{is: newIssuer(f)}
	r.is.addEC(f, "ec-1")
	keys := auth.NewKeys(auth.KeyOptions{UnknownKIDInterval: time.Hour})
	f.Cleanup(keys.Close)
	compile := func(mutate func(*v1alpha1.ScopePolicySpec)) *policy.Snapshot {
		spec := baseSpec(r.is)
		spec.Algorithms = []v1alpha1.Algorithm{"RS256", "ES256"}
		mutate(&spec)
		s, err := policy.Compile("fuzz", 1, spec)
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	r.snaps = map[string]*policy.Snapshot{
		"default": compile(func(*v1alpha1.ScopePolicySpec) {}),
		"strict": compile(func(s *v1alpha1.ScopePolicySpec) {
			s.RequireTokenType = "at+jwt"
			s.MaxTokenAge = &metav1.Duration{Duration: time.Hour}
		}),
	}
	keys.Sync(r.snaps["default"].Issuers)
	if err := keys.WaitReady(context.Background(), r.snaps["default"].Issuers); err != nil {
		f.Fatal(err)
	}
	r.fresh, r.cache = auth.NewVerifier(keys, 0), auth.NewVerifier(keys, 1000)
	return r
}

func (r *rig) sign(t testing.TB, header, claims []byte) string {
	enc := base64.RawURLEncoding.EncodeToString
	signing := enc(header) + "." + enc(claims)
	sig, err := jwt.SigningMethodES256.Sign(signing, r.is.key("ec-1"))
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + enc(sig)
}

// check verifies header.claims under each policy and holds the verdict to
// the rules, decided here again from the JSON alone.
func (r *rig) check(t *testing.T, header, claims []byte) {
	raw := r.sign(t, header, claims)
	for name, snap := range r.snaps {
		tok, reason := r.fresh.Verify(context.Background(), snap, raw)
		// Verify twice through the cache: the second answer may come from
		// the cache (the token accepted under either policy); it must agree.
		r.cache.Verify(context.Background(), snap, raw)
		_, cached := r.cache.Verify(context.Background(), snap, raw)
		if cached != reason {
			t.Fatalf("%s: fresh verdict %q, cached verdict %q", name, reason, cached)
		}
		if reason != "" {
			if tok != nil {
				t.Fatalf("%s: refused (%s) yet a token is returned", name, reason)
			}
			if !knownReasons[reason] {
				t.Fatalf("%s: reason %q is not in the fixed set", name, reason)
			}
			continue
		}
		if err := accepted(snap, r.is.iss(), header, claims, tok); err != nil {
			t.Fatalf("%s: accepted, but %v\nheader %s\nclaims %s", name, err, header, claims)
		}
	}
}

var scopeTokenRE = regexp.MustCompile(`^[\x21\x23-\x5b\x5d-\x7e]+$`) // RFC 6749 §3.3

// accepted returns why a token the verifier accepted should have been
// refused, judging from the raw JSON with exact member names.
func accepted(snap *policy.Snapshot, iss string, header, claims []byte, tok *auth.Token) error {
	var h map[string]any
	if err := json.Unmarshal(header, &h); err != nil {
		return fmt.Errorf("header is not a JSON object: %v", err)
	}
	if _, ok := h["crit"]; ok {
		return fmt.Errorf("header has crit")
	}
	if h["alg"] != "ES256" || h["kid"] != "ec-1" { // the only key and algorithm the rig signs with
		return fmt.Errorf("alg %v with kid %v", h["alg"], h["kid"])
	}
	typ, hasTyp := h["typ"]
	if _, isString := typ.(string); hasTyp && !isString {
		return fmt.Errorf("typ %v is not a string", typ)
	}
	if snap.TokenType != "" {
		s, _ := typ.(string)
		if !strings.EqualFold(s, "at+jwt") && !strings.EqualFold(s, "application/at+jwt") {
			return fmt.Errorf("typ %q is not at+jwt", s)
		}
	}

	dec := json.NewDecoder(bytes.NewReader(claims))
	dec.UseNumber()
	var c map[string]any
	if err := dec.Decode(&c); err != nil {
		return fmt.Errorf("claims are not a JSON object: %v", err)
	}
	seconds := func(name string) (float64, bool, error) {
		v, ok := c[name]
		if !ok || v == nil {
			return 0, false, nil
		}
		n, isNumber := v.(json.Number)
		if !isNumber {
			return 0, true, fmt.Errorf("%s %v is not a JSON number", name, v)
		}
		f, err := n.Float64()
		if err != nil || f < 0 || math.IsInf(f, 0) {
			return 0, true, fmt.Errorf("%s %v is out of range", name, v)
		}
		return f, true, nil
	}
	now := float64(time.Now().UnixNano()) / 1e9
	skew, maxAge := snap.ClockSkew.Seconds(), snap.MaxTokenAge.Seconds()
	const slack = 1 // seconds between the verifier's clock and this one
	exp, hasExp, err := seconds("exp")
	if err != nil || !hasExp {
		return fmt.Errorf("exp: %v (present %v)", err, hasExp)
	}
	if exp <= now-skew-slack {
		return fmt.Errorf("expired: exp %f, now %f", exp, now)
	}
	if exp > now+maxAge+skew+slack {
		return fmt.Errorf("exp %f is more than maxTokenAge ahead of now %f", exp, now)
	}
	for _, name := range []string{"nbf", "iat"} {
		at, has, err := seconds(name)
		if err != nil {
			return err
		}
		if has && at > now+skew+slack {
			return fmt.Errorf("%s %f is in the future", name, at)
		}
		if has && name == "iat" && exp-at > maxAge+0.001 {
			return fmt.Errorf("exp is %fs after iat, more than maxTokenAge", exp-at)
		}
	}
	if c["iss"] != iss || tok.Issuer != iss {
		return fmt.Errorf("iss %v", c["iss"])
	}
	var auds []string
	switch a := c["aud"].(type) {
	case string:
		auds = []string{a}
	case []any:
		for _, e := range a {
			s, _ := e.(string)
			auds = append(auds, s)
		}
	}
	if !slices.Contains(auds, audience) {
		return fmt.Errorf("aud %v does not hold %s", c["aud"], audience)
	}
	if sub, _ := c["sub"].(string); tok.Subject != sub {
		return fmt.Errorf("Subject %q, sub %q", tok.Subject, sub)
	}
	wantClient, _ := c["azp"].(string)
	if wantClient == "" {
		wantClient, _ = c["client_id"].(string)
	}
	if tok.ClientID != wantClient {
		return fmt.Errorf("ClientID %q, want %q", tok.ClientID, wantClient)
	}

	// Scopes: what each claim grants, by RFC 6749 §3.3 read plainly.
	strs := func(v any) []string {
		switch x := v.(type) {
		case string:
			return []string{x}
		case []any:
			var out []string
			for _, e := range x {
				if s, ok := e.(string); ok {
					out = append(out, s)
				}
			}
			return out
		}
		return nil
	}
	grants := map[string][]string{}
	for _, name := range []string{"scope", "scp"} {
		for _, s := range strs(c[name]) {
			grants[name] = append(grants[name], strings.Split(s, " ")...)
		}
	}
	grants["permissions"] = strs(c["permissions"])
	var probes []string // every spelling a lax parser might grant
	for _, v := range c {
		for _, s := range strs(v) {
			probes = append(probes, s)
			probes = append(probes, strings.Fields(s)...)
			probes = append(probes, strings.Split(s, " ")...)
		}
	}
	probes = append(probes, "read:timesheets", "admin", "")
	for _, claim := range []string{"scope", "scp", "permissions"} {
		for _, p := range probes {
			if tok.HasScope(p, []string{claim}) && (!scopeTokenRE.MatchString(p) || !slices.Contains(grants[claim], p)) {
				return fmt.Errorf("%s grants %q, which it does not hold as a scope token", claim, p)
			}
		}
	}
	return nil
}

// claimSeeds are the cases of the strict parser, as claims JSON.
func claimSeeds(iss string) []string {
	now := time.Now().Unix()
	base := fmt.Sprintf(`"iss":%q,"aud":%q,"sub":"client-1@clients"`, iss, audience)
	seed := func(format string, args ...any) string { return "{" + base + "," + fmt.Sprintf(format, args...) + "}" }
	return []string{
		seed(`"iat":%d,"exp":%d,"scope":"read:timesheets"`, now, now+600),
		seed(`"iat":%d,"exp":%d,"scope":"x\u00a0read:timesheets"`, now, now+600),
		seed(`"iat":%d,"exp":%d,"scope":"x\tread:timesheets  admin"`, now, now+600),
		seed(`"iat":%d,"exp":%d,"scp":["x\u00a0read:timesheets","a b"],"permissions":["read timesheets","ok"]`, now, now+600),
		seed(`"iat":%d,"exp":%d,"Scope":"read:timesheets","PERMISSIONS":["admin"]`, now, now+600),
		seed(`"iat":%d,"exp":"%d","scope":"read:timesheets"`, now, now+600),
		seed(`"iat":"%d","exp":%d`, now, now+600),
		seed(`"nbf":"%d","exp":%d`, now, now+600),
		seed(`"exp":9.2e18`),
		seed(`"exp":1e300`),
		seed(`"exp":-1`),
		seed(`"exp":%d`, now+25*3600),
		seed(`"iat":%d,"exp":%d`, now-2*3600, now+1800),
		seed(`"iat":%d,"exp":%d.5,"azp":"","client_id":"importer"`, now, now+600),
		seed(`"exp":%d,"azp":"spa","client_id":"importer","aud":["https://other.example/",%q]`, now+600, audience),
		seed(`"exp":null`),
		`{"exp":` + fmt.Sprint(now+600) + `}`,
		`[]`,
		`null`,
	}
}

// FuzzClaims: whatever claims an issuer signs, an accepted token meets
// every rule (times are JSON numbers in range, the lifetime within
// maxTokenAge, the audience ours, scopes only RFC 6749 scope tokens split
// on U+0020), a refused one yields no token, and the cache agrees.
func FuzzClaims(f *testing.F) {
	r := newRig(f)
	for _, s := range claimSeeds(r.is.iss()) {
		f.Add(s)
	}
	header := []byte(`{"alg":"ES256","kid":"ec-1","typ":"at+jwt"}`)
	f.Fuzz(func(t *testing.T, claims string) {
		r.check(t, header, []byte(claims))
	})
}

// FuzzHeader: whatever header an issuer signs, an accepted token names no
// crit, an allowed algorithm its key fits, and the typ the policy requires.
func FuzzHeader(f *testing.F) {
	r := newRig(f)
	for _, h := range []string{
		`{"alg":"ES256","kid":"ec-1","typ":"at+jwt"}`,
		`{"alg":"ES256","kid":"ec-1","typ":"JWT"}`,
		`{"alg":"ES256","kid":"ec-1"}`,
		`{"alg":"ES256","kid":"ec-1","typ":"Application/AT+JWT"}`,
		`{"alg":"ES256","kid":"ec-1","typ":"text/at+jwt"}`,
		`{"alg":"ES256","kid":"ec-1","typ":1}`,
		`{"alg":"ES256","kid":"ec-1","typ":"at+jwt","crit":["exp"],"exp":1}`,
		`{"alg":"ES256","kid":"ec-1","typ":"at+jwt","crit":[]}`,
		`{"alg":"ES256","kid":"ec-1","typ":"at+jwt","crit":"b64"}`,
		`{"alg":"ES256","kid":"ec-1","typ":"at+jwt","crit":null}`,
		`{"alg":"RS256","kid":"ec-1","typ":"at+jwt"}`,
		`{"alg":"ES384","kid":"ec-1","typ":"at+jwt"}`,
		`{"alg":"none","kid":"ec-1"}`,
		`{"alg":"HS256","kid":"ec-1"}`,
		`{"alg":"ES256","kid":"rsa-1"}`,
		`{"alg":"ES256","kid":"ec-1","alg":"none"}`,
	} {
		f.Add(h)
	}
	now := time.Now().Unix()
	claims := []byte(fmt.Sprintf(`{"iss":%q,"aud":%q,"sub":"client-1@clients","iat":%d,"exp":%d,"scope":"read:timesheets"}`,
		r.is.iss(), audience, now, now+1800))
	f.Fuzz(func(t *testing.T, header string) {
		r.check(t, []byte(header), claims)
	})
}

// FuzzConditionClaims: claims of any JSON type and size, through the
// middleware, never panic, and pass the route's condition exactly when the
// condition's meaning, decided here again from the JSON alone, says so;
// auth.Employee reads the employee claim of any type without passing a
// claim that names nobody.
func FuzzConditionClaims(f *testing.F) {
	r := newRig(f)
	spec := baseSpec(r.is)
	spec.Algorithms = []v1alpha1.Algorithm{"ES256"}
	spec.Identity = &v1alpha1.Identity{EmployeeClaim: empClaim, AllEntriesScope: "read:all-timesheets"}
	spec.Routes = append(spec.Routes, v1alpha1.Route{Path: "/people/{id}/approve", Methods: []string{"POST"}, Scopes: []string{"approve:timesheets"},
		When: `(!has(claims.gty) || claims.gty != "client-credentials") && claims["` + orgClaim + `"] == "org_abc" && claims["` + rolesClaim + `"].exists(r, r == "approver")`})
	snap, err := policy.Compile("fuzz", 1, spec)
	if err != nil {
		f.Fatal(err)
	}
	holder := &policy.Holder{}
	holder.Store(snap)
	mw := &auth.Middleware{Policy: holder, Verifier: r.fresh, Logger: slog.New(slog.DiscardHandler), Realm: "timesheets"}
	type seen struct {
		id         string
		restricted bool
	}
	var got seen
	h := mw.Wrap(http.HandlerFunc(func(_ http.ResponseWriter, req *http.Request) {
		got.id, got.restricted = auth.Employee(req.Context())
	}))
	header := []byte(`{"alg":"ES256","kid":"ec-1"}`)

	for _, s := range [][4]string{
		{`"password"`, `"org_abc"`, `["approver"]`, `"E-1"`},
		{`"client-credentials"`, `"org_abc"`, `["approver"]`, ``},
		{``, `"org_abc"`, `{"approver":1}`, `1001`},
		{`null`, `null`, `null`, `null`},
		{`1e400`, `-0`, `[[["approver"]]]`, `""`},
		{`["client-credentials"]`, `{"org_abc":true}`, `["x",1,null,{"a":[]}]`, `{"id":"E-1"}`},
		{`true`, `"org_abc\u0000"`, `"approver"`, `"E-1\n"`},
		{`""`, `"` + strings.Repeat("x", 6000) + `"`, `[]`, `[]`},
		{`9223372036854775808`, `"ORG_ABC"`, `["approver","approver"]`, `"` + strings.Repeat("é", 300) + `"`},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, gty, org, roles, emp string) {
		c := map[string]json.RawMessage{}
		for name, v := range map[string]string{"gty": gty, orgClaim: org, rolesClaim: roles, empClaim: emp} {
			if v == "" {
				continue // the claim is absent
			}
			if !json.Valid([]byte(v)) {
				return // one JSON value per claim, not a way to add others
			}
			c[name] = json.RawMessage(v)
		}
		now := time.Now()
		for name, v := range map[string]any{"iss": r.is.iss(), "aud": audience, "sub": "auth0|fuzz",
			"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "scope": "approve:timesheets"} {
			c[name], _ = json.Marshal(v)
		}
		claims, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		raw := r.sign(t, header, claims)
		if len(raw) > auth.MaxTokenBytes {
			return
		}
		got = seen{}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/people/7/approve", nil)
		req.Header.Set("Authorization", "Bearer "+raw)
		h.ServeHTTP(rec, req)

		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(claims))
		d.UseNumber() // 1e400 is a number too
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		want := conditionHolds(m)
		switch {
		case want && rec.Code != http.StatusOK:
			t.Fatalf("condition holds, yet %d %s\nclaims %s", rec.Code, rec.Body, claims)
		case !want && rec.Code != http.StatusForbidden:
			t.Fatalf("condition does not hold, yet %d\nclaims %s", rec.Code, claims)
		case !want && !strings.Contains(rec.Body.String(), `"access_denied"`):
			t.Fatalf("refused for another reason: %s", rec.Body)
		}
		if !want {
			return
		}
		v, present := m[empClaim]
		if got.restricted != present {
			t.Fatalf("employee claim present %v, restricted %v", present, got.restricted)
		}
		if s, _ := v.(string); got.id != "" && got.id != s {
			t.Fatalf("employee id %q from claim %s", got.id, emp)
		}
		if got.id != "" && strings.ContainsFunc(got.id, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("employee id %q names nobody", got.id)
		}
	})
}

// conditionHolds is the fuzzed route's condition in Go, by CEL's rules: a
// missing org or roles claim is an error (refused); values of different
// types are unequal; exists over a map ranges over its keys.
func conditionHolds(c map[string]any) bool {
	if gty, ok := c["gty"]; ok && gty == "client-credentials" {
		return false
	}
	if c[orgClaim] != "org_abc" {
		return false
	}
	switch roles := c[rolesClaim].(type) {
	case []any:
		return slices.Contains(roles, any("approver"))
	case map[string]any:
		_, ok := roles["approver"]
		return ok
	}
	return false // absent, or not a list or map: exists fails
}
