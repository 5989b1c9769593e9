package importer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/abc-inc/timesheets/pkg/oidc"
)

// How the API identifier is sent to the token endpoint.
const (
	AudienceParamAudience = "audience" // Auth0
	AudienceParamResource = "resource" // RFC 8707 resource indicator
)

// DefaultExpiryDelta is how long before its expiry a token is replaced.
const DefaultExpiryDelta = time.Minute

// TokenConfig configures the client-credentials grant (RFC 6749 §4.4).
type TokenConfig struct {
	// TokenURL is the token endpoint; when empty it is discovered from
	// Issuer's OpenID Provider metadata.
	TokenURL string
	Issuer   string
	Credentials
	// Audience is the API identifier, sent as AudienceParam.
	Audience      string
	AudienceParam string
	Scopes        []string
	// AssertionAudience is the aud of private_key_jwt client assertions;
	// default the issuer identifier when the token endpoint is discovered
	// from Issuer (its metadata confirms it), else TokenURL.
	AssertionAudience string
	// Now is the clock of the client assertions (tests); default time.Now.
	Now func() time.Time
	// DPoP, if set, asks for DPoP-bound tokens (RFC 9449 §5): every token
	// request carries a proof, a use_dpop_nonce refusal is answered once
	// with the nonce it gave, and a token that is not of type DPoP is
	// refused (NotBoundError).
	DPoP *DPoP
	// AllowHTTP accepts a discovered plain http:// token endpoint that is
	// not loopback (Config.AllowHTTPIssuer).
	AllowHTTP bool
	// HTTPClient talks to the authorization server; it must have a timeout.
	HTTPClient  *http.Client
	ExpiryDelta time.Duration
	Backoff     *Backoff // retries discovery
}

// TokenSource hands out the client's access token, fetching one with the
// client-credentials grant and reusing it until shortly before it expires.
// Invalidate drops a token the API refused, so the next call fetches anew.
type TokenSource struct {
	base  oauth2.TokenSource
	delta time.Duration

	mu   sync.Mutex
	cur  oauth2.TokenSource
	last string

	fetches atomic.Int64
}

// NewTokenSource prepares a token source; it discovers the token endpoint if
// needed but fetches no token yet. ctx bounds every later fetch.
func NewTokenSource(ctx context.Context, c TokenConfig) (*TokenSource, error) {
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if c.ExpiryDelta <= 0 {
		c.ExpiryDelta = DefaultExpiryDelta
	}
	tokenURL := c.TokenURL
	if tokenURL == "" {
		var err error
		if tokenURL, err = discoverTokenURL(ctx, c.HTTPClient, c.Issuer, c.AllowHTTP, c.Backoff); err != nil {
			return nil, err
		}
	}
	params := url.Values{}
	if c.Audience != "" {
		param := c.AudienceParam
		if param == "" {
			param = AudienceParamAudience
		}
		params.Set(param, c.Audience)
	}
	// A client secret goes as x/oauth2 sends it (Basic, or in the form if
	// the server wants that); with a key the request carries a client
	// assertion instead, a new one each time, since each is used once.
	secretConfig := &clientcredentials.Config{
		ClientID:       c.ClientID,
		ClientSecret:   c.ClientSecret,
		TokenURL:       tokenURL,
		Scopes:         c.Scopes,
		EndpointParams: params,
	}
	if c.DPoP != nil {
		// Basic only: x/oauth2's probe of the other style would answer a
		// nonce challenge by itself, and leave the form style cached.
		secretConfig.AuthStyle = oauth2.AuthStyleInHeader
	}
	config := func() (*clientcredentials.Config, error) { return secretConfig, nil }
	if c.PrivateKey != nil {
		aud := c.AssertionAudience
		switch {
		case aud != "":
		case c.TokenURL == "" && c.Issuer != "":
			aud = c.Issuer // discovery checked that the metadata names it (OIDC Discovery §4.3)
		default:
			aud = tokenURL
		}
		now := c.Now
		if now == nil {
			now = time.Now
		}
		config = func() (*clientcredentials.Config, error) {
			a, err := clientAssertion(c.Credentials, aud, now())
			if err != nil {
				return nil, err
			}
			p := maps.Clone(params)
			p.Set("client_assertion_type", ClientAssertionType)
			p.Set("client_assertion", a)
			return &clientcredentials.Config{ClientID: c.ClientID, TokenURL: tokenURL, Scopes: c.Scopes,
				EndpointParams: p, AuthStyle: oauth2.AuthStyleInParams}, nil
		}
	}
	s := &TokenSource{delta: c.ExpiryDelta}
	hc := c.HTTPClient
	if c.DPoP != nil {
		base := hc.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		hc = &http.Client{Transport: &dpopTransport{base: base, d: c.DPoP}, Timeout: hc.Timeout,
			CheckRedirect: hc.CheckRedirect, Jar: hc.Jar}
	}
	octx := context.WithValue(ctx, oauth2.HTTPClient, hc)
	fetch := func() (*oauth2.Token, error) {
		s.fetches.Add(1)
		cc, err := config()
		if err != nil {
			return nil, err
		}
		return cc.Token(octx)
	}
	s.base = fetchFunc(func() (*oauth2.Token, error) {
		t, err := fetch()
		if c.DPoP != nil && isNonceChallenge(err) {
			t, err = fetch() // once, with the nonce the refusal gave (RFC 9449 §8)
		}
		if err != nil {
			return nil, tokenError(tokenURL, c.Credentials, err)
		}
		if c.DPoP != nil && !isDPoPToken(t.TokenType) {
			return nil, &NotBoundError{TokenURL: tokenURL, TokenType: t.TokenType}
		}
		return t, nil
	})
	s.cur = oauth2.ReuseTokenSourceWithExpiry(nil, s.base, s.delta)
	return s, nil
}

