package devissuer

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenRequestBytes bounds the body of a token request.
const MaxTokenRequestBytes = 16 << 10

// GrantType is the only grant the server supports.
const GrantType = "client_credentials"

// TokenResponse is the successful answer of the token endpoint (RFC 6749 §5.1).
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

// ErrorResponse is an error answer of the token endpoint (RFC 6749 §5.2).
type ErrorResponse struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// oauthError is a §5.2 error with its HTTP status.
type oauthError struct {
	status      int
	code        string
	description string
}

func badRequest(code, description string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: code, description: description}
}

// realm of the Basic challenge.
const realm = "devissuer"

// dummyHash is compared against when the client is unknown, so an unknown
// client costs the same as a wrong secret.
var dummyHash = sha256.Sum256([]byte("devissuer: no such client"))

func (s *Server) now() time.Time { return time.Now() }

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	resp, oerr := s.token(w, r)
	writeTokenResponse(w, resp, oerr)
}

// writeTokenResponse writes a §5.1 answer, or the §5.2 error when oerr is
// set; neither may be cached.
func writeTokenResponse(w http.ResponseWriter, resp *TokenResponse, oerr *oauthError) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Type", "application/json")
	if oerr != nil {
		if oerr.status == http.StatusUnauthorized { // RFC 9110 §15.5.2: a 401 carries a challenge
			h.Set("WWW-Authenticate", `Basic realm="`+realm+`", charset="UTF-8"`)
		}
		if oerr.status == http.StatusMethodNotAllowed {
			h.Set("Allow", http.MethodPost)
		}
		w.WriteHeader(oerr.status)
		_ = json.NewEncoder(w).Encode(ErrorResponse{Error: oerr.code, Description: oerr.description})
		return
	}
	_ = json.NewEncoder(w).Encode(resp)
}

// token runs a token request. Logged: outcome, client ID, audience and
// scopes; never a secret or a token.
func (s *Server) token(w http.ResponseWriter, r *http.Request) (*TokenResponse, *oauthError) {
	form, oerr := s.readForm(w, r)
	if oerr != nil {
		return nil, oerr
	}

	switch gt := form.Get("grant_type"); gt {
	case GrantType:
	case "":
		return nil, badRequest("invalid_request", "missing grant_type")
	default:
		s.log.Info("token request refused", "reason", "unsupported grant type", "grant_type", gt)
		return nil, badRequest("unsupported_grant_type", "only client_credentials is supported")
	}

	jkt, oerr := s.checkDPoP(w, r)
	if oerr != nil {
		return nil, oerr
	}
	cl, oerr := s.authenticate(r, form)
	if oerr != nil {
		return nil, oerr
	}

	aud, oerr := s.audience(cl, form)
	if oerr != nil {
		s.log.Info("token request refused", "client_id", cl.ID, "reason", oerr.description)
		return nil, oerr
	}
	scopes, oerr := grantScopes(cl, form, "client")
	if oerr != nil {
		s.log.Info("token request refused", "client_id", cl.ID, "reason", oerr.description)
		return nil, oerr
	}

	k := s.current()
	if k == nil {
		s.log.Error("token request failed: no signing key")
		return nil, &oauthError{status: http.StatusInternalServerError, code: "server_error", description: "no signing key"}
	}
	now := s.now()
	claims := s.claims(cl.ID, aud, scopes, now)
	tokenType := "Bearer"
	if jkt != "" {
		claims["cnf"] = map[string]string{"jkt": jkt} // RFC 9449 §6.1
		tokenType = TokenTypeDPoP
	}
	tok, err := k.sign(claims)
	if err != nil {
		s.log.Error("signing a token failed", "error", err)
		return nil, &oauthError{status: http.StatusInternalServerError, code: "server_error", description: "signing failed"}
	}
	s.log.Info("issued an access token", "client_id", cl.ID, "audience", aud, "scope", strings.Join(scopes, " "), "kid", k.kid,
		"auth_method", authMethod(r, form), "token_type", tokenType)
	return &TokenResponse{
		AccessToken: tok,
		TokenType:   tokenType,
		ExpiresIn:   int64(s.cfg.TokenTTL / time.Second),
		Scope:       strings.Join(scopes, " "),
	}, nil
}

func (s *Server) claims(clientID, audience string, scopes []string, now time.Time) jwt.MapClaims {
	if scopes == nil {
		scopes = []string{}
	}
	return jwt.MapClaims{
		"iss":         s.issuer,
		"sub":         clientID + "@clients",
		"aud":         audience,
		"iat":         now.Unix(),
		"exp":         now.Add(s.cfg.TokenTTL).Unix(),
		"jti":         newJTI(),
		"azp":         clientID,
		"gty":         "client-credentials",
		"scope":       strings.Join(scopes, " "),
		"permissions": slices.Clone(scopes),
	}
}

