package devissuer

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// UserTokenPath is the development-only endpoint that mints a user token
// for a test user without a login: POST a form with user (required), scope,
// audience or resource, step_up=mfa and auth_age (seconds). It answers as a
// token endpoint does (RFC 6749 §5.1, §5.2). No real authorization server
// has it; it stands in for an authorization-code login in the
// single-page app, and it is served only on loopback.
const UserTokenPath = "/dev/user-token"

// The claims of a user token besides the registered ones.
const (
	// EmployeeClaim carries the employee id, a namespaced custom claim as
	// Auth0 Actions add them.
	EmployeeClaim = "https://abc-inc.example/employee_id"
	// UserTokenClientID is the azp of user tokens: the single-page app the
	// person logged in to (a public client, so it has no credentials here).
	UserTokenClientID = "dev-spa"
	// ACRMultiFactor is the acr of a token with step_up=mfa: the PAPE
	// policy Auth0 puts in tokens after multi-factor authentication.
	ACRMultiFactor = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
	// ACRPassword is the acr of a token without step_up: a single factor.
	// PAPE names no policy for that; this value, in the same style, is the
	// development issuer's own and satisfies no multi-factor requirement.
	ACRPassword = "http://schemas.openid.net/pape/policies/2007/06/password"
	// MaxAuthAge bounds the auth_age parameter: enough to try any maxAuthAge.
	MaxAuthAge = 30 * 24 * time.Hour
)

// StepUpMFA is the only value of the step_up parameter.
const StepUpMFA = "mfa"

// User is a built-in test person the user-token endpoint mints tokens for.
type User struct {
	// Name is what a request names (user=alice).
	Name string
	// Subject is the sub, in Auth0's "auth0|..." form.
	Subject string
	// EmployeeID is the EmployeeClaim: the user_id of the person's entries.
	EmployeeID string
	// OrgID is the org_id claim (Auth0 Organizations); "" leaves it out.
	OrgID string
	// Scopes the user's tokens may carry; a request may ask for a subset.
	Scopes []string
}

// BuiltinUsers are the test users of `api --dev` and cmd/devissuer: alice,
// an employee who logs her own hours; bob, her manager, who reads everyone's
// and approves; carol, an employee of another organisation, for trying a
// condition on org_id.
func BuiltinUsers() []User {
	employee := []string{"create:timesheets", "read:timesheets", "delete:timesheets"}
	return []User{
		{Name: "alice", Subject: "auth0|dev-alice", EmployeeID: "E-1001", OrgID: "org_abc", Scopes: employee},
		{Name: "bob", Subject: "auth0|dev-bob", EmployeeID: "E-2001", OrgID: "org_abc",
			Scopes: []string{"read:timesheets", "read:all-timesheets", "approve:timesheets"}},
		{Name: "carol", Subject: "auth0|dev-carol", EmployeeID: "E-3001", OrgID: "org_other", Scopes: slices.Clone(employee)},
	}
}

// user is a configured User; its scopes are checked as a client's are.
type user struct {
	User
	grants *client
}

func (s *Server) setUsers() error {
	s.users = make(map[string]*user, len(s.cfg.Users))
	for _, u := range s.cfg.Users {
		switch {
		case u.Name == "" || u.Subject == "" || u.EmployeeID == "":
			return errors.New("devissuer: a user needs a Name, a Subject and an EmployeeID")
		case s.users[u.Name] != nil:
			return fmt.Errorf("devissuer: user %q configured twice", u.Name)
		}
		cl := &client{Client: Client{ID: u.Name, Scopes: slices.Clone(u.Scopes)}, scopes: map[string]struct{}{}}
		for _, sc := range u.Scopes {
			if !validScopeToken(sc) {
				return fmt.Errorf("devissuer: user %q: invalid scope %q", u.Name, sc)
			}
			cl.scopes[sc] = struct{}{}
		}
		u.Scopes = cl.Scopes
		s.users[u.Name] = &user{User: u, grants: cl}
	}
	return nil
}

// UserClaims returns the claims the user-token endpoint would issue now to u
// for audience, with all of u's scopes, a single-factor acr and auth_time
// now, for a test to alter and Mint. u need not be configured.
func (s *Server) UserClaims(u User, audience string) jwt.MapClaims {
	now := s.now()
	return s.userClaims(u, audience, u.Scopes, ACRPassword, now, now)
}

