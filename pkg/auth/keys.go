package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/abc-inc/timesheets/pkg/metrics"
	"github.com/abc-inc/timesheets/pkg/policy"
)

// KeyOptions tune how signing keys are fetched.
type KeyOptions struct {
	// HTTPClient fetches discovery documents and JWKS; it must have a timeout.
	HTTPClient *http.Client
	// RefreshInterval is how often keys are fetched again in the background.
	RefreshInterval time.Duration
	// UnknownKIDInterval is the least time between two fetches caused by a
	// token naming a kid the set lacks, so bogus kids cannot flood the issuer.
	UnknownKIDInterval time.Duration
	// RetryInterval caps the wait after a failed fetch. Retries start at
	// 500 ms (or RetryInterval, if smaller) and double, with jitter: a brief
	// outage heals in about a second, a long one costs the issuer one
	// request per RetryInterval, and replicas do not retry in step.
	RetryInterval time.Duration
	Logger        *slog.Logger
}

func (o *KeyOptions) defaults() {
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second, CheckRedirect: noDowngrade}
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = time.Hour
	}
	if o.UnknownKIDInterval <= 0 {
		o.UnknownKIDInterval = 5 * time.Minute
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// maxJWKSBytes bounds a JWKS or discovery document; real ones are a few KiB.
const maxJWKSBytes = 1 << 20

// Keys holds the signing keys of every issuer of the policy in force, one
// key set per issuer so a key of one issuer never verifies another's token.
type Keys struct {
	opts   KeyOptions
	mu     sync.Mutex
	sets   atomic.Pointer[map[policy.Issuer]*IssuerKeys]
	ctx    context.Context
	cancel context.CancelFunc
}

// NewKeys returns an empty key store; Sync fills it. Close stops its refreshes.
func NewKeys(opts KeyOptions) *Keys {
	opts.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	k := &Keys{opts: opts, ctx: ctx, cancel: cancel}
	empty := map[policy.Issuer]*IssuerKeys{}
	k.sets.Store(&empty)
	return k
}

// Close stops every background refresh.
func (k *Keys) Close() { k.cancel() }

// Sync makes the key sets match issuers: new issuers start fetching, removed
// ones stop, unchanged ones keep their keys (a policy edit refetches nothing).
func (k *Keys) Sync(issuers []policy.Issuer) {
	k.mu.Lock()
	defer k.mu.Unlock()
	old := *k.sets.Load()
	next := make(map[policy.Issuer]*IssuerKeys, len(issuers))
	for _, is := range issuers {
		if ik, ok := old[is]; ok {
			next[is] = ik
			continue
		}
		next[is] = k.start(is)
	}
	for is, ik := range old {
		if _, keep := next[is]; !keep {
			ik.stop()
			metrics.JWKSKeys.DeleteLabelValues(is.URL)
		}
	}
	k.sets.Store(&next)
}

// For returns the key set of an issuer of the policy, or nil.
func (k *Keys) For(is policy.Issuer) *IssuerKeys {
	return (*k.sets.Load())[is]
}

// Ready reports whether every issuer has keys, and if not, why.
func (k *Keys) Ready(issuers []policy.Issuer) error {
	var errs []error
	for _, is := range issuers {
		ik := k.For(is)
		if ik == nil {
			errs = append(errs, fmt.Errorf("issuer %s: keys not loaded", is.URL))
			continue
		}
		if st := ik.Status(); st.KeyCount == 0 {
			errs = append(errs, fmt.Errorf("issuer %s: no signing keys (last fetch: %s)", is.URL, st.LastResult))
		}
	}
	return errors.Join(errs...)
}

// WaitReady blocks until every issuer has keys or ctx ends.
func (k *Keys) WaitReady(ctx context.Context, issuers []policy.Issuer) error {
	for {
		err := k.Ready(issuers)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// IssuerKeys is the key set of one issuer, kept fresh in the background.
type IssuerKeys struct {
	issuer  policy.Issuer
	opts    KeyOptions
	storage jwkset.Storage
	kf      keyfunc.Keyfunc
	kids    atomic.Pointer[map[string]struct{}]
	status  atomic.Pointer[KeyStatus]
	jwksURI atomic.Pointer[string]
	// unknownKID limits fetches caused by unknown kids; never waits.
	unknownKID *rate.Limiter
	fetches    singleflight.Group
	cancel     context.CancelFunc
}

// KeyStatus reports the last fetch of an issuer's keys.
type KeyStatus struct {
	Issuer     string
	JWKSURI    string
	LastFetch  time.Time // zero: never fetched
	LastResult string    // "Success" or a short error
	KeyCount   int
}

func (k *Keys) start(is policy.Issuer) *IssuerKeys {
	ctx, cancel := context.WithCancel(k.ctx)
	storage := jwkset.NewMemoryStorage()
	kf, _ := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: storage})
	ik := &IssuerKeys{
		issuer:     is,
		opts:       k.opts,
		storage:    storage,
		kf:         kf,
		unknownKID: rate.NewLimiter(rate.Every(k.opts.UnknownKIDInterval), 1),
		cancel:     cancel,
	}
	empty := map[string]struct{}{}
	ik.kids.Store(&empty)
	ik.status.Store(&KeyStatus{Issuer: is.URL, JWKSURI: is.JWKSURI, LastResult: "Pending"})
	// The first fetch happens now; its token is spent so unknown kids wait a full interval.
	ik.unknownKID.Allow()
	go ik.refreshLoop(ctx)
	return ik
}

func (ik *IssuerKeys) stop() { ik.cancel() }

// Status returns the last fetch result and key count.
func (ik *IssuerKeys) Status() KeyStatus { return *ik.status.Load() }

// HasKID reports whether kid is in the set fetched last; cached tokens are
// dropped when their key leaves the JWKS.
func (ik *IssuerKeys) HasKID(kid string) bool {
	_, ok := (*ik.kids.Load())[kid]
	return ok
}

func (ik *IssuerKeys) refreshLoop(ctx context.Context) {
	for failures := 0; ; {
		wait := ik.opts.RefreshInterval
		if err := ik.refresh(ctx); err != nil {
			failures++
			wait = retryDelay(failures, ik.opts.RetryInterval)
		} else {
			failures = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// firstRetry is the wait after the first failed fetch.
const firstRetry = 500 * time.Millisecond

// retryDelay is the wait after the n-th failed fetch in a row: it doubles
// from firstRetry up to maxWait, and a random part ("equal jitter") puts it
// between half of that and all of it.
func retryDelay(n int, maxWait time.Duration) time.Duration {
	d := min(firstRetry, maxWait)
	for i := 1; i < n && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	return d/2 + rand.N(d/2+1)
}

// refreshUnknownKID fetches the keys again if the rate limit allows; it never
// blocks a request on the limiter.
func (ik *IssuerKeys) refreshUnknownKID(ctx context.Context) bool {
	if !ik.unknownKID.Allow() {
		return false
	}
	return ik.refresh(ctx) == nil
}

// refresh fetches the JWKS once; concurrent callers share one fetch. A failed
// fetch keeps the keys already held, so an issuer outage does not lock
// clients out.
func (ik *IssuerKeys) refresh(ctx context.Context) error {
	_, err, _ := ik.fetches.Do("", func() (any, error) {
		err := ik.fetch(ctx)
		st := ik.Status()
		st.LastFetch = time.Now()
		if err != nil {
			st.LastResult = err.Error()
			metrics.JWKSRefreshes.WithLabelValues(ik.issuer.URL, "error").Inc()
			ik.opts.Logger.Warn("fetching signing keys failed; keeping the keys held", "issuer", ik.issuer.URL, "error", err, "keys", st.KeyCount)
		} else {
			st.LastResult = "Success"
			st.KeyCount = len(*ik.kids.Load())
			metrics.JWKSRefreshes.WithLabelValues(ik.issuer.URL, "success").Inc()
			metrics.JWKSKeys.WithLabelValues(ik.issuer.URL).Set(float64(st.KeyCount))
		}
		if u := ik.jwksURI.Load(); u != nil {
			st.JWKSURI = *u
		}
		ik.status.Store(&st)
		return nil, err
	})
	return err
}

func (ik *IssuerKeys) fetch(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, ik.opts.HTTPClient.Timeout+time.Second)
	defer cancel()
	uri := ik.issuer.JWKSURI
	if uri == "" {
		if p := ik.jwksURI.Load(); p != nil {
			uri = *p
		} else {
			var err error
			if uri, err = ik.discover(ctx); err != nil {
				return err
			}
		}
	}
	ik.jwksURI.Store(&uri)

	var set jwkset.JWKSMarshal
	if err := ik.getJSON(ctx, uri, &set); err != nil {
		return err
	}
	var keys []jwkset.JWK
	kids := map[string]struct{}{}
	for _, m := range set.Keys {
		if m.KID == "" || (m.USE != "" && m.USE != jwkset.UseSig) {
			continue // a token must name its key; encryption keys never verify
		}
		jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			continue // one odd key must not hide the others
		}
		keys = append(keys, jwk)
		kids[m.KID] = struct{}{}
	}
	if len(keys) == 0 {
		return fmt.Errorf("JWKS at %s holds no usable signing key", uri)
	}
	if err := ik.storage.KeyReplaceAll(ctx, keys); err != nil {
		return fmt.Errorf("store keys: %w", err)
	}
	ik.kids.Store(&kids)
	return nil
}

// noDowngrade follows at most 10 redirects (as net/http does), and none to
// a URL keys must not come from (https to plain http off loopback).
func noDowngrade(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return policy.CheckKeyURL(req.URL.String())
}

// discover finds the JWKS URI in the issuer's OpenID configuration and checks
// the document is the issuer's own.
func (ik *IssuerKeys) discover(ctx context.Context) (string, error) {
	u := strings.TrimSuffix(ik.issuer.URL, "/") + "/.well-known/openid-configuration"
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := ik.getJSON(ctx, u, &doc); err != nil {
		return "", fmt.Errorf("OIDC discovery: %w", err)
	}
	if doc.Issuer != ik.issuer.URL {
		return "", fmt.Errorf("OIDC discovery at %s names issuer %q, want %q", u, doc.Issuer, ik.issuer.URL)
	}
	if doc.JWKSURI == "" {
		return "", fmt.Errorf("OIDC discovery at %s has no jwks_uri", u)
	}
	if err := policy.CheckKeyURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("OIDC discovery at %s: jwks_uri %w", u, err)
	}
	return doc.JWKSURI, nil
}

func (ik *IssuerKeys) getJSON(ctx context.Context, uri string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ik.opts.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", uri, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", uri, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJWKSBytes)).Decode(v); err != nil {
		return fmt.Errorf("GET %s: decode: %w", uri, err)
	}
	return nil
}
