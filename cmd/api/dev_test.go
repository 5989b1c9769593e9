package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/devissuer"
	"github.com/abc-inc/timesheets/pkg/dpop"
	"github.com/abc-inc/timesheets/pkg/policy"
)

// startTestDevIssuer starts the issuer of --dev with its credentials in dir.
func startTestDevIssuer(t *testing.T, dir string) *devissuer.Server {
	t.Helper()
	c := config{devIssuerAddr: "127.0.0.1:0", devCredentials: dir}
	_, is, err := startDevIssuer(context.Background(), c, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- is.Start(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	require.True(t, is.UserTokens())
	return is
}

// TestDevIssuerTokens follows the README's curl walk-through: the --dev
// issuer gives the admin client a client-credentials token and alice a
// development user token, and the API under the dev policy takes both.
func TestDevIssuerTokens(t *testing.T) {
	dir := t.TempDir()
	is := startTestDevIssuer(t, dir)
	s := newStackWith(t, true, "sqlite://"+filepath.Join(t.TempDir(), "ts.db"), is)

	post := func(u string, form url.Values) devissuer.TokenResponse {
		t.Helper()
		r, err := http.PostForm(u, form)
		require.NoError(t, err)
		defer r.Body.Close()
		require.Equal(t, http.StatusOK, r.StatusCode)
		var tr devissuer.TokenResponse
		require.NoError(t, json.NewDecoder(r.Body).Decode(&tr))
		return tr
	}
	id, err := os.ReadFile(filepath.Join(dir, "admin", devissuer.ClientIDFile))
	require.NoError(t, err)
	secret, err := os.ReadFile(filepath.Join(dir, "admin", devissuer.ClientSecretFile))
	require.NoError(t, err)
	admin := post(is.TokenURL(), url.Values{"grant_type": {"client_credentials"}, "audience": {devAudience},
		"client_id": {string(id)}, "client_secret": {string(secret)}})
	alice := post(is.UserTokenURL(), url.Values{"user": {"alice"}})
	bob := post(is.UserTokenURL(), url.Values{"user": {"bob"}, "step_up": {"mfa"}})

	r := s.do(t, "POST", "/timesheets", admin.AccessToken, jsonType, dayEntry)
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	r = s.do(t, "POST", "/timesheets", alice.AccessToken, jsonType,
		`{"user_id":"E-1001","date":"2021-04-01T08:00:00Z","project":"P","hours":1}`)
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	assert.Equal(t, is.Issuer()+"#sub:auth0|dev-alice", r.body["timesheet"].(map[string]any)["created_by"])
	r = s.do(t, "GET", "/timesheets", bob.AccessToken, "", "")
	assert.Equal(t, http.StatusOK, r.status, r.raw)
	r = s.do(t, "POST", "/timesheets", bob.AccessToken, jsonType, dayEntry)
	assert.Equal(t, http.StatusForbidden, r.status, "bob's token has no create:timesheets")
	assert.Contains(t, r.header.Get("WWW-Authenticate"), `error="insufficient_scope"`)
}

// TestDevDPoP follows the README's DPoP walk-through: a DPoP-bound token
// from the --dev issuer for a proof of an ES256 key (as hack/dpop-proof
// makes), and the API under the dev policy takes it with a proof per call.
func TestDevDPoP(t *testing.T) {
	dir := t.TempDir()
	is := startTestDevIssuer(t, dir)
	s := newStackPolicy(t, true, "sqlite://"+filepath.Join(t.TempDir(), "ts.db"), is, devPolicy(is.Issuer()))
	key, err := dpop.NewKey("ES256")
	require.NoError(t, err)
	proof := func(method, htu, token string) string {
		p, err := key.Proof(method, htu, token, "", time.Now())
		require.NoError(t, err)
		return p
	}

	id, err := os.ReadFile(filepath.Join(dir, "admin", devissuer.ClientIDFile))
	require.NoError(t, err)
	secret, err := os.ReadFile(filepath.Join(dir, "admin", devissuer.ClientSecretFile))
	require.NoError(t, err)
	form := url.Values{"grant_type": {"client_credentials"}, "audience": {devAudience}, "client_id": {string(id)}, "client_secret": {string(secret)}}
	req, err := http.NewRequest(http.MethodPost, is.TokenURL(), strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", proof(http.MethodPost, is.TokenURL(), ""))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var tr devissuer.TokenResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tr))
	require.Equal(t, "DPoP", tr.TokenType)

	u := s.srv.URL + "/timesheets"
	call := func(auth string, proofs ...string) *http.Response {
		req, err := http.NewRequest(http.MethodGet, u+"?limit=10", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", auth)
		for _, p := range proofs {
			req.Header.Add("DPoP", p)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	assert.Equal(t, http.StatusOK, call("DPoP "+tr.AccessToken, proof(http.MethodGet, u, tr.AccessToken)).StatusCode)
	assert.Equal(t, http.StatusUnauthorized, call("Bearer "+tr.AccessToken).StatusCode, "a bound token sent as a bearer one")
	assert.Equal(t, http.StatusUnauthorized, call("DPoP "+tr.AccessToken).StatusCode, "no proof")
}

// TestDevUserTokensTryPeopleRules follows the README: the dev issuer's user
// tokens try the people sample policy, its issuer swapped for the dev
// issuer's, through the API: a machine may not approve (the when
// condition), bob must step up (RFC 9470) and recently, and alice sees only
// her own entries.
func TestDevUserTokensTryPeopleRules(t *testing.T) {
	is := startTestDevIssuer(t, t.TempDir())
	raw, err := os.ReadFile("../../config/samples/auth_v1alpha1_scopepolicy_people.yaml")
	require.NoError(t, err)
	sp, err := policy.Parse(raw)
	require.NoError(t, err)
	spec := sp.Spec
	spec.Issuers = []v1alpha1.Issuer{{URL: is.Issuer()}}
	s := newStackPolicy(t, true, "sqlite://"+filepath.Join(t.TempDir(), "ts.db"), is, spec)
	userToken := func(form url.Values) string {
		t.Helper()
		r, err := http.PostForm(is.UserTokenURL(), form)
		require.NoError(t, err)
		defer r.Body.Close()
		require.Equal(t, http.StatusOK, r.StatusCode)
		var tr devissuer.TokenResponse
		require.NoError(t, json.NewDecoder(r.Body).Decode(&tr))
		return tr.AccessToken
	}
	alice := userToken(url.Values{"user": {"alice"}})
	created := s.do(t, "POST", "/timesheets", alice, jsonType,
		`{"user_id":"E-1001","date":"2021-04-01T08:00:00Z","project":"P","hours":1}`)
	require.Equal(t, http.StatusCreated, created.status, created.raw)
	approve := fmt.Sprintf("/timesheets/%d/approve", int64(created.body["id"].(float64)))
	other := s.do(t, "POST", "/timesheets", s.token(t, "admin"), jsonType, dayEntry)
	require.Equal(t, http.StatusCreated, other.status, other.raw)

	r := s.do(t, "GET", fmt.Sprintf("/timesheets/%d", int64(other.body["id"].(float64))), alice, "", "")
	assert.Equal(t, http.StatusNotFound, r.status, "alice sees only her own")

	// carol as if her organisation had granted her approvals: only org_id
	// stops her.
	carol := devissuer.BuiltinUsers()[2]
	carol.Scopes = []string{"approve:timesheets"}
	carolToken, err := is.Mint(is.UserClaims(carol, devAudience))
	require.NoError(t, err)
	challenge := `error="insufficient_user_authentication"`
	for _, tc := range []struct {
		name, token string
		status      int
		errCode     string
		header      string
	}{
		{"a machine may not approve", s.token(t, "admin"), http.StatusForbidden, "access_denied", ""},
		{"carol's organisation may not", carolToken, http.StatusForbidden, "access_denied", ""},
		{"bob without a second factor", userToken(url.Values{"user": {"bob"}}), http.StatusUnauthorized,
			"insufficient_user_authentication", `acr_values="` + devissuer.ACRMultiFactor + `"`},
		{"bob's second factor too long ago", userToken(url.Values{"user": {"bob"}, "step_up": {"mfa"}, "auth_age": {"1200"}}),
			http.StatusUnauthorized, "insufficient_user_authentication", `max_age="900"`},
		{"bob stepped up", userToken(url.Values{"user": {"bob"}, "step_up": {"mfa"}}), http.StatusOK, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(t, "POST", approve, tc.token, "", "")
			assert.Equal(t, tc.status, r.status, r.raw)
			if tc.errCode != "" {
				assert.Equal(t, tc.errCode, r.body["error"], r.raw)
			}
			if tc.header != "" {
				assert.Contains(t, r.header.Get("WWW-Authenticate"), challenge)
				assert.Contains(t, r.header.Get("WWW-Authenticate"), tc.header)
			}
		})
	}
}
