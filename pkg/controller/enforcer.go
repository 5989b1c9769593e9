package controller

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/metrics"
	"github.com/abc-inc/timesheets/pkg/policy"
)

// state is what the enforcer of this replica holds; the status writer
// reports it.
type state struct {
	uid        types.UID
	generation int64 // the generation last reconciled; 0: none
	compileErr error // set when generation did not compile
	// pending compiled but waits for the keys of its new issuers; the
	// snapshot in force (if any) stays until they arrive.
	pending *policy.Snapshot
	inForce *policy.Snapshot
}

// enforcer puts each valid generation of the policy in force on this replica.
type enforcer struct {
	client          client.Client
	holder          *policy.Holder
	keys            *auth.Keys
	source          string
	name, namespace string
	keyWait, retry  time.Duration
	notify          chan<- event.GenericEvent
	log             *slog.Logger

	mu sync.Mutex
	st state
}

func (e *enforcer) state() state {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.st
}

func (e *enforcer) setState(st state) {
	e.mu.Lock()
	e.st = st
	e.mu.Unlock()
}

// poke asks the status writer (if this replica leads) to report; a poke
// already queued covers this one.
func (e *enforcer) poke(obj *v1alpha1.ScopePolicy) {
	select {
	case e.notify <- event.GenericEvent{Object: obj}:
	default:
	}
}

func (e *enforcer) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	if req.Name != e.name || req.Namespace != e.namespace {
		return reconcile.Result{}, nil
	}
	var sp v1alpha1.ScopePolicy
	if err := e.client.Get(ctx, req.NamespacedName, &sp); err != nil {
		if apierrors.IsNotFound(err) {
			e.remove()
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}

	st := e.state()
	if st.uid != sp.UID || st.generation != sp.Generation {
		st.uid, st.generation, st.compileErr, st.pending = sp.UID, sp.Generation, nil, nil
		snap, err := policy.Compile(e.source, sp.Generation, sp.Spec)
		if err != nil {
			metrics.PolicyReloads.WithLabelValues(metrics.ReloadInvalid).Inc()
			st.compileErr = err
			// Stop fetching for issuers of an abandoned pending generation.
			e.keys.Sync(issuersOf(st.inForce))
			e.log.Warn("ScopePolicy refused; the last good policy stays in force",
				"policy", e.source, "generation", sp.Generation, "inForce", generationOf(st.inForce), "error", err)
		} else {
			st.pending = snap
		}
	}
	if st.pending != nil {
		st = e.activate(ctx, st)
	}
	e.setState(st)
	e.poke(&sp)

	if st.pending != nil || (st.inForce != nil && e.keys.Ready(st.inForce.Issuers) != nil) {
		return reconcile.Result{RequeueAfter: e.retry}, nil
	}
	return reconcile.Result{}, nil
}

// activate puts st.pending in force once the keys of its issuers are there.
// Until then the snapshot in force stays, and keys are fetched for both. A
// first policy goes in force at once: with no policy every protected route
// fails anyway, with it only tokens of issuers without keys do.
func (e *enforcer) activate(ctx context.Context, st state) state {
	next := st.pending
	e.keys.Sync(unionIssuers(next, st.inForce))
	wctx, cancel := context.WithTimeout(ctx, e.keyWait)
	err := e.keys.WaitReady(wctx, next.Issuers) // at once when the issuers are unchanged
	cancel()
	if err != nil {
		if st.inForce != nil {
			e.log.Warn("ScopePolicy waits for signing keys; the last good policy stays in force",
				"policy", e.source, "generation", next.Generation, "inForce", st.inForce.Generation, "error", err)
			return st
		}
		e.log.Warn("ScopePolicy goes in force without signing keys; its tokens answer 503 until they arrive",
			"policy", e.source, "generation", next.Generation, "error", err)
	}
	e.keys.Sync(next.Issuers)
	e.holder.Store(next)
	metrics.PolicyGeneration.Set(float64(next.Generation))
	metrics.PolicyReloads.WithLabelValues(metrics.ReloadSuccess).Inc()
	e.log.Info("policy in force", "source", next.Source, "generation", next.Generation,
		"issuers", len(next.Issuers), "routes", len(next.Routes), "audit", next.Audit)
	st.inForce, st.pending = next, nil
	return st
}

// remove takes the policy out of force: protected routes fail closed.
func (e *enforcer) remove() {
	st := e.state()
	e.holder.Store(nil)
	e.keys.Sync(nil)
	metrics.PolicyGeneration.Set(0)
	e.setState(state{})
	if st.inForce != nil || st.generation != 0 {
		e.log.Warn("ScopePolicy deleted: no policy in force, protected routes answer 503", "policy", e.source)
	} else {
		e.log.Warn("ScopePolicy not found: no policy in force, protected routes answer 503", "policy", e.source)
	}
}

func issuersOf(s *policy.Snapshot) []policy.Issuer {
	if s == nil {
		return nil
	}
	return s.Issuers
}

func generationOf(s *policy.Snapshot) int64 {
	if s == nil {
		return 0
	}
	return s.Generation
}

// unionIssuers lists the issuers of a, then those of b that a lacks.
func unionIssuers(a, b *policy.Snapshot) []policy.Issuer {
	out := slices.Clone(issuersOf(a))
	for _, is := range issuersOf(b) {
		if !slices.Contains(out, is) {
			out = append(out, is)
		}
	}
	return out
}

// missingKeys describes the issuers of s without signing keys, or "".
func missingKeys(keys *auth.Keys, s *policy.Snapshot) string {
	var msgs []string
	for _, is := range issuersOf(s) {
		ik := keys.For(is)
		if ik == nil {
			msgs = append(msgs, fmt.Sprintf("issuer %s: keys not fetched yet", is.URL))
			continue
		}
		st := ik.Status()
		if st.KeyCount > 0 {
			continue
		}
		where := st.JWKSURI
		if where == "" {
			where = "its OIDC discovery document"
		}
		result := st.LastResult
		if result == "Pending" || result == "" {
			result = "first fetch still pending"
		}
		msgs = append(msgs, fmt.Sprintf("issuer %s has no signing keys from %s (%s)", is.URL, where, result))
	}
	return strings.Join(msgs, "; ")
}