type fetchFunc func() (*oauth2.Token, error)

func (f fetchFunc) Token() (*oauth2.Token, error) { return f() }

// Token returns a valid token, fetching one if the last is about to expire.
func (s *TokenSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	cur := s.cur
	s.mu.Unlock()
	t, err := cur.Token()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.last = t.AccessToken
	s.mu.Unlock()
	return t, nil
}

// Invalidate forgets the token if it is still the current one (two uploads
// refused with the same token fetch one new token, not two).
func (s *TokenSource) Invalidate(accessToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == accessToken {
		s.cur = oauth2.ReuseTokenSourceWithExpiry(nil, s.base, s.delta)
		s.last = ""
	}
}

// Fetches counts token requests made so far.
func (s *TokenSource) Fetches() int64 { return s.fetches.Load() }

// isNonceChallenge reports whether a token request was refused with
// use_dpop_nonce and a DPoP-Nonce to retry with (RFC 9449 §8).
func isNonceChallenge(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == "use_dpop_nonce" && re.Response != nil && re.Response.Header.Get("DPoP-Nonce") != ""
}

// TokenError is a token request the authorization server refused.
type TokenError struct {
	TokenURL    string
	Status      int
	Code        string // RFC 6749 §5.2 error, e.g. invalid_client
	Description string
	// Method is the client authentication sent: client_secret or
	// private_key_jwt.
	Method string
}

func (e *TokenError) Error() string {
	msg := fmt.Sprintf("the authorization server refused the token request (%s answered %d", e.TokenURL, e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	msg += ")"
	switch e.Code {
	case "invalid_client", "unauthorized_client":
		if e.Method == "private_key_jwt" {
			msg += "; check the client id, private-key.pem and key-id in --credentials-dir, that the authorization server holds the public key for private_key_jwt, " +
				"and that it accepts the assertion's aud (the issuer when given --issuer, else --token-url; set --assertion-audience otherwise)"
		} else {
			msg += "; check the client id and secret in --credentials-dir, and that the client may use the client-credentials grant"
		}
	case "access_denied", "invalid_scope", "invalid_target":
		msg += "; check that the client is authorized for the API (--audience) and its scopes"
	case "invalid_dpop_proof":
		msg += "; the server refused the importer's DPoP proof: check that it accepts the key's algorithm (dpop_signing_alg_values_supported) and that the clocks agree"
	case "use_dpop_nonce":
		msg += "; the server asked for a DPoP nonce again after the importer sent the one it gave"
	}
	return msg
}

// tokenError classifies an error of the token endpoint: refusals are final,
// 429, 5xx and network errors are retryable. The response body is never
// quoted, in case it echoes a credential.
func tokenError(tokenURL string, creds Credentials, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		status := re.Response.StatusCode
		if retryableStatus(status) {
			return &retryable{err: fmt.Errorf("token endpoint %s answered %d", tokenURL, status),
				after: ParseRetryAfter(re.Response.Header.Get("Retry-After"), time.Now())}
		}
		return &TokenError{TokenURL: tokenURL, Status: status, Code: re.ErrorCode, Description: re.ErrorDescription, Method: creds.Method()}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &retryable{err: fmt.Errorf("token request to %s failed: %w", tokenURL, stripOAuthPrefix(err))}
}

func stripOAuthPrefix(err error) error {
	if msg, ok := strings.CutPrefix(err.Error(), "oauth2: cannot fetch token: "); ok {
		return errors.New(msg)
	}
	return err
}

// discoverTokenURL reads token_endpoint from the issuer's OpenID Provider
// metadata (OpenID Connect Discovery 1.0 §4; RFC 8414). The document must
// name the issuer exactly as given (§4.3), trailing "/" included.
func discoverTokenURL(ctx context.Context, client *http.Client, issuer string, allowHTTP bool, b *Backoff) (string, error) {
	if b == nil {
		b = &Backoff{MaxAttempts: DefaultMaxAttempts}
	}
	oc := &oidc.Client{HTTPClient: client}
	var meta *oidc.Metadata
	err := b.retry(ctx, func() error {
		var err error
		meta, err = oc.Discover(ctx, issuer)
		var status *oidc.StatusError
		var mismatch *oidc.IssuerMismatchError
		var noAnswer *url.Error
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &status):
			if retryableStatus(status.StatusCode) {
				return &retryable{err: err, after: ParseRetryAfter(status.Header.Get("Retry-After"), time.Now())}
			}
			return fmt.Errorf("%w; check --issuer, or give --token-url", err)
		case errors.As(err, &mismatch):
			if strings.TrimSuffix(mismatch.Got, "/") == strings.TrimSuffix(mismatch.Want, "/") {
				return fmt.Errorf("%w; set --issuer to %q", err, mismatch.Got)
			}
			return fmt.Errorf("%w; check --issuer", err)
		case errors.As(err, &noAnswer):
			return &retryable{err: err}
		}
		return err
	})
	if err != nil {
		return "", err
	}
	u := oidc.ConfigurationURL(issuer)
	if meta.TokenEndpoint == "" {
		return "", fmt.Errorf("OIDC discovery: %s has no token_endpoint; give --token-url", u)
	}
	if err := checkURL("token_endpoint", meta.TokenEndpoint, allowHTTP); err != nil {
		return "", err
	}
	return meta.TokenEndpoint, nil
}