// userClaims are a person's access token as Auth0 issues it after a login
// in a single-page app: no gty (that marks machine tokens).
func (s *Server) userClaims(u User, audience string, scopes []string, acr string, authTime, now time.Time) jwt.MapClaims {
	if scopes == nil {
		scopes = []string{}
	}
	c := jwt.MapClaims{
		"iss":         s.issuer,
		"sub":         u.Subject,
		"aud":         audience,
		"iat":         now.Unix(),
		"exp":         now.Add(s.cfg.TokenTTL).Unix(),
		"jti":         newJTI(),
		"azp":         UserTokenClientID,
		"scope":       strings.Join(scopes, " "),
		"permissions": slices.Clone(scopes),
		"acr":         acr,
		"auth_time":   authTime.Unix(),
		EmployeeClaim: u.EmployeeID,
	}
	if u.OrgID != "" {
		c["org_id"] = u.OrgID
	}
	return c
}

func (s *Server) handleUserToken(w http.ResponseWriter, r *http.Request) {
	resp, oerr := s.userToken(w, r)
	writeTokenResponse(w, resp, oerr)
}

// userToken runs a user-token request. Logged: outcome, user, audience,
// scopes and acr; never a token.
func (s *Server) userToken(w http.ResponseWriter, r *http.Request) (*TokenResponse, *oauthError) {
	// A web page could reach the loopback port through a name it rebinds to
	// 127.0.0.1 and read the answer as same-origin; a loopback Host header
	// rules that out.
	if !loopbackHost(r.Host) {
		s.log.Info("user token request refused", "reason", "Host is not a loopback address")
		return nil, &oauthError{status: http.StatusForbidden, code: "access_denied", description: "user tokens are issued only to requests for a loopback host"}
	}
	form, oerr := s.readForm(w, r)
	if oerr != nil {
		return nil, oerr
	}
	u := s.users[form.Get("user")]
	if u == nil {
		s.log.Info("user token request refused", "reason", "unknown user")
		return nil, badRequest("invalid_request", "user must name a test user: "+strings.Join(s.userNames(), ", "))
	}
	refuse := func(oerr *oauthError) (*TokenResponse, *oauthError) {
		s.log.Info("user token request refused", "user", u.Name, "reason", oerr.description)
		return nil, oerr
	}
	aud, oerr := s.audience(&client{}, form)
	if oerr != nil {
		return refuse(oerr)
	}
	scopes, oerr := grantScopes(u.grants, form, "user")
	if oerr != nil {
		return refuse(oerr)
	}
	acr := ACRPassword
	switch su := form.Get("step_up"); su {
	case "":
	case StepUpMFA:
		acr = ACRMultiFactor
	default:
		return refuse(badRequest("invalid_request", "step_up must be "+StepUpMFA))
	}
	now := s.now()
	authTime := now
	if form.Has("auth_age") {
		sec, err := strconv.ParseInt(form.Get("auth_age"), 10, 64)
		if err != nil || sec < 0 || sec > int64(MaxAuthAge/time.Second) {
			return refuse(badRequest("invalid_request", fmt.Sprintf("auth_age must be whole seconds from 0 to %d", int64(MaxAuthAge/time.Second))))
		}
		authTime = now.Add(-time.Duration(sec) * time.Second)
	}

	k := s.current()
	if k == nil {
		s.log.Error("user token request failed: no signing key")
		return nil, &oauthError{status: http.StatusInternalServerError, code: "server_error", description: "no signing key"}
	}
	tok, err := k.sign(s.userClaims(u.User, aud, scopes, acr, authTime, now))
	if err != nil {
		s.log.Error("signing a token failed", "error", err)
		return nil, &oauthError{status: http.StatusInternalServerError, code: "server_error", description: "signing failed"}
	}
	s.log.Info("issued a development user token", "user", u.Name, "audience", aud, "scope", strings.Join(scopes, " "),
		"acr", acr, "auth_time", authTime.Unix(), "kid", k.kid)
	return &TokenResponse{
		AccessToken: tok,
		TokenType:   "Bearer",
		ExpiresIn:   int64(s.cfg.TokenTTL / time.Second),
		Scope:       strings.Join(scopes, " "),
	}, nil
}

func (s *Server) userNames() []string {
	names := make([]string, 0, len(s.cfg.Users))
	for _, u := range s.cfg.Users {
		names = append(names, u.Name)
	}
	return names
}

// loopbackHost reports whether a Host header names a loopback IP or
// localhost.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	ip := net.ParseIP(host)
	return strings.EqualFold(host, "localhost") || (ip != nil && ip.IsLoopback())
}
