// Package devissuer is a local development authorization server: it stands
// in for Auth0 on loopback so the API, the importer and the tests can get
// real access tokens without a tenant.
//
// It implements the OAuth 2.0 client-credentials grant (RFC 6749 §4.4) with
// client_secret_basic, client_secret_post and private_key_jwt (RFC 7523
// §2.2, OpenID Connect Core §9) client authentication, DPoP-bound tokens
// for a request with a DPoP proof (RFC 9449 §5, optionally demanding a
// server nonce), the audience
// (Auth0) and resource (RFC 8707) parameters, a JWKS of public keys, and a
// discovery document. Its access tokens have the shape of Auth0's: sub is
// "<client_id>@clients", azp the client, gty "client-credentials", and the
// granted scopes appear both in scope and in permissions.
//
// For trying rules about people, a development-only endpoint
// (UserTokenPath) mints user tokens for built-in test users (BuiltinUsers)
// without a login: sub "auth0|...", an employee id claim, org_id, acr and
// auth_time, no gty. It is served only on loopback.
//
// It is not for production: it serves plain HTTP unless given a TLS
// configuration, keeps its signing keys in memory only and refuses to listen
// beyond loopback unless told to.
package devissuer

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Paths of the endpoints, relative to the server's URL.
const (
	TokenPath     = "/oauth/token"
	JWKSPath      = "/.well-known/jwks.json"
	DiscoveryPath = "/.well-known/openid-configuration"
	// ASMetadataPath serves the same document as DiscoveryPath (RFC 8414).
	ASMetadataPath = "/.well-known/oauth-authorization-server"
)

// Defaults of Config.
const (
	DefaultListenAddress = "127.0.0.1:0"
	DefaultTokenTTL      = time.Hour
	DefaultJWKSMaxAge    = 5 * time.Minute
	DefaultAlgorithm     = "RS256"
)

// Client is an OAuth 2.0 confidential client allowed the client-credentials
// grant. It authenticates with its Secret (client_secret_basic or
// client_secret_post) or, when it has Keys instead, with a client assertion
// signed by one of them (private_key_jwt); never both.
type Client struct {
	ID     string
	Secret string
	// Keys are the public keys of a private_key_jwt client.
	Keys []ClientKey
	// Scopes the client is granted; a token request may ask for a subset.
	Scopes []string
	// Audiences the client may request tokens for; empty means any audience
	// the server knows (Config.Audience, Config.Audiences, and every
	// client's Audiences).
	Audiences []string
}

// Config configures a Server. The zero value is usable apart from Clients.
type Config struct {
	// ListenAddress is host:port to bind; default "127.0.0.1:0". The host
	// must be a loopback IP or "localhost" unless AllowNonLoopback.
	ListenAddress string
	// AllowNonLoopback permits binding a non-loopback address, for example a
	// private bridge address pods can reach. Binding every interface
	// (0.0.0.0, ::) also needs an explicit Issuer.
	AllowNonLoopback bool
	// Issuer is the iss of every token; default "http://<bound address>/".
	// It must be an absolute http(s) URL whose path is "/" (like Auth0's
	// "https://TENANT.auth0.com/"). The discovery document names endpoints
	// under it, so it must reach this server.
	Issuer string
	// Audience is the aud of a token whose request names none. Empty means
	// a request must name one.
	Audience string
	// Audiences are further audiences (API identifiers) tokens may be
	// requested for, besides Audience and the clients' Audiences.
	Audiences []string
	Clients   []Client
	// Users are the test users UserTokenPath mints tokens for; none: no
	// such endpoint. Bound beyond loopback, the server leaves it out.
	Users []User
	// DPoPNonce makes the token endpoint demand a nonce of its own in DPoP
	// proofs (RFC 9449 §8): a proof without a valid one is refused with
	// use_dpop_nonce and a DPoP-Nonce header to retry with.
	DPoPNonce bool
	// TokenTTL is the lifetime of issued tokens; default 1h.
	TokenTTL time.Duration
	// Algorithm of the signing keys: RS256 (default), ES256 or EdDSA.
	Algorithm string
	// JWKSMaxAge is the max-age of the JWKS Cache-Control; default 5m.
	JWKSMaxAge time.Duration
	// TLS, when set, makes the server speak https with it (ThrowawayTLS
	// makes one); URLs and the default Issuer then start with https://.
	// Without it the server speaks plain http, which the API and the
	// importer accept only on loopback.
	TLS *tls.Config
	// Logger receives the start-up line and one line per token request
	// (never a secret or a token); default slog.Default().
	Logger *slog.Logger
}

