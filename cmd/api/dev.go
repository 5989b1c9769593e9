package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/abc-inc/timesheets/pkg/devissuer"
	"github.com/abc-inc/timesheets/pkg/policy"
)

// devAudience is the API identifier the development issuer puts in aud.
const devAudience = "https://timesheets.abc-inc.example/"

// The development clients: the importer holds only batch:upload, as in the
// Auth0 scenario; admin holds every scope, for trying the API with curl.
// People's tokens come from the issuer's user-token endpoint, for its
// built-in test users (devissuer.BuiltinUsers).
var devClients = []struct {
	id     string
	scopes []string
}{
	{"importer", []string{"batch:upload"}},
	{"admin", []string{"batch:upload", "create:timesheets", "read:timesheets", "delete:timesheets", "approve:timesheets"}},
}

// startDevIssuer prepares the local authorization server of --dev and the
// policy that trusts it; the caller starts the server.
func startDevIssuer(ctx context.Context, c config, logger *slog.Logger) (*policy.Snapshot, *devissuer.Server, error) {
	var clients []devissuer.Client
	for _, dc := range devClients {
		cl, err := devissuer.ReadOrCreateClient(filepath.Join(c.devCredentials, dc.id), dc.id, dc.scopes)
		if err != nil {
			return nil, nil, fmt.Errorf("dev credentials: %w", err)
		}
		clients = append(clients, cl)
	}
	srv, err := devissuer.New(devissuer.Config{
		ListenAddress: c.devIssuerAddr,
		Audience:      devAudience,
		Clients:       clients,
		Users:         devissuer.BuiltinUsers(),
		Logger:        logger,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("dev issuer: %w", err)
	}
	snap, err := policy.Compile("dev", 1, policy.Sample(srv.Issuer(), devAudience))
	if err != nil {
		return nil, nil, fmt.Errorf("dev policy: %w", err)
	}
	logger.Warn("--dev: running a local development authorization server; never use it in production",
		"issuer", srv.Issuer(), "token_url", srv.TokenURL(), "user_token_url", srv.UserTokenURL(), "credentials", c.devCredentials)
	return snap, srv, nil
}
