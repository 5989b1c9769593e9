package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/abc-inc/timesheets/pkg/activation"
	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/metrics"
	"github.com/abc-inc/timesheets/pkg/policy"
	"github.com/abc-inc/timesheets/pkg/server"
)

// runStandalone serves with the policy from a file (or the development
// policy), without a cluster.
func runStandalone(ctx context.Context, c config, logger *slog.Logger) error {
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
	act := activation.New(activation.Options{Holder: holder, Keys: keys, Logger: logger})

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return waitFatal(ctx, fatal) })
	g.Go(func() error { return act.Run(ctx) })
	var initial *policy.Snapshot
	if c.dev {
		snap, devServer, err := startDevIssuer(ctx, c, logger)
		if err != nil {
			return err
		}
		g.Go(func() error { return devServer.Start(ctx) })
		initial = snap
	}
	if c.policyFile != "" {
		// A policy file that does not compile at start stops the process; a
		// later bad edit only leaves the last good policy in force.
		if initial, err = policy.LoadFile(c.policyFile); err != nil {
			metrics.PolicyReloads.WithLabelValues(metrics.ReloadInvalid).Inc()
			return err
		}
	}
	// Proposed before the watcher starts, so whatever the watcher reads
	// (the same file, or an edit made during start-up) comes after it.
	act.Propose(initial)
	if c.policyFile != "" {
		g.Go(func() error {
			policy.WatchFile(ctx, c.policyFile, time.Second, func(s *policy.Snapshot, err error) {
				if err != nil {
					act.Refuse(0, err)
					return
				}
				act.Propose(s)
			})
			return nil
		})
	}

	for _, s := range []*server.Server{
		{Name: "api", Addr: c.listenAddress, Handler: apiHandler(st, holder, keys, c.tokenCacheSize, logger, c.publicURL), TLS: tlsConfig},
		{Name: "probes", Addr: c.probeAddress, Handler: server.Probes(readiness(st, act))},
		{Name: "metrics", Addr: c.metricsAddress, Handler: promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{})},
	} {
		s.Logger, s.ShutdownTimeout = logger, shutdownTimeout
		g.Go(func() error { return s.Start(ctx) })
	}
	return g.Wait()
}
