// Package controller runs the in-cluster mode of the Timesheets API: a
// controller-runtime manager that watches one ScopePolicy, puts each valid
// generation in force on every replica, and reports on the object (by one
// elected replica) whether it took.
//
// Two controllers share the manager's cache, which holds only the named
// ScopePolicy of one namespace:
//
//   - the enforcer runs on every replica (NeedLeaderElection false). It
//     compiles the spec with policy.Compile, makes the key store fetch the
//     signing keys of its issuers, and swaps the snapshot into the Holder.
//     A spec that does not compile, or whose new issuers have no keys yet,
//     leaves the last good snapshot in force. A deleted policy removes the
//     snapshot: protected routes fail closed with 503 and /readyz fails.
//   - the status writer runs on the leader only (NeedLeaderElection true). It
//     reads what its replica's enforcer holds and patches status (Ready
//     condition, observedGeneration, per-issuer key fetches, counts) and
//     emits an Event when a generation is loaded or refused.
package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/abc-inc/timesheets/pkg/activation"
	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/policy"
	"github.com/abc-inc/timesheets/pkg/server"
)

// The RBAC of the API: everything is namespaced (a Role in the namespace of
// the policy; the manifests' namespace is "timesheets"). Nothing cluster-wide.
//
// +kubebuilder:rbac:groups=auth.timesheets.dev,namespace=timesheets,resources=scopepolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=auth.timesheets.dev,namespace=timesheets,resources=scopepolicies/status,verbs=update;patch
// +kubebuilder:rbac:groups="",namespace=timesheets,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,namespace=timesheets,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=timesheets,resources=leases,verbs=get;create;update

// Defaults of Options.
const (
	DefaultFieldManager   = "timesheets-api"
	DefaultEventSource    = "timesheets-api"
	DefaultKeyWait        = 2 * time.Second
	DefaultRetryInterval  = 2 * time.Second
	DefaultResyncInterval = 30 * time.Second
)

// Options configure Run and New.
type Options struct {
	// Namespace and Name of the ScopePolicy to enforce. The cache watches
	// only this object; the leader-election Lease lives in Namespace too.
	Namespace, Name string

	// Holder receives the snapshot in force (nil when none); the API's
	// auth.Middleware reads it.
	Holder *policy.Holder
	// Keys is the key store the API's verifier uses; the enforcer Syncs it
	// with the issuers of the policy.
	Keys *auth.Keys

	// MetricsBindAddress serves controller-runtime's registry (which
	// pkg/metrics registers into) at /metrics; "" or "0" disables it.
	MetricsBindAddress string
	// HealthProbeBindAddress serves /healthz and /readyz; "" or "0" disables.
	HealthProbeBindAddress string

	// LeaderElection elects one replica to write status and events; every
	// replica enforces regardless. Without it, this replica writes status.
	LeaderElection bool
	// LeaderElectionID names the Lease in Namespace; default
	// LeaseName(Name).
	LeaderElectionID string
	// LeaseDuration, RenewDeadline and RetryPeriod tune the election;
	// zero keeps controller-runtime's defaults (15s, 10s, 2s).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration

	// Runnables run on every replica (the HTTP API servers), whatever they
	// say about leader election.
	Runnables []manager.Runnable
	// ReadyCheck is an extra readiness check (e.g. a database ping); /readyz
	// fails anyway while no policy is in force or its keys are missing.
	ReadyCheck healthz.Checker

	// Logger receives the manager's and the controllers' logs; default
	// slog.Default(). New also makes it controller-runtime's global logger.
	Logger *slog.Logger

	// FieldManager is the field owner of status patches; default
	// DefaultFieldManager. Tests give each replica its own.
	FieldManager string
	// EventSource is the reporting controller of Events; default
	// DefaultEventSource.
	EventSource string

	// KeyWait bounds how long a reconcile waits for the keys of a new
	// generation's new issuers before reporting KeysUnavailable (and
	// retrying every RetryInterval); default DefaultKeyWait.
	KeyWait time.Duration
	// RetryInterval is how often a generation waiting for keys is checked
	// again, and how often status is refreshed while not Ready; default
	// DefaultRetryInterval.
	RetryInterval time.Duration
	// ResyncInterval is how often the leader refreshes status (the key
	// fetch results) while Ready; default DefaultResyncInterval.
	ResyncInterval time.Duration

	// SkipControllerNameValidation lets one process run several managers
	// (tests); controller-runtime otherwise refuses duplicate controller names.
	SkipControllerNameValidation bool
}

