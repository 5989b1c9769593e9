package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/devissuer"
	"github.com/abc-inc/timesheets/pkg/policy"
)

// devAudience is the API identifier the development issuer puts in aud.
const devAudience = "https://timesheets.abc-inc.example/"

// startDevIssuer prepares the local authorization server of --dev and the
// policy that trusts it; the caller starts the server.
func startDevIssuer(ctx context.Context, c config, logger *slog.Logger) (*policy.Snapshot, *devissuer.Server, error) {
	clients, err := devissuer.ReadOrCreateBuiltinClients(c.devCredentials)
	if err != nil {
		return nil, nil, fmt.Errorf("dev credentials: %w", err)
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
	snap, err := policy.Compile("dev", 1, devPolicy(srv.Issuer()))
	if err != nil {
		return nil, nil, fmt.Errorf("dev policy: %w", err)
	}
	logger.Warn("--dev: running a local development authorization server; never use it in production",
		"issuer", srv.Issuer(), "token_url", srv.TokenURL(), "user_token_url", srv.UserTokenURL(), "credentials", c.devCredentials)
	return snap, srv, nil
}

// devPolicy is the policy of --dev: the sample, taking ES256 as well as
// RS256, since the policy's algorithms are its DPoP proofs' too and ES256
// is the algorithm of the importer's --dpop proofs and of hack/dpop-proof's.
func devPolicy(issuer string) v1alpha1.ScopePolicySpec {
	spec := policy.Sample(issuer, devAudience)
	spec.Algorithms = []v1alpha1.Algorithm{"RS256", "ES256"}
	return spec
}
