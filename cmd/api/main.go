// Command api serves the Timesheets API: an OAuth 2.0 resource server that
// checks bearer JWTs against a ScopePolicy and stores timesheets.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	crconfig "sigs.k8s.io/controller-runtime/pkg/client/config"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/tracing"
)

type config struct {
	listenAddress  string
	probeAddress   string
	metricsAddress string
	policyFile     string
	policyRef      string // namespace/name of a ScopePolicy in the cluster
	databaseURL    string
	leaderElect    bool
	dev            bool
	devIssuerAddr  string
	devCredentials string
	tokenCacheSize int
	tlsCertFile    string
	tlsKeyFile     string
	logLevel       string
	publicURL      *url.URL // --public-url; nil: each request's own
	kubeconfig     string
}

func main() {
	os.Exit(exitCode(run(context.Background(), os.Args[1:])))
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(os.Stderr, "api:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

type usageError struct{ error }

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	fs.StringVar(&c.listenAddress, "listen-address", ":8080", "address the API listens on")
	fs.StringVar(&c.probeAddress, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.StringVar(&c.metricsAddress, "metrics-bind-address", ":9090", "address of /metrics")
	fs.StringVar(&c.policyFile, "policy-file", "", "ScopePolicy YAML file; reloaded when it changes")
	fs.StringVar(&c.policyRef, "policy", "", "ScopePolicy to watch in the cluster, as NAMESPACE/NAME or NAME (namespace from POD_NAMESPACE)")
	// The env var lets a URL with a password stay out of the process arguments.
	fs.StringVar(&c.databaseURL, "database-url", envOr("DATABASE_URL", "sqlite://./data/timesheets.db"), "sqlite://PATH (embedded) or postgres://...; default $DATABASE_URL")
	fs.BoolVar(&c.leaderElect, "leader-elect", false, "elect one replica to write ScopePolicy status (with --policy)")
	fs.BoolVar(&c.dev, "dev", false, "also run a local development authorization server on loopback (never in production)")
	fs.StringVar(&c.devIssuerAddr, "dev-issuer-address", "127.0.0.1:9443", "loopback address of the development authorization server (with --dev)")
	fs.StringVar(&c.devCredentials, "dev-credentials-dir", "./data/dev-credentials", "where --dev writes client credentials, one directory per client")
	fs.IntVar(&c.tokenCacheSize, "token-cache-size", 10000, "verified tokens remembered until they expire (0 disables)")
	fs.StringVar(&c.tlsCertFile, "tls-cert-file", "", "serve the API over https with this PEM certificate (chain), reloaded when the file changes; with --tls-key-file")
	fs.StringVar(&c.tlsKeyFile, "tls-key-file", "", "PEM private key of --tls-cert-file")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	publicURL := fs.String("public-url", "", "the API's public base URL behind an ingress or under a path, such as https://api.example/timesheets; names the RFC 9728 metadata in challenges (default: each request's scheme and Host)")
	// controller-runtime's own flag, so ctrl.GetConfig honours it as in
	// every manager: --kubeconfig, else $KUBECONFIG, in-cluster, ~/.kube/config.
	crconfig.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return c, usageError{err}
	}
	if fs.NArg() > 0 {
		return c, usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	modes := 0
	for _, set := range []bool{c.policyFile != "", c.policyRef != ""} {
		if set {
			modes++
		}
	}
	switch {
	case modes > 1:
		return c, usageError{errors.New("give either --policy-file or --policy, not both")}
	case modes == 0 && !c.dev:
		return c, usageError{errors.New("no policy: give --policy-file FILE, --policy NAMESPACE/NAME, or --dev for a local try-out")}
	case c.dev && c.policyRef != "":
		return c, usageError{errors.New("--dev runs without a cluster; use it with --policy-file or alone")}
	}
	if (c.tlsCertFile == "") != (c.tlsKeyFile == "") {
		return c, usageError{errors.New("give --tls-cert-file and --tls-key-file together")}
	}
	if *publicURL != "" {
		u, err := auth.ParsePublicURL(*publicURL)
		if err != nil {
			return c, usageError{fmt.Errorf("--public-url: %w", err)}
		}
		c.publicURL = u
	}
	if c.kubeconfig = fs.Lookup(crconfig.KubeconfigFlagName).Value.String(); c.kubeconfig != "" && c.policyRef == "" {
		return c, usageError{errors.New("--kubeconfig is for --policy (a ScopePolicy in the cluster)")}
	}
	if c.tokenCacheSize < 0 {
		return c, usageError{errors.New("--token-cache-size must not be negative")}
	}
	return c, nil
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level: %w", err)}
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func run(ctx context.Context, args []string) error {
	c, err := parseFlags(args)
	if err != nil {
		return err
	}
	logger, err := newLogger(c.logLevel)
	if err != nil {
		return err
	}
	slog.SetDefault(logger)
	// controller-runtime's own logs (the manager, the certificate watcher)
	// go through the same handler, in both modes.
	ctrllog.SetLogger(logr.FromSlogHandler(logger.Handler()))
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	shutdownTracing, err := tracing.Setup(ctx, "timesheets-api")
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := shutdownTracing(sctx); err != nil {
			logger.Warn("flushing traces failed", "error", err)
		}
	}()
	if c.policyRef != "" {
		return runInCluster(ctx, c, logger)
	}
	return runStandalone(ctx, c, logger)
}

// splitPolicyRef turns NAMESPACE/NAME or NAME into its parts.
func splitPolicyRef(ref, podNamespace string) (string, string, error) {
	ns, name, ok := strings.Cut(ref, "/")
	if !ok {
		ns, name = podNamespace, ref
	}
	if ns == "" || name == "" || strings.Contains(name, "/") {
		return "", "", usageError{fmt.Errorf("--policy %q: use NAMESPACE/NAME, or NAME with POD_NAMESPACE set", ref)}
	}
	return ns, name, nil
}

const shutdownTimeout = 25 * time.Second
