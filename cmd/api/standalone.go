package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

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

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return waitFatal(ctx, fatal) })
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
		if initial, err = policy.LoadFile(c.policyFile); err != nil {
			metrics.PolicyReloads.WithLabelValues(metrics.ReloadInvalid).Inc()
			return err
		}
		g.Go(func() error {
			policy.WatchFile(ctx, c.policyFile, time.Second, func(s *policy.Snapshot, err error) {
				if err != nil {
					metrics.PolicyReloads.WithLabelValues(metrics.ReloadInvalid).Inc()
					logger.Error("policy file refused; the last valid policy stays in force", "error", err)
					return
				}
				enforce(ctx, holder, keys, s, logger)
			})
			return nil
		})
	}
	g.Go(func() error {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		enforce(wctx, holder, keys, initial, logger)
		return nil
	})

	ready := readiness(st, holder, keys)
	probes := http.NewServeMux()
	probes.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	probes.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := ready(r); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	for _, s := range []*server.Server{
		{Name: "api", Addr: c.listenAddress, Handler: apiHandler(st, holder, keys, c.tokenCacheSize, logger), TLS: tlsConfig},
		{Name: "probes", Addr: c.probeAddress, Handler: probes},
		{Name: "metrics", Addr: c.metricsAddress, Handler: promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{})},
	} {
		s.Logger, s.ShutdownTimeout = logger, shutdownTimeout
		g.Go(func() error { return s.Start(ctx) })
	}
	return g.Wait()
}