func newJTI() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// readForm reads the form-encoded body of a POST to a token endpoint:
// parameters in the URL, a parameter given twice (but resource, RFC 8707)
// and oversized bodies are refused.
func (s *Server) readForm(w http.ResponseWriter, r *http.Request) (url.Values, *oauthError) {
	if r.Method != http.MethodPost {
		return nil, &oauthError{status: http.StatusMethodNotAllowed, code: "invalid_request", description: "the token endpoint accepts POST only"}
	}
	if r.URL.RawQuery != "" {
		s.log.Info("token request refused", "reason", "query string")
		return nil, badRequest("invalid_request", "parameters must be sent in the form-encoded body, not in the URL")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, &oauthError{status: http.StatusUnsupportedMediaType, code: "invalid_request",
			description: "Content-Type must be application/x-www-form-urlencoded"}
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxTokenRequestBytes)
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, &oauthError{status: http.StatusRequestEntityTooLarge, code: "invalid_request", description: "request body too large"}
		}
		return nil, badRequest("invalid_request", "malformed form body")
	}
	form := r.PostForm
	for name, vs := range form {
		if len(vs) > 1 && name != "resource" { // RFC 6749 §3.2; RFC 8707 allows several resources
			return nil, badRequest("invalid_request", "parameter "+strconv.Quote(name)+" given more than once")
		}
	}
	return form, nil
}

// authenticate checks the client's credentials: client_secret_basic,
// client_secret_post or private_key_jwt, exactly one of them (RFC 6749
// §2.3).
func (s *Server) authenticate(r *http.Request, form url.Values) (*client, *oauthError) {
	if hasAssertion(form) {
		if r.Header.Get("Authorization") != "" || form.Has("client_secret") {
			return nil, badRequest("invalid_request", "more than one client authentication method")
		}
		return s.authenticateAssertion(form, form.Get("client_id"))
	}
	var id, secret string
	basic := false
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Basic") {
			return nil, &oauthError{status: http.StatusUnauthorized, code: "invalid_client", description: "unsupported client authentication scheme"}
		}
		var ok bool
		if id, secret, ok = parseBasic(strings.TrimSpace(cred)); !ok {
			return nil, &oauthError{status: http.StatusUnauthorized, code: "invalid_client", description: "malformed Basic credentials"}
		}
		basic = true
		if form.Has("client_secret") {
			return nil, badRequest("invalid_request", "more than one client authentication method")
		}
		if fid := form.Get("client_id"); form.Has("client_id") && fid != id {
			return nil, badRequest("invalid_request", "client_id differs from the authenticated client")
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
		if id == "" || secret == "" {
			return nil, &oauthError{status: http.StatusUnauthorized, code: "invalid_client",
				description: "client authentication required (client_secret_basic or client_secret_post)"}
		}
	}
	cl := s.clients[id]
	want := dummyHash
	if cl != nil {
		want = cl.secretHash
	}
	got := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 || cl == nil || cl.Secret == "" {
		method := "client_secret_post"
		if basic {
			method = "client_secret_basic"
		}
		s.log.Info("token request refused", "reason", "client authentication failed", "client_id", id, "method", method)
		return nil, &oauthError{status: http.StatusUnauthorized, code: "invalid_client", description: "client authentication failed"}
	}
	return cl, nil
}

// authMethod names the client authentication a request used, for the log.
func authMethod(r *http.Request, form url.Values) string {
	switch {
	case hasAssertion(form):
		return "private_key_jwt"
	case r.Header.Get("Authorization") != "":
		return "client_secret_basic"
	}
	return "client_secret_post"
}

// parseBasic decodes HTTP Basic credentials whose parts are form-urlencoded
// (RFC 6749 §2.3.1).
func parseBasic(cred string) (id, secret string, ok bool) {
	raw, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		return "", "", false
	}
	eid, esecret, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false
	}
	if id, err = url.QueryUnescape(eid); err != nil {
		return "", "", false
	}
	if secret, err = url.QueryUnescape(esecret); err != nil {
		return "", "", false
	}
	return id, secret, id != "" && secret != ""
}

