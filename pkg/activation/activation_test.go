package activation_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/abc-inc/timesheets/pkg/activation"
	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/devissuer"
	"github.com/abc-inc/timesheets/pkg/metrics"
	"github.com/abc-inc/timesheets/pkg/policy"
)

const audience = "https://timesheets.test"

type env struct {
	issuer  *devissuer.Server
	holder  *policy.Holder
	keys    *auth.Keys
	act     *activation.Activator
	metrics *metrics.Metrics
	gen     int64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	is, err := devissuer.New(devissuer.Config{Audience: audience, Logger: logger,
		Clients: []devissuer.Client{{ID: "c", Secret: "s", Scopes: []string{"read:timesheets"}}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go is.Start(ctx)
	e := &env{issuer: is, holder: &policy.Holder{}, metrics: metrics.New(prometheus.NewRegistry())}
	e.keys = auth.NewKeys(auth.KeyOptions{RetryInterval: 100 * time.Millisecond, Logger: logger})
	e.act = activation.New(activation.Options{Holder: e.holder, Keys: e.keys,
		KeyWait: 300 * time.Millisecond, RetryInterval: 50 * time.Millisecond, Logger: logger, Metrics: e.metrics})
	done := make(chan struct{})
	go func() { _ = e.act.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; e.keys.Close(); is.Close() })
	return e
}

// compile builds the next generation of the sample policy, edited by tweak.
func (e *env) compile(t *testing.T, tweak func(*v1alpha1.ScopePolicySpec)) *policy.Snapshot {
	t.Helper()
	spec := policy.Sample(e.issuer.Issuer(), audience)
	if tweak != nil {
		tweak(&spec)
	}
	e.gen++
	snap, err := policy.Compile("test", e.gen, spec)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func (e *env) inForce(t *testing.T, snap *policy.Snapshot) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.act.WaitInForce(ctx, snap); err != nil {
		t.Fatal(err)
	}
	if e.holder.Load() != snap {
		t.Fatal("the holder does not hold the snapshot in force")
	}
}

// deadURL is an http URL on loopback where nothing listens.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// waitPending waits until snap is reported as waiting for keys.
func (e *env) waitPending(t *testing.T, snap *policy.Snapshot) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if note, err := e.act.Readiness(); err == nil && e.act.State().Pending == snap && strings.Contains(note, "waits for signing keys") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	note, err := e.act.Readiness()
	t.Fatalf("generation %d not reported as waiting: note %q, err %v, state %+v", snap.Generation, note, err, e.act.State())
}

// An edit adding an issuer nobody serves must not block the source, nor
// the edits after it: the reported fault froze the file watcher for good.
func TestUnservedIssuerNeverBlocksLaterEdits(t *testing.T) {
	e := newEnv(t)
	good := e.compile(t, nil)
	e.act.Propose(good)
	e.inForce(t, good)

	dead := deadURL(t)
	withDead := e.compile(t, func(s *v1alpha1.ScopePolicySpec) {
		s.Issuers = append(s.Issuers, v1alpha1.Issuer{URL: dead})
	})
	start := time.Now()
	e.act.Propose(withDead)
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Propose blocked for %s", d)
	}
	e.waitPending(t, withDead)
	if e.holder.Load() != good {
		t.Fatal("the last good policy left force while its successor waits for keys")
	}
	deadline := time.Now().Add(5 * time.Second) // the metric follows once the key wait has passed
	for testutil.ToFloat64(e.metrics.PolicyPending) != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := testutil.ToFloat64(e.metrics.PolicyPending); got != 1 {
		t.Errorf("policy pending metric = %v, want 1", got)
	}

	// A later edit (a tightened route) supersedes the waiting one and goes in
	// force at once: its issuers have keys.
	tightened := e.compile(t, func(s *v1alpha1.ScopePolicySpec) {
		s.Routes[2].Scopes = []string{"approve:timesheets"}
	})
	e.act.Propose(tightened)
	e.inForce(t, tightened)
	if st := e.act.State(); st.Pending != nil {
		t.Errorf("generation %d still pending", st.Pending.Generation)
	}
	if e.keys.For(policy.Issuer{URL: dead}) != nil {
		t.Error("keys are still fetched for the abandoned issuer")
	}
	if note, err := e.act.Readiness(); err != nil || note != "" {
		t.Errorf("Readiness = %q, %v; want ready, no note", note, err)
	}
	if got := testutil.ToFloat64(e.metrics.PolicyPending); got != 0 {
		t.Errorf("policy pending metric = %v, want 0", got)
	}
}

