package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/abc-inc/timesheets/pkg/controller"
	"github.com/abc-inc/timesheets/pkg/metrics"
	"github.com/abc-inc/timesheets/pkg/service"
)

// runInCluster enforces a ScopePolicy watched with controller-runtime: the
// manager runs the reconcilers and, on every replica, the service and its
// API, probe and metrics servers.
func runInCluster(ctx context.Context, c config, logger *slog.Logger) error {
	ns, name, err := splitPolicyRef(c.policyRef, os.Getenv("POD_NAMESPACE"))
	if err != nil {
		return err
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("kubernetes config: %w", err)
	}
	tlsConfig, certs, err := apiTLS(c)
	if err != nil {
		return err
	}
	// controller-runtime's registry: /metrics exposes the API's figures
	// beside the controllers', the Go and the process ones.
	m := metrics.New(crmetrics.Registry)
	st, fatal, err := openStore(ctx, c.databaseURL, logger, m)
	if err != nil {
		return err
	}
	defer st.Close()
	svc := service.New(service.Options{Store: st, Logger: logger, Metrics: m, TokenCacheSize: c.tokenCacheSize, PublicURL: c.publicURL})

	mgr, err := ctrl.NewManager(cfg, manager.Options{
		Scheme: controller.Scheme(),
		Logger: logr.FromSlogHandler(logger.Handler()),
		Cache:  controller.CacheOptions(ns, name),
		// Metrics and probes are served by servers of their own (below), as
		// in file mode: /readyz stays 200 with a note while a new generation
		// waits and a 503 says why, which controller-runtime's healthz
		// cannot; /metrics serves controller-runtime's registry all the same.
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// Every replica enforces; the election only picks the status writer.
		LeaderElection:                c.leaderElect,
		LeaderElectionID:              controller.LeaseName(name),
		LeaderElectionNamespace:       ns,
		LeaderElectionResourceLock:    "leases",
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("new manager: %w", err)
	}
	if _, err := controller.SetupWithManager(mgr, controller.Options{Namespace: ns, Name: name,
		Activator: svc.Activator, Keys: svc.Keys, Logger: logger}); err != nil {
		return err
	}
	runnables, err := serving(c, svc, tlsConfig, certs, fatal, crmetrics.Registry, logger)
	if err != nil {
		return err
	}
	for _, r := range runnables {
		if err := mgr.Add(r); err != nil {
			return fmt.Errorf("manager: %w", err)
		}
	}
	// Leadership lost ends Start with an error: the process exits, as
	// controller-runtime requires, and the kubelet restarts it.
	return mgr.Start(ctx)
}
