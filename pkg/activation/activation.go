// Package activation puts compiled policies in force on this replica. The
// file watcher and the ScopePolicy reconciler both hand their snapshots to an
// Activator, so a policy means the same however it arrives:
//
//   - the keys of the policy in force stay until the new policy's keys are
//     ready (the key store fetches for both while one waits);
//   - the wait is bounded and retried in the background, so a source is never
//     blocked by an issuer nobody serves;
//   - a later proposal supersedes a pending one;
//   - the last valid policy stays in force, and a policy waiting for keys or
//     refused is visible: in the log, on the metrics, in Readiness, and in
//     State for the reconciler's status condition.
//
// The Activator is the only caller of Keys.Sync and Holder.Store.
package activation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/metrics"
	"github.com/abc-inc/timesheets/pkg/policy"
)

// Defaults of Options.
const (
	DefaultKeyWait       = 2 * time.Second
	DefaultRetryInterval = 2 * time.Second
)

// Options configure an Activator.
type Options struct {
	// Holder receives the snapshot in force; Keys is the key store the
	// verifier reads. Both are required.
	Holder *policy.Holder
	Keys   *auth.Keys
	// KeyWait bounds how long a proposal waits for its keys before it is
	// reported as waiting; it keeps waiting, checked every RetryInterval.
	KeyWait       time.Duration
	RetryInterval time.Duration
	Logger        *slog.Logger
	// Metrics counts reloads and shows the generation in force and
	// whether one waits; default a set registered nowhere.
	Metrics *metrics.Metrics
}

// State is what this replica enforces.
type State struct {
	// InForce is the snapshot requests are checked against, or nil.
	InForce *policy.Snapshot
	// Pending compiled but waits for the keys of its issuers; InForce
	// stays until they arrive. Nil when nothing waits.
	Pending *policy.Snapshot
	// Waited is set once Pending has waited past the key wait: until then
	// it is too early to report it as lacking keys.
	Waited bool
	// Refused is why the latest proposal was refused (it did not compile),
	// or nil; RefusedGeneration is its generation.
	Refused           error
	RefusedGeneration int64
}

// Activator serialises proposals and puts each in force when it can.
type Activator struct {
	o    Options
	wake chan struct{}

	mu sync.Mutex
	st State
	// seq counts proposals, so a wait in progress can tell it is superseded.
	seq uint64
	// waitingSince is when Pending was proposed.
	waitingSince time.Time
	// cancelWait ends the key wait in progress, if any.
	cancelWait context.CancelFunc

	subsMu sync.Mutex
	subs   []func()
}

// New returns an Activator; Run must be running for proposals to wait for keys.
func New(o Options) *Activator {
	if o.KeyWait <= 0 {
		o.KeyWait = DefaultKeyWait
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = DefaultRetryInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.Discard()
	}
	return &Activator{o: o, wake: make(chan struct{}, 1)}
}

// Subscribe makes fn be called after every change of State (from the
// Activator's goroutine or a proposer's); fn must not block. The status
// writer of cluster mode subscribes, to report each change on the object.
func (a *Activator) Subscribe(fn func()) {
	a.subsMu.Lock()
	defer a.subsMu.Unlock()
	a.subs = append(a.subs, fn)
}

// State returns what is in force and what waits.
func (a *Activator) State() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st
}

// Propose asks for snap to go in force; it never blocks. It supersedes a
// proposal still waiting for keys.
func (a *Activator) Propose(snap *policy.Snapshot) {
	a.mu.Lock()
	a.supersede()
	a.st.Pending, a.st.Waited, a.st.Refused, a.st.RefusedGeneration = snap, false, nil, 0
	a.waitingSince = time.Now()
	// Fetch for both: the new issuers' keys arrive while the old ones serve.
	a.o.Keys.Sync(Issuers(snap, a.st.InForce))
	a.mu.Unlock()
	a.poke() // State changes (and subscribers hear of it) when the proposal goes in force or has waited
}

// Refuse records a proposal that did not compile: the policy in force stays,
// and a pending one is abandoned (the newer edit supersedes it).
func (a *Activator) Refuse(generation int64, err error) {
	a.mu.Lock()
	a.supersede()
	a.st.Pending, a.st.Waited, a.st.Refused, a.st.RefusedGeneration = nil, false, err, generation
	a.o.Keys.Sync(Issuers(a.st.InForce))
	inForce := a.st.InForce
	a.mu.Unlock()
	a.o.Metrics.PolicyReloads.WithLabelValues(metrics.ReloadInvalid).Inc()
	a.o.Metrics.PolicyPending.Set(0)
	a.o.Logger.Warn("policy refused; the last good policy stays in force",
		"generation", generation, "inForce", generationOf(inForce), "error", err)
	a.changed()
}

// Remove takes the policy out of force: protected routes fail closed.
func (a *Activator) Remove() {
	a.mu.Lock()
	a.supersede()
	a.st = State{}
	a.o.Holder.Store(nil)
	a.o.Keys.Sync(nil)
	a.mu.Unlock()
	a.o.Metrics.PolicyGeneration.Set(0)
	a.o.Metrics.PolicyPending.Set(0)
	a.changed()
}

// Run puts proposals in force until ctx ends.
func (a *Activator) Run(ctx context.Context) error {
	retry := time.NewTimer(a.o.RetryInterval)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.wake:
		case <-retry.C:
		}
		a.attempt(ctx)
		retry.Reset(a.o.RetryInterval)
	}
}

