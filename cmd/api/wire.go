package main

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"

	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/certfile"
	"github.com/abc-inc/timesheets/pkg/metrics"
	"github.com/abc-inc/timesheets/pkg/policy"
	"github.com/abc-inc/timesheets/pkg/server"
	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// apiHandler is the API as served: instrumented, then guarded by the
// policy, then routed.
func apiHandler(st timesheets.Store, holder *policy.Holder, keys *auth.Keys, cacheSize int, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	(&timesheets.API{Store: st, Logger: logger, Caller: auth.Caller, Client: auth.Client}).Register(mux)
	guard := &auth.Middleware{Policy: holder, Verifier: auth.NewVerifier(keys, cacheSize), Logger: logger, Realm: "timesheets"}
	return server.Instrument(mux, guard.Wrap(mux))
}

// apiTLS is the API listener's TLS configuration when the flags name a
// certificate (nil otherwise); the pair is read now, so a bad one fails at
// start, before the database is waited for.
func apiTLS(c config, logger *slog.Logger) (*tls.Config, error) {
	if c.tlsCertFile == "" {
		return nil, nil
	}
	certs, err := certfile.New(c.tlsCertFile, c.tlsKeyFile, logger)
	if err != nil {
		return nil, err
	}
	return certs.TLSConfig(), nil
}

// readiness fails until a policy is in force with its keys, and while the
// database cannot be reached.
func readiness(st timesheets.Store, holder *policy.Holder, keys *auth.Keys) func(*http.Request) error {
	return func(r *http.Request) error {
		snap := holder.Load()
		if snap == nil {
			return errors.New("no ScopePolicy in force")
		}
		if err := keys.Ready(snap.Issuers); err != nil {
			return err
		}
		return st.Ping(r.Context())
	}
}

// enforce puts a snapshot in force: keys for its issuers first, so a new
// issuer's tokens do not fail while the swap races the first fetch.
func enforce(ctx context.Context, holder *policy.Holder, keys *auth.Keys, snap *policy.Snapshot, logger *slog.Logger) {
	keys.Sync(snap.Issuers)
	_ = keys.WaitReady(ctx, snap.Issuers) // bounded by ctx; a dead JWKS must not block the swap forever
	holder.Store(snap)
	metrics.PolicyGeneration.Set(float64(snap.Generation))
	metrics.PolicyReloads.WithLabelValues(metrics.ReloadSuccess).Inc()
	logger.Info("policy in force", "source", snap.Source, "generation", snap.Generation,
		"issuers", len(snap.Issuers), "routes", len(snap.Routes), "audit", snap.Audit)
}
