package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/abc-inc/timesheets/pkg/metrics"
	"github.com/abc-inc/timesheets/pkg/policy"
	"github.com/abc-inc/timesheets/pkg/service"
)

// runStandalone serves with the policy from a file (or the development
// policy), without a cluster: the file watcher feeds the service's
// activator, and the servers run in an errgroup instead of a manager.
func runStandalone(ctx context.Context, c config, logger *slog.Logger) error {
	tlsConfig, certs, err := apiTLS(c)
	if err != nil {
		return err
	}
	// A registry of the process's own, with the collectors controller-runtime's
	// registry holds in cluster mode, so /metrics has the same families.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	st, fatal, err := openStore(ctx, c.databaseURL, logger, m)
	if err != nil {
		return err
	}
	defer st.Close()
	svc := service.New(service.Options{Store: st, Logger: logger, Metrics: m, TokenCacheSize: c.tokenCacheSize, PublicURL: c.publicURL})

	var initial *policy.Snapshot
	var devServer manager.Runnable
	if c.dev {
		snap, dev, err := startDevIssuer(ctx, c, logger)
		if err != nil {
			return err
		}
		devServer = dev
		initial = snap
	}
	if c.policyFile != "" {
		// A policy file that does not compile at start stops the process; a
		// later bad edit only leaves the last good policy in force.
		if initial, err = policy.LoadFile(c.policyFile); err != nil {
			m.PolicyReloads.WithLabelValues(metrics.ReloadInvalid).Inc()
			return err
		}
	}
	runnables, err := serving(c, svc, tlsConfig, certs, fatal, reg, logger)
	if err != nil {
		return err
	}
	if devServer != nil {
		runnables = append(runnables, devServer)
	}
	// Proposed before the watcher starts, so whatever the watcher reads
	// (the same file, or an edit made during start-up) comes after it.
	svc.Activator.Propose(initial)
	if c.policyFile != "" {
		runnables = append(runnables, everyReplica(func(ctx context.Context) error {
			policy.WatchFile(ctx, c.policyFile, time.Second, func(s *policy.Snapshot, err error) {
				if err != nil {
					svc.Activator.Refuse(0, err)
					return
				}
				svc.Activator.Propose(s)
			})
			return nil
		}))
	}

	g, ctx := errgroup.WithContext(ctx)
	for _, r := range runnables {
		g.Go(func() error { return r.Start(ctx) })
	}
	return g.Wait()
}