// attempt waits up to KeyWait for the pending snapshot's keys (less if a
// newer proposal arrives), then activates it if its keys are there, or if
// nothing usable is in force.
func (a *Activator) attempt(ctx context.Context) {
	a.mu.Lock()
	next, seq := a.st.Pending, a.seq
	if next == nil {
		a.mu.Unlock()
		return
	}
	// The wait ends when the keys are there, KeyWait after the proposal,
	// or when a newer proposal (or a refusal or removal) cancels it.
	wctx, cancel := context.WithDeadline(ctx, a.waitingSince.Add(a.o.KeyWait))
	a.cancelWait = cancel
	a.mu.Unlock()
	err := a.o.Keys.WaitReady(wctx, next.Issuers)
	cancel()

	a.mu.Lock()
	if a.seq != seq { // superseded while waiting; the newer one is attempted next
		a.mu.Unlock()
		return
	}
	inForce := a.st.InForce
	if err != nil && usable(a.o.Keys, inForce) {
		first := !a.st.Waited
		a.st.Waited = true
		a.mu.Unlock()
		if first {
			a.o.Metrics.PolicyReloads.WithLabelValues(metrics.ReloadKeysUnavailable).Inc()
			a.o.Metrics.PolicyPending.Set(1)
			a.o.Logger.Warn("policy waits for signing keys; the last good policy stays in force",
				"source", next.Source, "generation", next.Generation, "inForce", inForce.Generation, "error", err)
			a.changed()
		}
		return
	}
	a.st.InForce, a.st.Pending = next, nil
	a.o.Keys.Sync(next.Issuers)
	a.o.Holder.Store(next)
	a.mu.Unlock()

	if err != nil {
		a.o.Logger.Warn("policy goes in force without signing keys (none usable was in force); its tokens answer 503 until they arrive",
			"source", next.Source, "generation", next.Generation, "error", err)
	}
	a.o.Metrics.PolicyGeneration.Set(float64(next.Generation))
	a.o.Metrics.PolicyReloads.WithLabelValues(metrics.ReloadSuccess).Inc()
	a.o.Metrics.PolicyPending.Set(0)
	a.o.Logger.Info("policy in force", "source", next.Source, "generation", next.Generation,
		"issuers", len(next.Issuers), "routes", len(next.Routes), "audit", next.Audit)
	a.changed()
}

// WaitInForce blocks until snap is in force with its keys, or ctx ends.
func (a *Activator) WaitInForce(ctx context.Context, snap *policy.Snapshot) error {
	for {
		if a.State().InForce == snap && a.o.Keys.Ready(snap.Issuers) == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("policy generation %d not in force with keys: %w", snap.Generation, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Readiness fails when no policy with keys is in force. While one is, a
// policy waiting for keys or refused does not make the replica unready (a
// bad edit of a ConfigMap every replica mounts must not take them all out
// of service); note then names its problem.
func (a *Activator) Readiness() (note string, err error) {
	st := a.State()
	if st.InForce == nil {
		return "", errors.New("no policy in force: protected routes answer 503")
	}
	if err := a.o.Keys.Ready(st.InForce.Issuers); err != nil {
		return "", fmt.Errorf("policy %s generation %d is in force without signing keys: %w", st.InForce.Source, st.InForce.Generation, err)
	}
	switch {
	case st.Pending != nil:
		missing := a.o.Keys.Ready(st.Pending.Issuers)
		if missing == nil {
			return fmt.Sprintf("policy generation %d is being put in force", st.Pending.Generation), nil
		}
		return fmt.Sprintf("policy generation %d waits for signing keys (%s); generation %d stays in force",
			st.Pending.Generation, oneLine(missing), st.InForce.Generation), nil
	case st.Refused != nil:
		return fmt.Sprintf("the latest policy was refused (%s); generation %d stays in force",
			oneLine(st.Refused), st.InForce.Generation), nil
	}
	return "", nil
}

// supersede marks what is pending as replaced and ends its key wait; a.mu
// is held.
func (a *Activator) supersede() {
	a.seq++
	if a.cancelWait != nil {
		a.cancelWait()
	}
}

func (a *Activator) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func (a *Activator) changed() {
	a.subsMu.Lock()
	subs := a.subs
	a.subsMu.Unlock()
	for _, fn := range subs {
		fn()
	}
}

// usable reports whether s is in force with keys for at least one issuer:
// then it is worth keeping while a successor waits. A policy none of whose
// issuers has keys verifies nothing, so a successor replaces it at once.
func usable(keys *auth.Keys, s *policy.Snapshot) bool {
	if s == nil {
		return false
	}
	for _, is := range s.Issuers {
		if keys.Ready([]policy.Issuer{is}) == nil {
			return true
		}
	}
	return false
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

func generationOf(s *policy.Snapshot) int64 {
	if s == nil {
		return 0
	}
	return s.Generation
}

// Issuers lists the issuers of each snapshot in turn, each once (nil
// snapshots have none): the key sets to hold while one policy waits for
// another, or to report on.
func Issuers(snaps ...*policy.Snapshot) []policy.Issuer {
	var out []policy.Issuer
	for _, s := range snaps {
		if s == nil {
			continue
		}
		for _, is := range s.Issuers {
			if !slices.Contains(out, is) {
				out = append(out, is)
			}
		}
	}
	return out
}
