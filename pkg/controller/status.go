package controller

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/abc-inc/timesheets/pkg/activation"
	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/policy"
)

// EventAction is the action of the Events the status writer emits.
const EventAction = "LoadPolicy"

// statusWriter reports on the ScopePolicy what the enforcer of its replica
// holds. It runs on the elected replica only.
type statusWriter struct {
	client        client.Client
	enforcer      *enforcer
	keys          *auth.Keys
	recorder      recorder.EventRecorder
	fieldManager  string
	retry, resync time.Duration
	log           *slog.Logger

	writes atomic.Int64
}

func (w *statusWriter) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var sp v1alpha1.ScopePolicy
	if err := w.client.Get(ctx, req.NamespacedName, &sp); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	st := w.enforcer.state()
	if st.uid != sp.UID || st.generation != sp.Generation || (st.pending != nil && !st.waited) {
		// The enforcer has not seen this generation yet, or its activation
		// is still within the key wait; the activator pokes us when done.
		return reconcile.Result{}, nil
	}

	orig := sp.DeepCopy()
	cond := readyCondition(st, w.keys)
	cond.ObservedGeneration = sp.Generation
	sp.Status.ObservedGeneration = sp.Generation
	meta.SetStatusCondition(&sp.Status.Conditions, cond)
	sp.Status.Issuers = issuerStatuses(w.keys, activation.Issuers(st.pending, st.inForce))
	sp.Status.IssuerCount, sp.Status.RouteCount = 0, 0
	if st.inForce != nil {
		sp.Status.IssuerCount = int32(len(st.inForce.Issuers))
		sp.Status.RouteCount = int32(len(st.inForce.Routes))
	}

	after := w.resync
	if cond.Status != metav1.ConditionTrue {
		after = w.retry
	}
	if equality.Semantic.DeepEqual(orig.Status, sp.Status) {
		return reconcile.Result{RequeueAfter: after}, nil
	}
	err := w.client.Status().Patch(ctx, &sp, client.MergeFrom(orig), client.FieldOwner(w.fieldManager))
	if err != nil {
		if apierrors.IsNotFound(err) {
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, fmt.Errorf("patch status of %s: %w", req.NamespacedName, err)
	}
	w.writes.Add(1)

	old := meta.FindStatusCondition(orig.Status.Conditions, v1alpha1.ConditionReady)
	if orig.Status.ObservedGeneration != sp.Generation || old == nil || old.Reason != cond.Reason {
		typ := corev1.EventTypeNormal
		if cond.Status != metav1.ConditionTrue {
			typ = corev1.EventTypeWarning
		}
		w.recorder.Eventf(&sp, nil, typ, cond.Reason, EventAction, "%s", cond.Message)
		w.log.Info("ScopePolicy status", "policy", req.String(), "generation", sp.Generation,
			"reason", cond.Reason, "message", cond.Message)
	}
	return reconcile.Result{RequeueAfter: after}, nil
}

// readyCondition says whether the reconciled generation is in force, and if
// not, why and what is enforced instead.
func readyCondition(st state, keys *auth.Keys) metav1.Condition {
	c := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse}
	fallback := "no policy is in force: protected routes answer 503"
	if st.inForce != nil {
		fallback = fmt.Sprintf("the last good policy (generation %d) stays in force", st.inForce.Generation)
	}
	switch {
	case st.compileErr != nil:
		c.Reason = v1alpha1.ReasonInvalidSpec
		c.Message = fmt.Sprintf("generation %d refused: %s; %s",
			st.generation, strings.ReplaceAll(st.compileErr.Error(), "\n", "; "), fallback)
	case st.pending != nil:
		c.Reason = v1alpha1.ReasonKeysUnavailable
		c.Message = fmt.Sprintf("generation %d waits for signing keys: %s; %s; it goes in force as soon as the keys can be fetched",
			st.generation, missingKeys(keys, st.pending), fallback)
	case st.inForce == nil:
		// Not reached while the enforcer holds the generation; kept for safety.
		c.Reason = v1alpha1.ReasonKeysUnavailable
		c.Message = fallback
	default:
		if missing := missingKeys(keys, st.inForce); missing != "" {
			c.Reason = v1alpha1.ReasonKeysUnavailable
			c.Message = fmt.Sprintf("generation %d is in force but cannot verify tokens: %s; requests with such tokens answer 503 until the keys arrive",
				st.inForce.Generation, missing)
			break
		}
		c.Status = metav1.ConditionTrue
		c.Reason = v1alpha1.ReasonLoaded
		mode := v1alpha1.ModeEnforce
		if st.inForce.Audit {
			mode = v1alpha1.ModeAudit
		}
		c.Message = fmt.Sprintf("generation %d is in force: %d issuers, %d routes, mode %s",
			st.inForce.Generation, len(st.inForce.Issuers), len(st.inForce.Routes), mode)
		if stale := failingFetches(keys, st.inForce); stale != "" {
			c.Message += "; " + stale
		}
	}
	return c
}

// failingFetches describes issuers whose last JWKS fetch failed although
// keys are held, or "".
func failingFetches(keys *auth.Keys, s *policy.Snapshot) string {
	var msgs []string
	for _, is := range s.Issuers {
		if ik := keys.For(is); ik != nil {
			st := ik.Status()
			switch {
			case st.KeyCount == 0 || st.LastResult.Outcome == auth.FetchSuccess || st.LastResult.Outcome == auth.FetchPending:
			case st.LastResult.Outcome == auth.FetchTruncated:
				msgs = append(msgs, fmt.Sprintf("issuer %s: %s", is.URL, st.LastResult.Detail))
			default:
				msgs = append(msgs, fmt.Sprintf("the last JWKS fetch for issuer %s failed (%s); the %d keys held stay in use",
					is.URL, st.LastResult, st.KeyCount))
			}
		}
	}
	return strings.Join(msgs, "; ")
}

func issuerStatuses(keys *auth.Keys, issuers []policy.Issuer) []v1alpha1.IssuerStatus {
	var out []v1alpha1.IssuerStatus
	for _, is := range issuers {
		s := v1alpha1.IssuerStatus{URL: is.URL, JWKSURI: is.JWKSURI, LastFetchResult: auth.FetchResult{}.String()}
		if ik := keys.For(is); ik != nil {
			ks := ik.Status()
			if ks.JWKSURI != "" {
				s.JWKSURI = ks.JWKSURI
			}
			if !ks.LastFetch.IsZero() {
				t := metav1.NewTime(ks.LastFetch.Truncate(time.Second))
				s.LastFetchTime = &t
			}
			s.LastFetchResult = truncate(ks.LastResult.String(), 512)
			s.KeyCount = int32(ks.KeyCount)
		}
		out = append(out, s)
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
