package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/abc-inc/timesheets/pkg/server"
	"github.com/abc-inc/timesheets/pkg/service"
)

// newServer listens on addr now (a taken port fails at start, and the log
// names the bound address, so a test may ask for port 0) and returns the
// runnable that serves h there with the limits every listener of the API
// has, until its context ends; then in-flight requests get shutdownTimeout.
// TLS, when set, makes it speak https, HTTP/2 included.
func newServer(name, addr string, h http.Handler, tlsConfig *tls.Config, logger *slog.Logger) (*manager.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s server: listen on %s: %w", name, addr, err)
	}
	if tlsConfig != nil {
		tlsConfig = tlsConfig.Clone()
		tlsConfig.NextProtos = []string{"h2", "http/1.1"} // what ServeTLS would add
		ln = tls.NewListener(ln, tlsConfig)
	}
	logger.Info("serving", "server", name, "address", ln.Addr().String(), "tls", tlsConfig != nil)
	timeout := shutdownTimeout
	return &manager.Server{
		Name: name,
		Server: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    32 << 10,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
		Listener:        ln,
		ShutdownTimeout: &timeout,
	}, nil
}

// serving is what both modes run on every replica, in a manager or an
// errgroup: the service, its API, probe and metrics servers (metrics from
// gatherer), the certificate watcher (when serving TLS) and the wait for a
// final database error. The modes differ only in what feeds the policy.
func serving(c config, svc *service.Service, tlsConfig *tls.Config, certs *certwatcher.CertWatcher,
	fatal <-chan error, gatherer prometheus.Gatherer, logger *slog.Logger) ([]manager.Runnable, error) {
	runnables, err := newServers(logger,
		listener{"api", c.listenAddress, svc.Handler(), tlsConfig},
		listener{"probes", c.probeAddress, server.Probes(svc.Ready), nil},
		listener{"metrics", c.metricsAddress, promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}), nil})
	if err != nil {
		return nil, err
	}
	runnables = append(runnables, svc, everyReplica(func(ctx context.Context) error { return waitFatal(ctx, fatal) }))
	if certs != nil {
		runnables = append(runnables, certs)
	}
	return runnables, nil
}

// listener describes one server of newServers.
type listener struct {
	name, addr string
	handler    http.Handler
	tls        *tls.Config
}

// newServers is newServer for each; when one cannot listen, those already
// listening are closed.
func newServers(logger *slog.Logger, ls ...listener) ([]manager.Runnable, error) {
	var servers []manager.Runnable
	for _, l := range ls {
		s, err := newServer(l.name, l.addr, l.handler, l.tls, logger)
		if err != nil {
			for _, s := range servers {
				s.(*manager.Server).Listener.Close()
			}
			return nil, err
		}
		servers = append(servers, s)
	}
	return servers, nil
}

// apiTLS is the API listener's TLS configuration when the flags name a
// certificate (nil otherwise), and the watcher that reloads it when the
// files change (a renewed Secret), keeping the last good pair when a
// replacement is broken; the caller runs the watcher. The pair is read now,
// so a bad one fails at start, before the database is waited for.
func apiTLS(c config) (*tls.Config, *certwatcher.CertWatcher, error) {
	if c.tlsCertFile == "" {
		return nil, nil, nil
	}
	cw, err := certwatcher.New(c.tlsCertFile, c.tlsKeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--tls-cert-file %s, --tls-key-file %s: %w", c.tlsCertFile, c.tlsKeyFile, err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: cw.GetCertificate}, cw, nil
}

// everyReplica runs a function on every replica, leader or not.
type everyReplica func(context.Context) error

func (f everyReplica) Start(ctx context.Context) error { return f(ctx) }
func (everyReplica) NeedLeaderElection() bool          { return false }
