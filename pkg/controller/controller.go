// Package controller holds the reconcilers of the in-cluster mode of the
// Timesheets API. cmd/api builds the controller-runtime manager (options,
// probes, metrics server, leader election, the API servers) as a kubebuilder
// main does, and SetupWithManager adds the two reconcilers to it. They share
// the manager's cache, which CacheOptions restricts to the named ScopePolicy
// of one namespace:
//
//   - the enforcer runs on every replica (NeedLeaderElection false). It
//     compiles the spec with policy.Compile and proposes the snapshot to the
//     replica's Activator, the path a policy file takes too. A spec that
//     does not compile, or whose new issuers have no keys yet, leaves the
//     last good snapshot in force. A deleted policy removes the snapshot:
//     protected routes fail closed with 503 and /readyz fails.
//   - the status writer runs on the leader only (NeedLeaderElection true). It
//     reads what its replica's enforcer holds and patches status (Ready
//     condition, observedGeneration, per-issuer key fetches, counts) and
//     emits an Event when a generation is loaded or refused.
package controller

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/abc-inc/timesheets/pkg/activation"
	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/auth"
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
	DefaultRetryInterval  = 2 * time.Second
	DefaultResyncInterval = 30 * time.Second
)

// Options configure SetupWithManager.
type Options struct {
	// Namespace and Name of the ScopePolicy to enforce.
	Namespace, Name string

	// Activator puts each compiled generation in force on this replica;
	// Keys is its key store, whose fetches the status reports. Required.
	Activator *activation.Activator
	Keys      *auth.Keys

	// Logger receives the controllers' logs; default slog.Default().
	Logger *slog.Logger

	// FieldManager is the field owner of status patches; default
	// DefaultFieldManager. Tests give each replica its own.
	FieldManager string
	// EventSource is the reporting controller of Events; default
	// DefaultEventSource.
	EventSource string

	// RetryInterval is how often status is refreshed while not Ready;
	// default DefaultRetryInterval.
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
	if o.Activator == nil || o.Keys == nil {
		return errors.New("controller: Activator and Keys are required")
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

// CacheOptions restrict a manager's cache to namespace, and its ScopePolicies
// to the one named: the Role grants no more, and a replica holds nothing else.
func CacheOptions(namespace, name string) cache.Options {
	return cache.Options{
		DefaultNamespaces: map[string]cache.Config{namespace: {}},
		ByObject: map[client.Object]cache.ByObject{
			&v1alpha1.ScopePolicy{}: {Field: fields.OneTermEqualSelector("metadata.name", name)},
		},
	}
}

// Reconcilers are the enforcer and the status writer of one manager.
type Reconcilers struct {
	enforcer *enforcer
	status   *statusWriter
}

// StatusWrites counts the status patches this replica made.
func (r *Reconcilers) StatusWrites() int64 { return r.status.writes.Load() }

// SetupWithManager adds the enforcer (every replica) and the status writer
// (the elected replica) to mgr. The Activator must run on every replica too
// (cmd/api adds the service as a runnable that needs no election).
func SetupWithManager(mgr manager.Manager, o Options) (*Reconcilers, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	notify := make(chan event.GenericEvent, 1)
	enf := &enforcer{
		client: mgr.GetClient(), act: o.Activator,
		source: o.Namespace + "/" + o.Name, name: o.Name, namespace: o.Namespace,
		notify: notify, log: o.Logger,
	}
	o.Activator.Subscribe(enf.poke)
	sw := &statusWriter{
		client: mgr.GetClient(), enforcer: enf, keys: o.Keys,
		recorder: mgr.GetEventRecorder(o.EventSource), fieldManager: o.FieldManager,
		retry: o.RetryInterval, resync: o.ResyncInterval, log: o.Logger,
	}
	skip := ptr.To(o.SkipControllerNameValidation)
	err := ctrl.NewControllerManagedBy(mgr).
		Named("scopepolicy-enforcer").
		For(&v1alpha1.ScopePolicy{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(crcontroller.Options{NeedLeaderElection: ptr.To(false), MaxConcurrentReconciles: 1, SkipNameValidation: skip}).
		Complete(enf)
	if err != nil {
		return nil, fmt.Errorf("controller: enforcer: %w", err)
	}
	err = ctrl.NewControllerManagedBy(mgr).
		Named("scopepolicy-status").
		For(&v1alpha1.ScopePolicy{}).
		WatchesRawSource(source.Channel(notify, &handler.EnqueueRequestForObject{})).
		WithOptions(crcontroller.Options{NeedLeaderElection: ptr.To(true), MaxConcurrentReconciles: 1, SkipNameValidation: skip}).
		Complete(sw)
	if err != nil {
		return nil, fmt.Errorf("controller: status writer: %w", err)
	}
	return &Reconcilers{enforcer: enf, status: sw}, nil
}
