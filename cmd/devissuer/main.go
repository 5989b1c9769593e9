// Command devissuer runs the local development authorization server on
// its own: an Auth0 stand-in issuing client-credentials access tokens for
// the importer, reader and admin clients and, on loopback, development user tokens
// for built-in test users. Never use it in production.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/abc-inc/timesheets/pkg/devissuer"
)

type config struct {
	listenAddress    string
	allowNonLoopback bool
	issuer           string
	audience         string
	credentialsDir   string
	tlsCAOut         string
	logLevel         string
	dpopNonce        bool
}

type usageError struct{ error }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr, nil)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	}
	fmt.Fprintln(stderr, "devissuer:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("devissuer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listenAddress, "listen-address", "127.0.0.1:9443", "address to listen on (plain HTTP unless --tls-ca-out); loopback unless --allow-non-loopback")
	fs.BoolVar(&c.allowNonLoopback, "allow-non-loopback", false, "allow a non-loopback --listen-address, e.g. a bridge address pods can reach")
	fs.StringVar(&c.issuer, "issuer", "", "iss of the tokens, ending in \"/\" (default http://LISTEN-ADDRESS/)")
	fs.StringVar(&c.audience, "audience", "https://timesheets.abc-inc.example/", "aud of the tokens when a request names none")
	fs.StringVar(&c.credentialsDir, "credentials-dir", "./data/dev-credentials", "where client credentials are kept, one directory per client")
	fs.StringVar(&c.tlsCAOut, "tls-ca-out", "", "serve https, with a certificate for the listen host from a throwaway CA written to this PEM file for clients to trust;\n"+
		"needed off loopback, where the API and the importer refuse plain http")
	fs.BoolVar(&c.dpopNonce, "dpop-nonce", false, "demand a server nonce in DPoP proofs at the token endpoint (RFC 9449 §8: 400 use_dpop_nonce with a DPoP-Nonce to retry with)")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, usageError{err}
	}
	if fs.NArg() > 0 {
		return c, usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if c.credentialsDir == "" {
		return c, usageError{errors.New("--credentials-dir must not be empty")}
	}
	return c, nil
}

// run serves until ctx ends. ready, if not nil, receives the server once it
// is bound (tests use it).
func run(ctx context.Context, args []string, stderr io.Writer, ready func(*devissuer.Server)) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return usageError{fmt.Errorf("--log-level: %w", err)}
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	// The clients of `api --dev` (devissuer.BuiltinClients).
	cls, err := devissuer.ReadOrCreateBuiltinClients(c.credentialsDir)
	if err != nil {
		return err
	}
	tlsConfig, err := throwawayTLS(c)
	if err != nil {
		return err
	}
	srv, err := devissuer.New(devissuer.Config{
		ListenAddress:    c.listenAddress,
		AllowNonLoopback: c.allowNonLoopback,
		Issuer:           c.issuer,
		Audience:         c.audience,
		Clients:          cls,
		Users:            devissuer.BuiltinUsers(),
		DPoPNonce:        c.dpopNonce,
		TLS:              tlsConfig,
		Logger:           logger,
	})
	if err != nil {
		return err
	}
	defer srv.Close()

	fmt.Fprintf(stderr, "devissuer: local development authorization server, NOT for production\n"+
		"  issuer:         %s\n  token endpoint: %s\n  jwks:           %s\n  audience:       %s\n",
		srv.Issuer(), srv.TokenURL(), srv.JWKSURL(), c.audience)
	if c.tlsCAOut != "" {
		fmt.Fprintf(stderr, "  CA to trust:    %s\n", c.tlsCAOut)
	}
	dpopNote := ""
	if c.dpopNonce {
		dpopNote = ", a nonce required"
	}
	fmt.Fprintf(stderr, "  DPoP:           a proof in a DPoP header gets a bound token (token_type DPoP, cnf.jkt)%s\n", dpopNote)
	for _, cl := range cls {
		dir := filepath.Join(c.credentialsDir, cl.ID)
		files := devissuer.ClientIDFile + ", " + devissuer.ClientSecretFile
		if len(cl.Keys) > 0 {
			files = devissuer.ClientIDFile + ", " + devissuer.PrivateKeyFile + ", " + devissuer.KeyIDFile + ": private_key_jwt"
		}
		fmt.Fprintf(stderr, "  client %-12s  credentials in %s (%s)\n", cl.ID, dir, files)
	}
	if srv.UserTokens() {
		fmt.Fprintf(stderr, "  user tokens:    POST %s user=NAME [scope=...] [step_up=mfa] [auth_age=SECONDS]\n", srv.UserTokenURL())
		for _, u := range devissuer.BuiltinUsers() {
			fmt.Fprintf(stderr, "  user %-10s  %s=%s, scopes %s\n", u.Name, devissuer.EmployeeClaim, u.EmployeeID, strings.Join(u.Scopes, " "))
		}
	} else {
		fmt.Fprintln(stderr, "  user tokens:    off (only on loopback)")
	}
	if ready != nil {
		ready(srv)
	}
	return srv.Start(ctx)
}

// throwawayTLS makes the server's certificate for --tls-ca-out and writes the
// CA that signed it; nil without the flag.
func throwawayTLS(c config) (*tls.Config, error) {
	if c.tlsCAOut == "" {
		return nil, nil
	}
	host, _, err := net.SplitHostPort(c.listenAddress)
	if err != nil {
		return nil, usageError{fmt.Errorf("--listen-address: %w", err)}
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return nil, usageError{errors.New("--tls-ca-out needs a --listen-address with a specific host, the name clients connect to")}
	}
	cfg, caPEM, err := devissuer.ThrowawayTLS(host)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(c.tlsCAOut, caPEM, 0o644); err != nil {
		return nil, fmt.Errorf("--tls-ca-out: %w", err)
	}
	return cfg, nil
}