func (o *Options) defaults() error {
	if o.Namespace == "" || o.Name == "" {
		return errors.New("controller: Namespace and Name of the ScopePolicy are required")
	}
	if o.Holder == nil || o.Keys == nil {
		return errors.New("controller: Holder and Keys are required")
	}
	if o.MetricsBindAddress == "" {
		o.MetricsBindAddress = "0"
	}
	if o.LeaderElectionID == "" {
		o.LeaderElectionID = LeaseName(o.Name)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.FieldManager == "" {
		o.FieldManager = DefaultFieldManager
	}
	if o.EventSource == "" {
		o.EventSource = DefaultEventSource
	}
	if o.KeyWait <= 0 {
		o.KeyWait = DefaultKeyWait
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = DefaultRetryInterval
	}
	if o.ResyncInterval <= 0 {
		o.ResyncInterval = DefaultResyncInterval
	}
	return nil
}

// LeaseName is the default Lease electing the status writer of the
// ScopePolicy name. One Lease per policy: replicas of one release share it,
// while two releases in a namespace, each with its own policy, both get a
// writer. Names too long for a Lease are shortened with a hash.
func LeaseName(policy string) string {
	const prefix = "timesheets-status."
	if len(prefix)+len(policy) <= validation.DNS1123SubdomainMaxLength {
		return prefix + policy
	}
	sum := sha256.Sum256([]byte(policy))
	return prefix + hex.EncodeToString(sum[:16])
}

// Controller is a configured manager with the enforcer and the status writer.
type Controller struct {
	mgr      manager.Manager
	enforcer *enforcer
	status   *statusWriter
}

// Scheme returns a scheme with the Kubernetes built-in types and ScopePolicy.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// New builds the manager and its controllers; Start runs them.
func New(cfg *rest.Config, o Options) (*Controller, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	log := logr.FromSlogHandler(o.Logger.Handler())
	ctrllog.SetLogger(log)

	mo := manager.Options{
		Scheme: Scheme(),
		Logger: log,
		Cache: cache.Options{
			DefaultNamespaces: map[string]cache.Config{o.Namespace: {}},
			ByObject: map[client.Object]cache.ByObject{
				&v1alpha1.ScopePolicy{}: {Field: fields.OneTermEqualSelector("metadata.name", o.Name)},
			},
		},
		Metrics: metricsserver.Options{BindAddress: o.MetricsBindAddress},
		// The probes are served by a runnable (see below): /readyz stays 200
		// with a note while a new generation waits, which healthz cannot say.
		HealthProbeBindAddress:        "0",
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              o.LeaderElectionID,
		LeaderElectionNamespace:       o.Namespace,
		LeaderElectionResourceLock:    "leases",
		LeaderElectionReleaseOnCancel: true,
		Controller:                    config.Controller{SkipNameValidation: ptr.To(o.SkipControllerNameValidation)},
	}
	if o.LeaseDuration > 0 {
		mo.LeaseDuration = &o.LeaseDuration
	}
	if o.RenewDeadline > 0 {
		mo.RenewDeadline = &o.RenewDeadline
	}
	if o.RetryPeriod > 0 {
		mo.RetryPeriod = &o.RetryPeriod
	}
	mgr, err := ctrl.NewManager(cfg, mo)
	if err != nil {
		return nil, fmt.Errorf("controller: new manager: %w", err)
	}

	notify := make(chan event.GenericEvent, 1)
	enf := &enforcer{
		client: mgr.GetClient(),
		source: o.Namespace + "/" + o.Name, name: o.Name, namespace: o.Namespace,
		notify: notify, log: o.Logger,
	}
	enf.act = activation.New(activation.Options{Holder: o.Holder, Keys: o.Keys,
		KeyWait: o.KeyWait, RetryInterval: o.RetryInterval, Logger: o.Logger, OnChange: enf.poke})
	if err := mgr.Add(everyReplica{manager.RunnableFunc(enf.act.Run)}); err != nil {
		return nil, fmt.Errorf("controller: add activator: %w", err)
	}
	sw := &statusWriter{
		client: mgr.GetClient(), enforcer: enf, keys: o.Keys,
		recorder: mgr.GetEventRecorder(o.EventSource), fieldManager: o.FieldManager,
		retry: o.RetryInterval, resync: o.ResyncInterval, log: o.Logger,
	}

	err = ctrl.NewControllerManagedBy(mgr).
		Named("scopepolicy-enforcer").
		For(&v1alpha1.ScopePolicy{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(crcontroller.Options{NeedLeaderElection: ptr.To(false), MaxConcurrentReconciles: 1}).
		Complete(enf)
	if err != nil {
		return nil, fmt.Errorf("controller: enforcer: %w", err)
	}
	err = ctrl.NewControllerManagedBy(mgr).
		Named("scopepolicy-status").
		For(&v1alpha1.ScopePolicy{}).
		WatchesRawSource(source.Channel(notify, &handler.EnqueueRequestForObject{})).
		WithOptions(crcontroller.Options{NeedLeaderElection: ptr.To(true), MaxConcurrentReconciles: 1}).
		Complete(sw)
	if err != nil {
		return nil, fmt.Errorf("controller: status writer: %w", err)
	}

	for _, r := range o.Runnables {
		if err := mgr.Add(everyReplica{r}); err != nil {
			return nil, fmt.Errorf("controller: add runnable: %w", err)
		}
	}
	if addr := o.HealthProbeBindAddress; addr != "" && addr != "0" {
		ready := func(r *http.Request) (string, error) {
			note, err := enf.act.Readiness()
			if err == nil && o.ReadyCheck != nil {
				err = o.ReadyCheck(r)
			}
			return note, err
		}
		probes := &server.Server{Name: "probes", Addr: addr, Handler: server.Probes(ready), Logger: o.Logger, ShutdownTimeout: 5 * time.Second}
		if err := mgr.Add(probes); err != nil {
			return nil, fmt.Errorf("controller: add probes: %w", err)
		}
	}
	return &Controller{mgr: mgr, enforcer: enf, status: sw}, nil
}

// Run builds the manager with New and runs it until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	c, err := New(cfg, o)
	if err != nil {
		return err
	}
	return c.Start(ctx)
}

// Start runs the manager until ctx ends (or leadership is lost: the process
// should then exit, as controller-runtime requires).
func (c *Controller) Start(ctx context.Context) error { return c.mgr.Start(ctx) }

// Manager returns the underlying manager, e.g. to add more runnables or checks.
func (c *Controller) Manager() manager.Manager { return c.mgr }

// Elected is closed when this replica leads (at once without leader election).
func (c *Controller) Elected() <-chan struct{} { return c.mgr.Elected() }

// StatusWrites counts the status patches this replica made.
func (c *Controller) StatusWrites() int64 { return c.status.writes.Load() }

// Readiness is the replica's readiness as /readyz reports it: an error while
// no policy with keys is in force, and a note about a pending or refused one.
func (c *Controller) Readiness() (string, error) { return c.enforcer.act.Readiness() }

// everyReplica runs a runnable on every replica, leader or not.
type everyReplica struct{ manager.Runnable }

func (everyReplica) NeedLeaderElection() bool { return false }