// audience picks the token's audience from audience (Auth0) or resource
// (RFC 8707), or the default.
func (s *Server) audience(cl *client, form url.Values) (string, *oauthError) {
	resources := form["resource"]
	if len(resources) > 1 {
		return "", badRequest("invalid_target", "one resource per token request")
	}
	aud := form.Get("audience")
	if len(resources) == 1 {
		res := resources[0]
		if u, err := url.Parse(res); err != nil || !u.IsAbs() || u.Fragment != "" {
			return "", badRequest("invalid_target", "resource must be an absolute URI without a fragment")
		}
		if form.Has("audience") && aud != res {
			return "", badRequest("invalid_request", "audience and resource name different targets")
		}
		aud = res
	}
	if aud == "" {
		if s.cfg.Audience == "" {
			return "", badRequest("invalid_target", "no audience requested and no default audience configured")
		}
		aud = s.cfg.Audience
	}
	if _, known := s.audiences[aud]; !known {
		return "", badRequest("invalid_target", "unknown audience")
	}
	if cl.audiences != nil {
		if _, ok := cl.audiences[aud]; !ok {
			return "", badRequest("invalid_target", "client is not allowed this audience")
		}
	}
	return aud, nil
}

// grantScopes returns the requested scopes, or all the client's scopes when
// none are requested, in the client's order. holder names what cl is in
// the refusal: "client", or "user" for a test user.
func grantScopes(cl *client, form url.Values, holder string) ([]string, *oauthError) {
	if !form.Has("scope") || strings.TrimSpace(form.Get("scope")) == "" {
		return slices.Clone(cl.Scopes), nil
	}
	requested := map[string]struct{}{}
	for sc := range strings.FieldsSeq(form.Get("scope")) {
		if !validScopeToken(sc) {
			return nil, badRequest("invalid_scope", "malformed scope")
		}
		if _, ok := cl.scopes[sc]; !ok {
			return nil, badRequest("invalid_scope", "scope "+strconv.Quote(sc)+" not granted to the "+holder)
		}
		requested[sc] = struct{}{}
	}
	var granted []string
	for _, sc := range cl.Scopes {
		if _, ok := requested[sc]; ok {
			granted = append(granted, sc)
			delete(requested, sc) // a scope listed twice by the client counts once
		}
	}
	return granted, nil
}

// validScopeToken reports whether sc matches RFC 6749 §3.3:
// scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(sc string) bool {
	if sc == "" {
		return false
	}
	for i := 0; i < len(sc); i++ {
		c := sc[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	if !getOrHead(w, r) {
		return
	}
	s.jwksRequests.Add(1)
	if s.jwksDown.Load() {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Retry-After", "1")
		http.Error(w, "JWKS unavailable (fault injected)", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(s.cfg.JWKSMaxAge/time.Second)))
	writeJSON(w, struct {
		Keys []JWK `json:"keys"`
	}{s.jwks()})
}

// Discovery is the discovery document (OpenID Connect Discovery 1.0,
// RFC 8414). The server issues no ID tokens; the OIDC-required fields name
// the access-token algorithm so discovery-based clients accept it.
type Discovery struct {
	Issuer                            string   `json:"issuer"`
	JWKSURI                           string   `json:"jwks_uri"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	// TokenEndpointAuthSigningAlgValuesSupported are the algorithms of
	// private_key_jwt client assertions (RFC 8414 §2).
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	// DPoPSigningAlgValuesSupported are the DPoP proof algorithms the token
	// endpoint accepts (RFC 9449 §5.1).
	DPoPSigningAlgValuesSupported    []string `json:"dpop_signing_alg_values_supported"`
	ResponseTypesSupported           []string `json:"response_types_supported"`
	SubjectTypesSupported            []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
	ScopesSupported                  []string `json:"scopes_supported"`
}

// Discovery returns the document the discovery endpoint serves. Its
// endpoints are under the issuer's origin.
func (s *Server) Discovery() Discovery {
	scopes := []string{}
	for _, c := range s.cfg.Clients {
		for _, sc := range c.Scopes {
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	return Discovery{
		Issuer:                            s.issuer,
		JWKSURI:                           s.publicURL + JWKSPath,
		TokenEndpoint:                     s.publicURL + TokenPath,
		GrantTypesSupported:               []string{GrantType},
		TokenEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		TokenEndpointAuthSigningAlgValuesSupported: slices.Clone(AssertionAlgorithms),
		DPoPSigningAlgValuesSupported:              s.DPoPAlgorithms(),
		ResponseTypesSupported:                     []string{}, // no authorization endpoint
		SubjectTypesSupported:                      []string{"public"},
		IDTokenSigningAlgValuesSupported:           []string{s.cfg.Algorithm},
		ScopesSupported:                            scopes,
	}
}

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	if !getOrHead(w, r) {
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, s.Discovery())
}

func getOrHead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	_, _ = w.Write(append(b, '\n'))
}
