package controller

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/abc-inc/timesheets/pkg/activation"
	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/auth"
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
	waited  bool // pending has waited past the key wait
	inForce *policy.Snapshot
}

// enforcer hands each generation of the policy to the activator, which puts
// it in force on this replica (the same path a policy file takes).
type enforcer struct {
	client          client.Client
	act             *activation.Activator
	source          string
	name, namespace string
	notify          chan<- event.GenericEvent
	log             *slog.Logger

	mu         sync.Mutex
	uid        types.UID
	generation int64
	compileErr error
}

func (e *enforcer) state() state {
	as := e.act.State()
	e.mu.Lock()
	defer e.mu.Unlock()
	return state{uid: e.uid, generation: e.generation, compileErr: e.compileErr, pending: as.Pending, waited: as.Waited, inForce: as.InForce}
}

// poke asks the status writer (if this replica leads) to report; a poke
// already queued covers this one. The activator pokes on every change.
func (e *enforcer) poke() {
	obj := &v1alpha1.ScopePolicy{}
	obj.Name, obj.Namespace = e.name, e.namespace
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

	e.mu.Lock()
	changed := e.uid != sp.UID || e.generation != sp.Generation
	var compileErr error
	var snap *policy.Snapshot
	if changed {
		snap, compileErr = policy.Compile(e.source, sp.Generation, sp.Spec)
		e.uid, e.generation, e.compileErr = sp.UID, sp.Generation, compileErr
	}
	e.mu.Unlock()
	switch {
	case !changed:
	case compileErr != nil:
		e.act.Refuse(sp.Generation, compileErr) // pokes the status writer
	default:
		e.act.Propose(snap) // the activator pokes once it is in force or has waited for keys
	}
	return reconcile.Result{}, nil
}

// remove takes the policy out of force: protected routes fail closed.
func (e *enforcer) remove() {
	st := e.state()
	e.act.Remove()
	e.mu.Lock()
	e.uid, e.generation, e.compileErr = "", 0, nil
	e.mu.Unlock()
	if st.inForce != nil || st.generation != 0 {
		e.log.Warn("ScopePolicy deleted: no policy in force, protected routes answer 503", "policy", e.source)
	} else {
		e.log.Warn("ScopePolicy not found: no policy in force, protected routes answer 503", "policy", e.source)
	}
}

// missingKeys describes the issuers of s without signing keys, or "".
func missingKeys(keys *auth.Keys, s *policy.Snapshot) string {
	var msgs []string
	for _, is := range activation.Issuers(s) {
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
		result := st.LastResult.String()
		if st.LastResult.Outcome == auth.FetchPending {
			result = "first fetch still pending"
		}
		msgs = append(msgs, fmt.Sprintf("issuer %s has no signing keys from %s (%s)", is.URL, where, result))
	}
	return strings.Join(msgs, "; ")
}