// Server is a running (or ready to run) development authorization server.
// New binds its listener, so its URLs are known before Start.
type Server struct {
	cfg       Config
	log       *slog.Logger
	ln        net.Listener
	srv       *http.Server
	base      string // http://host:port
	issuer    string
	publicURL string // issuer origin: where discovery says the endpoints are

	clients   map[string]*client
	audiences map[string]struct{}
	users     map[string]*user
	// assertions are the client assertions' (client, jti) seen, until
	// their exp: each is accepted once.
	assertions *jtiSet
	dpop       *dpopState

	mu   sync.RWMutex
	keys []*signingKey // published keys, oldest first; the last one signs

	jwksDown     atomic.Bool
	jwksRequests atomic.Int64

	startOnce sync.Once
	closeOnce sync.Once
	closed    chan struct{}
	closeErr  error
}

type client struct {
	Client
	secretHash [sha256.Size]byte
	scopes     map[string]struct{}
	audiences  map[string]struct{} // nil: any known audience
}

// New validates cfg, generates a signing key and binds the listener.
// The caller must Start or Close the server.
func New(cfg Config) (*Server, error) {
	if cfg.ListenAddress == "" {
		cfg.ListenAddress = DefaultListenAddress
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.TokenTTL < time.Second {
		return nil, fmt.Errorf("devissuer: TokenTTL %s is shorter than a second", cfg.TokenTTL)
	}
	if cfg.JWKSMaxAge == 0 {
		cfg.JWKSMaxAge = DefaultJWKSMaxAge
	}
	if cfg.JWKSMaxAge < 0 {
		return nil, errors.New("devissuer: negative JWKSMaxAge")
	}
	if cfg.Algorithm == "" {
		cfg.Algorithm = DefaultAlgorithm
	}
	if !slices.Contains(SupportedAlgorithms, cfg.Algorithm) {
		return nil, fmt.Errorf("devissuer: algorithm %q not supported (want one of %v)", cfg.Algorithm, SupportedAlgorithms)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, log: cfg.Logger, closed: make(chan struct{}), assertions: newJTISet()}
	s.dpop = newDPoPState(cfg.DPoPNonce, s.now)
	if err := s.setClients(); err != nil {
		return nil, err
	}
	if err := s.setUsers(); err != nil {
		return nil, err
	}
	if cfg.Issuer != "" {
		if err := checkIssuer(cfg.Issuer); err != nil {
			return nil, err
		}
	}
	key, err := newSigningKey(cfg.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("devissuer: %w", err)
	}
	s.keys = []*signingKey{key}

	if err := s.listen(); err != nil {
		return nil, err
	}
	s.issuer = cfg.Issuer
	if s.issuer == "" {
		s.issuer = s.base + "/"
	}
	u, _ := url.Parse(s.issuer) // checked above, or built from the bound address
	s.publicURL = u.Scheme + "://" + u.Host

	mux := http.NewServeMux()
	mux.HandleFunc(TokenPath, s.handleToken)
	mux.HandleFunc(JWKSPath, s.handleJWKS)
	mux.HandleFunc(DiscoveryPath, s.handleDiscovery)
	mux.HandleFunc(ASMetadataPath, s.handleDiscovery)
	if s.UserTokens() {
		mux.HandleFunc(UserTokenPath, s.handleUserToken)
	}
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

func (s *Server) setClients() error {
	if len(s.cfg.Clients) == 0 {
		return errors.New("devissuer: no clients configured")
	}
	s.clients = make(map[string]*client, len(s.cfg.Clients))
	s.audiences = map[string]struct{}{}
	addAud := func(a string) error {
		if a == "" {
			return errors.New("devissuer: empty audience")
		}
		s.audiences[a] = struct{}{}
		return nil
	}
	if s.cfg.Audience != "" {
		_ = addAud(s.cfg.Audience)
	}
	for _, a := range s.cfg.Audiences {
		if err := addAud(a); err != nil {
			return err
		}
	}
	for _, c := range s.cfg.Clients {
		if c.ID == "" {
			return errors.New("devissuer: client with an empty ID")
		}
		switch {
		case c.Secret == "" && len(c.Keys) == 0:
			return fmt.Errorf("devissuer: client %q has an empty secret and no keys", c.ID)
		case c.Secret != "" && len(c.Keys) > 0:
			return fmt.Errorf("devissuer: client %q has a secret and keys; give it one way to authenticate", c.ID)
		}
		if _, dup := s.clients[c.ID]; dup {
			return fmt.Errorf("devissuer: client %q configured twice", c.ID)
		}
		cl := &client{Client: c, secretHash: sha256.Sum256([]byte(c.Secret)), scopes: map[string]struct{}{}}
		cl.Scopes = slices.Clone(c.Scopes)
		cl.Keys = slices.Clone(c.Keys)
		for _, k := range c.Keys {
			if _, err := assertionMethod(k.Public); err != nil {
				return fmt.Errorf("devissuer: client %q: key %q: %w", c.ID, k.KID, err)
			}
		}
		cl.Audiences = slices.Clone(c.Audiences)
		for _, sc := range c.Scopes {
			if !validScopeToken(sc) {
				return fmt.Errorf("devissuer: client %q: invalid scope %q", c.ID, sc)
			}
			cl.scopes[sc] = struct{}{}
		}
		if len(c.Audiences) > 0 {
			cl.audiences = map[string]struct{}{}
			for _, a := range c.Audiences {
				if err := addAud(a); err != nil {
					return fmt.Errorf("%w of client %q", err, c.ID)
				}
				cl.audiences[a] = struct{}{}
			}
		}
		s.clients[c.ID] = cl
	}
	return nil
}

func checkIssuer(iss string) error {
	u, err := url.Parse(iss)
	if err != nil {
		return fmt.Errorf("devissuer: issuer: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("devissuer: issuer %q: scheme must be http or https", iss)
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return fmt.Errorf("devissuer: issuer %q: want scheme://host[:port]/ without user, query or fragment", iss)
	case u.Path != "/":
		return fmt.Errorf("devissuer: issuer %q must end with \"/\" and have no other path", iss)
	}
	return nil
}

// listen binds the listener, refusing non-loopback addresses unless allowed.
func (s *Server) listen() error {
	addr := s.cfg.ListenAddress
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("devissuer: listen address %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
	if !loopback && !s.cfg.AllowNonLoopback {
		return fmt.Errorf("devissuer: refusing to listen on non-loopback address %q: this is a development server (set AllowNonLoopback to override)", addr)
	}
	if (host == "" || (ip != nil && ip.IsUnspecified())) && s.cfg.Issuer == "" {
		return fmt.Errorf("devissuer: listening on every interface (%q) needs an explicit Issuer", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("devissuer: listen: %w", err)
	}
	bound, _ := ln.Addr().(*net.TCPAddr)
	if bound == nil {
		ln.Close()
		return fmt.Errorf("devissuer: listen on %q: not a TCP address", addr)
	}
	if !s.cfg.AllowNonLoopback && !bound.IP.IsLoopback() {
		ln.Close() // "localhost" resolved to something else
		return fmt.Errorf("devissuer: %q bound the non-loopback address %s; refusing", addr, bound)
	}
	s.ln, s.base = ln, "http://"+bound.String()
	if s.cfg.TLS != nil {
		if len(s.cfg.TLS.Certificates) == 0 && s.cfg.TLS.GetCertificate == nil {
			ln.Close()
			return errors.New("devissuer: Config.TLS has no certificate")
		}
		s.ln, s.base = tls.NewListener(ln, s.cfg.TLS.Clone()), "https://"+bound.String()
	}
	return nil
}

// Start serves until ctx ends or Close is called, then lets in-flight
// requests finish. It returns nil after an orderly stop.
func (s *Server) Start(ctx context.Context) error {
	started := false
	s.startOnce.Do(func() { started = true })
	if !started {
		return errors.New("devissuer: Start called twice")
	}
	select {
	case <-s.closed:
		return errors.New("devissuer: Start after Close")
	default:
	}
	attrs := []any{"issuer", s.issuer, "address", s.ln.Addr().String(), "token_endpoint", s.TokenURL(),
		"jwks_uri", s.JWKSURL(), "algorithm", s.cfg.Algorithm}
	if !s.Loopback() {
		attrs = append(attrs, "non_loopback", true)
	}
	switch {
	case s.UserTokens():
		attrs = append(attrs, "user_token_endpoint", s.UserTokenURL())
	case len(s.users) > 0:
		attrs = append(attrs, "user_token_endpoint", "off: not on loopback")
	}
	s.log.Warn("local development authorization server listening; not for production", attrs...)

	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("devissuer: %w", err)
	case <-ctx.Done():
	case <-s.closed:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	s.closeOnce.Do(func() { close(s.closed) })
	if err != nil {
		return fmt.Errorf("devissuer: shutdown: %w", err)
	}
	return nil
}

// Close stops the server: Start returns, and the listener is released even
// when Start was never called. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		// Shutdown closes the listener; when Serve runs, Start waits for it.
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.closeErr = s.srv.Shutdown(sctx)
		if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) && s.closeErr == nil {
			s.closeErr = err
		}
	})
	return s.closeErr
}

// URL is the base URL of the bound listener, e.g. http://127.0.0.1:41234
// (https:// with Config.TLS).
func (s *Server) URL() string { return s.base }

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Loopback reports whether the bound address is a loopback address.
func (s *Server) Loopback() bool {
	a, ok := s.ln.Addr().(*net.TCPAddr)
	return ok && a.IP.IsLoopback()
}

// Issuer is the iss of the tokens, e.g. http://127.0.0.1:41234/.
func (s *Server) Issuer() string { return s.issuer }

// Audience is the default audience (Config.Audience).
func (s *Server) Audience() string { return s.cfg.Audience }

// JWKSURL is the JWKS on the bound listener.
func (s *Server) JWKSURL() string { return s.base + JWKSPath }

// TokenURL is the token endpoint on the bound listener.
func (s *Server) TokenURL() string { return s.base + TokenPath }

// UserTokenURL is the development-only user-token endpoint on the bound
// listener; it answers 404 unless UserTokens.
func (s *Server) UserTokenURL() string { return s.base + UserTokenPath }

// UserTokens reports whether the user-token endpoint is served: users are
// configured and the server is bound to loopback.
func (s *Server) UserTokens() bool { return len(s.users) > 0 && s.Loopback() }

// DiscoveryURL is the discovery document on the bound listener.
func (s *Server) DiscoveryURL() string { return s.base + DiscoveryPath }

// SetJWKSAvailable injects an outage: while false the JWKS answers 503.
func (s *Server) SetJWKSAvailable(ok bool) { s.jwksDown.Store(!ok) }

// JWKSRequests counts requests to the JWKS endpoint, failed ones included.
func (s *Server) JWKSRequests() int64 { return s.jwksRequests.Load() }