// Changing only an issuer's jwksURI to a dead URL keeps the old key set
// serving; reverting the edit recovers at once.
func TestMovedJWKSKeepsOldKeysUntilNewOnesArrive(t *testing.T) {
	e := newEnv(t)
	good := e.compile(t, nil)
	e.act.Propose(good)
	e.inForce(t, good)
	oldKeys := e.keys.For(good.Issuers[0])

	moved := e.compile(t, func(s *v1alpha1.ScopePolicySpec) {
		s.Issuers[0].JWKSURI = deadURL(t) + "/jwks.json"
	})
	e.act.Propose(moved)
	e.waitPending(t, moved)
	if e.holder.Load() != good {
		t.Fatal("the policy in force changed although the new jwksURI has no keys")
	}
	if e.keys.For(good.Issuers[0]) != oldKeys || oldKeys.Status().KeyCount == 0 {
		t.Fatal("the key set in force was dropped while the new one has no keys")
	}
	if _, err := e.act.Readiness(); err != nil {
		t.Errorf("not ready while the last good policy has its keys: %v", err)
	}

	revert := e.compile(t, nil)
	e.act.Propose(revert)
	e.inForce(t, revert)
	if e.keys.For(revert.Issuers[0]) != oldKeys {
		t.Error("reverting refetched the keys it already had")
	}
	if e.keys.For(moved.Issuers[0]) != nil {
		t.Error("the abandoned jwksURI is still fetched")
	}
}

// Without a usable policy in force nothing is protected anyway, so a first
// policy goes in force after the key wait even without keys, and /readyz
// fails until they arrive.
func TestFirstPolicyWithoutKeys(t *testing.T) {
	e := newEnv(t)
	e.issuer.SetJWKSAvailable(false)
	first := e.compile(t, nil)
	e.act.Propose(first)
	deadline := time.Now().Add(5 * time.Second)
	for e.holder.Load() != first && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if e.holder.Load() != first {
		t.Fatal("the first policy never went in force")
	}
	if _, err := e.act.Readiness(); err == nil || !strings.Contains(err.Error(), "without signing keys") {
		t.Errorf("Readiness = %v, want not ready without keys", err)
	}
	e.issuer.SetJWKSAvailable(true)
	e.inForce(t, first)
	if _, err := e.act.Readiness(); err != nil {
		t.Errorf("not ready once the keys arrived: %v", err)
	}
}

// A refused edit keeps the policy in force, abandons a pending one, and is
// named in the readiness note.
func TestRefusedEdit(t *testing.T) {
	e := newEnv(t)
	good := e.compile(t, nil)
	e.act.Propose(good)
	e.inForce(t, good)
	withDead := e.compile(t, func(s *v1alpha1.ScopePolicySpec) {
		s.Issuers = append(s.Issuers, v1alpha1.Issuer{URL: deadURL(t)})
	})
	e.act.Propose(withDead)
	e.waitPending(t, withDead)

	e.act.Refuse(7, errors.New("spec.routes[0]: bad"))
	st := e.act.State()
	if st.InForce != good || st.Pending != nil || st.RefusedGeneration != 7 {
		t.Fatalf("state after refusal = %+v", st)
	}
	note, err := e.act.Readiness()
	if err != nil || !strings.Contains(note, "refused (spec.routes[0]: bad)") {
		t.Errorf("Readiness = %q, %v", note, err)
	}
	if e.keys.For(withDead.Issuers[1]) != nil {
		t.Error("keys are still fetched for the abandoned pending policy")
	}

	e.act.Remove()
	if e.holder.Load() != nil || e.keys.For(good.Issuers[0]) != nil {
		t.Error("Remove left a policy or keys")
	}
	if _, err := e.act.Readiness(); err == nil {
		t.Error("ready without a policy")
	}
}

// Proposals are applied in order: however fast they come, the last one is
// what ends up in force (the start-up race lost an edit 2 times in 8).
func TestLastProposalWins(t *testing.T) {
	e := newEnv(t)
	var last *policy.Snapshot
	for i := 0; i < 20; i++ {
		last = e.compile(t, nil)
		e.act.Propose(last)
	}
	e.inForce(t, last)
	time.Sleep(100 * time.Millisecond)
	if e.holder.Load() != last {
		t.Fatal("an older proposal replaced the last one")
	}
}
