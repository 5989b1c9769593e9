// Package service assembles the Timesheets API as it is served, in one
// place: cmd/api (file mode and cluster mode alike), pkg/apitest and the
// tests all build it with New. The modes differ only in what feeds the
// Activator (a watched file, or the ScopePolicy reconciler); the handler
// chain, the key store, the policy in force and readiness are the same.
package service

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/abc-inc/timesheets/pkg/activation"
	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/dpop"
	"github.com/abc-inc/timesheets/pkg/metrics"
	"github.com/abc-inc/timesheets/pkg/openapi"
	"github.com/abc-inc/timesheets/pkg/policy"
	"github.com/abc-inc/timesheets/pkg/server"
	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// Realm is sent in every WWW-Authenticate challenge.
const Realm = "timesheets"

// Options configure New.
type Options struct {
	// Store holds the timesheets; required.
	Store timesheets.Store
	// Logger for the handlers, the key store and the activator; default
	// slog.Default().
	Logger *slog.Logger
	// Metrics receives every figure of the API; default a set registered
	// nowhere.
	Metrics *metrics.Metrics
	// TokenCacheSize bounds the verified-token cache (0 disables it).
	TokenCacheSize int
	// PublicURL is --public-url (nil: each request's own scheme and host).
	PublicURL *url.URL
	// Keys tunes the key store; its Logger and Metrics are the above.
	Keys auth.KeyOptions
	// KeyWait and RetryInterval tune the activator (activation.Options).
	KeyWait, RetryInterval time.Duration
}

// Service is the API of one replica: the policy in force, the signing keys
// of its issuers, the one activation path between them, and the handler.
type Service struct {
	// Activator is the only way a policy goes in force: the policy source
	// of the mode proposes to it.
	Activator *activation.Activator
	// Holder is the policy in force, read by every request.
	Holder *policy.Holder
	// Keys holds the signing keys of the policy's issuers.
	Keys    *auth.Keys
	Metrics *metrics.Metrics

	store   timesheets.Store
	handler http.Handler
}

// New assembles the service; Start must run for proposals to go in force.
func New(o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.Discard()
	}
	o.Keys.Logger, o.Keys.Metrics = o.Logger, o.Metrics
	s := &Service{Holder: &policy.Holder{}, Keys: auth.NewKeys(o.Keys), Metrics: o.Metrics, store: o.Store}
	s.Activator = activation.New(activation.Options{Holder: s.Holder, Keys: s.Keys, Metrics: o.Metrics,
		KeyWait: o.KeyWait, RetryInterval: o.RetryInterval, Logger: o.Logger})
	s.handler = s.assemble(o)
	return s
}

// assemble builds the handler chain: CORS (outermost, so preflights are
// answered before authentication and refusals carry CORS headers), then
// instrumented, then guarded by the policy, then routed.
func (s *Service) assemble(o Options) http.Handler {
	mux := http.NewServeMux()
	(&timesheets.API{Store: o.Store, Logger: o.Logger, Caller: auth.Caller, Client: auth.Client, Employee: auth.Employee,
		MayRead: func(ctx context.Context, id int64) bool {
			return auth.Permits(ctx, http.MethodGet, "/timesheets/"+strconv.FormatInt(id, 10))
		}}).Register(mux)
	md := &auth.Metadata{Policy: s.Holder, PublicURL: o.PublicURL, ResourceName: "Timesheets API"}
	guard := &auth.Middleware{Policy: s.Holder, Verifier: auth.NewVerifier(s.Keys, o.TokenCacheSize),
		Logger: o.Logger, Realm: Realm, Metadata: md, Metrics: o.Metrics, DPoP: dpopState(o)}
	// The public routes are served by outside, before the guard; they are
	// also in mux, so Instrument labels them by pattern.
	outside := http.NewServeMux()
	RegisterPublic(mux, md)
	RegisterPublic(outside, md)
	outside.Handle("/", guard.Wrap(mux))
	return (&auth.CORS{Policy: s.Holder}).Wrap(server.Instrument(o.Metrics, mux, outside))
}

// sharedDPoP is what a store shares among replicas to check DPoP proofs
// (store.DPoP): the replay ledger and the nonces' secret.
type sharedDPoP interface {
	dpop.Ledger
	NonceSecret(ctx context.Context) ([]byte, error)
}

// dpopState checks DPoP proofs against what the store shares, so that a
// proof is taken once by all the replicas and their nonces are each
// other's; a store without it (a test's) gets one replica's, in memory.
func dpopState(o Options) *auth.DPoP {
	d := &auth.DPoP{PublicURL: o.PublicURL}
	if st, ok := o.Store.(sharedDPoP); ok {
		d.Ledger, d.NonceSecret = st, st.NonceSecret
	}
	return d
}

// RegisterPublic adds the routes served whatever the policy's routes say,
// with no token: documents that tell a client how to call the API.
func RegisterPublic(mux auth.Mux, md *auth.Metadata) {
	md.Register(mux)
	mux.Handle("GET "+openapi.Path, openapi.Handler())
}

// Handler is the API as served.
func (s *Service) Handler() http.Handler { return s.handler }

// Start puts proposed policies in force until ctx ends, then stops the key
// refreshes. With NeedLeaderElection it is a controller-runtime Runnable
// that every replica runs.
func (s *Service) Start(ctx context.Context) error {
	defer s.Keys.Close()
	return s.Activator.Run(ctx)
}

// NeedLeaderElection is false: every replica enforces the policy.
func (s *Service) NeedLeaderElection() bool { return false }

// Enforce proposes snap and waits until it is in force with its keys, for
// start-up and tests that need a policy before the first request.
func (s *Service) Enforce(ctx context.Context, snap *policy.Snapshot) error {
	s.Activator.Propose(snap)
	return s.Activator.WaitInForce(ctx, snap)
}

// Ready is /readyz: it fails while no policy with keys is in force (a
// pending or refused policy only adds a note) and while the database cannot
// be reached. Its database result is also timesheets_database_up, so an
// alert sees an outage the probes see.
func (s *Service) Ready(r *http.Request) (note string, err error) {
	note, err = s.Activator.Readiness()
	if err != nil {
		return "", err
	}
	if err := s.store.Ping(r.Context()); err != nil {
		s.Metrics.DatabaseUp.Set(0)
		return "", err
	}
	s.Metrics.DatabaseUp.Set(1)
	return note, nil
}
