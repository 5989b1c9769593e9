package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/controller"
	"github.com/abc-inc/timesheets/pkg/policy"
	"github.com/abc-inc/timesheets/pkg/server"
)

// runInCluster enforces a ScopePolicy watched with controller-runtime; the
// manager serves metrics and probes, and runs the API on every replica.
func runInCluster(ctx context.Context, c config, logger *slog.Logger) error {
	ns, name, err := splitPolicyRef(c.policyRef, os.Getenv("POD_NAMESPACE"))
	if err != nil {
		return err
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("kubernetes config: %w", err)
	}
	tlsConfig, err := apiTLS(c, logger)
	if err != nil {
		return err
	}
	st, fatal, err := openStore(ctx, c.databaseURL, logger)
	if err != nil {
		return err
	}
	defer st.Close()

	holder := &policy.Holder{}
	keys := auth.NewKeys(auth.KeyOptions{Logger: logger})
	defer keys.Close()

	api := &server.Server{Name: "api", Addr: c.listenAddress, Logger: logger, ShutdownTimeout: shutdownTimeout,
		Handler: apiHandler(st, holder, keys, c.tokenCacheSize, logger, c.publicURL), TLS: tlsConfig}
	return controller.Run(ctx, cfg, controller.Options{
		Namespace: ns, Name: name,
		Holder: holder, Keys: keys,
		MetricsBindAddress:     c.metricsAddress,
		HealthProbeBindAddress: c.probeAddress,
		LeaderElection:         c.leaderElect,
		Runnables: []manager.Runnable{api, manager.RunnableFunc(func(ctx context.Context) error {
			return waitFatal(ctx, fatal)
		})},
		ReadyCheck: func(r *http.Request) error { return ping(r.Context(), st) },
		Logger:     logger,
	})
}
