package auth

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/abc-inc/timesheets/pkg/backoff"
	"github.com/abc-inc/timesheets/pkg/metrics"
	"github.com/abc-inc/timesheets/pkg/oidc"
	"github.com/abc-inc/timesheets/pkg/policy"
	"github.com/abc-inc/timesheets/pkg/tracing"
)

// KeyOptions tune how signing keys are fetched.
type KeyOptions struct {
	// HTTPClient fetches discovery documents and JWKS; it must have a timeout.
	HTTPClient *http.Client
	// RefreshInterval is the longest time between two background fetches:
	// the wait when the JWKS response says nothing of its freshness, and the
	// cap on a long Cache-Control max-age. Default 1 hour.
	RefreshInterval time.Duration
	// MinRefreshInterval is the shortest time between two background
	// fetches, however short the max-age: the wait after a response marked
	// no-cache, no-store or with invalid freshness. Default 1 minute.
	MinRefreshInterval time.Duration
	// UnknownKIDInterval is the least time between two fetches caused by a
	// token naming a kid the set lacks, so bogus kids cannot flood the issuer
	// (default 30 s, as jose's cooldownDuration). Only a fetch that succeeded
	// counts: one that failed leaves the next unknown kid free to fetch once
	// the retry backoff has passed.
	UnknownKIDInterval time.Duration
	// RetryInterval caps the wait after a failed fetch. Retries start at
	// 500 ms (or RetryInterval, if smaller) and double, with jitter: a brief
	// outage heals in about a second, a long one costs the issuer one
	// request per RetryInterval, and replicas do not retry in step.
	RetryInterval time.Duration
	// DiscoveryInterval is how often OIDC discovery runs again for an issuer
	// without a configured JWKS URI, so a moved jwks_uri is followed; a JWKS
	// answering 404 or 410 runs it at once. Default 1 hour.
	DiscoveryInterval time.Duration
	// MaxKeys bounds the signing keys taken from one JWKS (default 100); the
	// first MaxKeys in document order are used and LastResult says so.
	MaxKeys int
	Logger  *slog.Logger
	// Metrics counts fetches and keys per issuer; the verifier and the
	// middleware built on these keys count into it too. Default: a set
	// registered nowhere.
	Metrics *metrics.Metrics
}

func (o *KeyOptions) defaults() {
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second, CheckRedirect: noDowngrade}
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = time.Hour
	}
	if o.MinRefreshInterval <= 0 {
		o.MinRefreshInterval = time.Minute
	}
	o.MinRefreshInterval = min(o.MinRefreshInterval, o.RefreshInterval)
	if o.UnknownKIDInterval <= 0 {
		o.UnknownKIDInterval = 30 * time.Second
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = 10 * time.Second
	}
	if o.DiscoveryInterval <= 0 {
		o.DiscoveryInterval = time.Hour
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 100
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.Discard()
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

// Metrics returns the set the keys count into (KeyOptions.Metrics).
func (k *Keys) Metrics() *metrics.Metrics { return k.opts.Metrics }

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
			if !hasIssuerURL(next, is.URL) { // an edited issuer keeps its URL's series
				k.opts.Metrics.DeleteIssuer(is.URL)
			}
		}
	}
	k.sets.Store(&next)
}

func hasIssuerURL(sets map[policy.Issuer]*IssuerKeys, url string) bool {
	for is := range sets {
		if is.URL == url {
			return true
		}
	}
	return false
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
	kids    atomic.Pointer[map[string]struct{}]
	status  atomic.Pointer[KeyStatus]
	jwksURI atomic.Pointer[string]
	// discovered is when jwksURI came from OIDC discovery; only the fetch
	// in flight touches it.
	discovered time.Time
	// ctx is the key set's own: every fetch runs on it, never on a
	// request's, so a client that hangs up cancels nothing.
	ctx    context.Context
	cancel context.CancelFunc
	// kick wakes the background loop when another fetch moved its schedule.
	kick chan struct{}

	mu       sync.Mutex
	inflight *flight   // the fetch everyone waits for, or nil
	kidOK    time.Time // end of the last successful fetch for an unknown kid
	failures int       // fetches failed in a row
	retryAt  time.Time // after a failure, no fetch for an unknown kid before this
	next     time.Time // when the background loop fetches next
}

// flight is one fetch shared by everyone waiting for it.
type flight struct {
	done chan struct{}
	err  error
}

// KeyStatus reports the last fetch of an issuer's keys.
type KeyStatus struct {
	Issuer     string
	JWKSURI    string
	LastFetch  time.Time // zero: never fetched
	LastResult FetchResult
	KeyCount   int
	NextFetch  time.Time // when the background refresh fetches again
}

// FetchOutcome is how the last fetch of an issuer's keys went.
type FetchOutcome int

const (
	// FetchPending: no fetch has ended yet (the zero value).
	FetchPending FetchOutcome = iota
	// FetchSuccess: the keys the JWKS lists are held.
	FetchSuccess
	// FetchTruncated: keys are held, but the JWKS lists more than MaxKeys
	// and the rest are ignored; the detail says how many.
	FetchTruncated
	// FetchError: the fetch failed; the detail is the error, and the keys
	// held before stay in use.
	FetchError
)

// FetchResult is the outcome of the last fetch, with its detail.
type FetchResult struct {
	Outcome FetchOutcome
	Detail  string // what was truncated, or the error; "" otherwise
}

// String is the result as a ScopePolicy's status shows it (lastFetchResult):
// "Pending", "Success", "Truncated: " and the detail, or the error.
func (r FetchResult) String() string {
	switch r.Outcome {
	case FetchSuccess:
		return "Success"
	case FetchTruncated:
		return "Truncated: " + r.Detail
	case FetchError:
		return r.Detail
	}
	return "Pending"
}

func (k *Keys) start(is policy.Issuer) *IssuerKeys {
	k.opts.Metrics.InitIssuer(is.URL)
	ctx, cancel := context.WithCancel(k.ctx)
	storage := jwkset.NewMemoryStorage()
	ik := &IssuerKeys{
		issuer:  is,
		opts:    k.opts,
		storage: storage,
		ctx:     ctx,
		cancel:  cancel,
		kick:    make(chan struct{}, 1),
	}
	empty := map[string]struct{}{}
	ik.kids.Store(&empty)
	ik.status.Store(&KeyStatus{Issuer: is.URL, JWKSURI: is.JWKSURI})
	go ik.refreshLoop()
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

// key returns the public key of the JWK kid names, for a token signed with
// alg: errUnknownKey if the set has no such key, errDisallowedAlg if the JWK
// names another algorithm (RFC 7517 §4.4: its "alg" is the one algorithm
// the key is for).
func (ik *IssuerKeys) key(ctx context.Context, kid, alg string) (any, error) {
	jwk, err := ik.storage.KeyRead(ctx, kid)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUnknownKey, err)
	}
	if a := jwk.Marshal().ALG; a != "" && a.String() != alg {
		return nil, errDisallowedAlg
	}
	key := jwk.Key()
	if pk, ok := key.(interface{ Public() crypto.PublicKey }); ok {
		key = pk.Public() // a JWKS that (wrongly) holds a private key verifies with its public half
	}
	return key, nil
}

// refreshLoop fetches now, then whenever the schedule set by the last fetch
// (of any kind) says so.
func (ik *IssuerKeys) refreshLoop() {
	for ik.ctx.Err() == nil {
		select {
		case <-ik.ctx.Done():
			return
		case <-ik.join(false).done:
		}
		for {
			ik.mu.Lock()
			wait := time.Until(ik.next)
			ik.mu.Unlock()
			if wait <= 0 {
				break
			}
			t := time.NewTimer(wait)
			select {
			case <-ik.ctx.Done():
				t.Stop()
				return
			case <-ik.kick:
				t.Stop()
			case <-t.C:
			}
		}
	}
}

// firstRetry is the wait after the first failed fetch.
const firstRetry = 500 * time.Millisecond

// retryDelay is the wait after the n-th failed fetch in a row: it doubles
// from firstRetry up to maxWait, and a random part ("equal jitter") puts it
// between half of that and all of it.
func retryDelay(n int, maxWait time.Duration) time.Duration {
	return backoff.Exponential{Base: firstRetry, Max: maxWait, Jitter: backoff.Equal}.Delay(n - 1)
}

// refreshUnknownKID fetches the keys again for a token naming a kid the set
// lacks, at most once per UnknownKIDInterval, and reports whether a fetch
// succeeded. The caller waits until the fetch ends or ctx does; the fetch
// itself runs on the key set's context and goes on for everyone else.
func (ik *IssuerKeys) refreshUnknownKID(ctx context.Context) bool {
	f := ik.join(true)
	if f == nil {
		return false
	}
	// The request's wait; the fetch is a span of its own, as it serves
	// every request waiting and may outlive this one.
	_, span := tracing.Tracer().Start(ctx, "wait for JWKS refresh (unknown kid)",
		trace.WithAttributes(attribute.String("timesheets.issuer", ik.issuer.URL)))
	defer span.End()
	select {
	case <-f.done:
		return f.err == nil
	case <-ctx.Done():
		return false
	}
}

// join returns the fetch in flight, or starts one. For an unknown kid it
// starts none (nil) within UnknownKIDInterval of the last such fetch that
// succeeded, or before the retry backoff after a failure has passed. The
// check and the start happen under one lock, so a flood of unknown kids
// costs one fetch per interval, however many requests race.
func (ik *IssuerKeys) join(unknownKID bool) *flight {
	ik.mu.Lock()
	defer ik.mu.Unlock()
	if ik.inflight != nil {
		return ik.inflight
	}
	now := time.Now()
	if unknownKID && (now.Before(ik.retryAt) || (!ik.kidOK.IsZero() && now.Sub(ik.kidOK) < ik.opts.UnknownKIDInterval)) {
		return nil
	}
	f := &flight{done: make(chan struct{})}
	ik.inflight = f
	go ik.run(f, unknownKID)
	return f
}

// run performs the fetch of f and sets the schedule from its outcome. A
// failed fetch keeps the keys already held, so an issuer outage does not
// lock clients out.
func (ik *IssuerKeys) run(f *flight, unknownKID bool) {
	res, err := ik.fetch(ik.ctx)
	now := time.Now()
	ik.mu.Lock()
	defer func() {
		ik.inflight = nil
		ik.mu.Unlock()
		f.err = err
		close(f.done)
		select {
		case ik.kick <- struct{}{}:
		default:
		}
	}()
	if ik.ctx.Err() != nil {
		return // the key set was dropped; nobody reads it any more
	}
	st := ik.Status()
	st.LastFetch = now
	if err != nil {
		ik.failures++
		ik.retryAt = now.Add(retryDelay(ik.failures, ik.opts.RetryInterval))
		ik.next = ik.retryAt
		st.LastResult = FetchResult{Outcome: FetchError, Detail: err.Error()}
		ik.opts.Metrics.JWKSRefreshes.WithLabelValues(ik.issuer.URL, metrics.JWKSError).Inc()
		ik.opts.Logger.Warn("fetching signing keys failed; keeping the keys held", "issuer", ik.issuer.URL, "error", err, "keys", st.KeyCount)
	} else {
		ik.failures, ik.retryAt = 0, time.Time{}
		ik.next = now.Add(res.ttl)
		if unknownKID {
			ik.kidOK = now
		}
		result := FetchResult{Outcome: FetchSuccess}
		if res.listed > res.kept {
			result = FetchResult{Outcome: FetchTruncated,
				Detail: fmt.Sprintf("the JWKS lists %d signing keys; only the first %d are used", res.listed, res.kept)}
			if result != st.LastResult {
				ik.opts.Logger.Warn("JWKS lists more signing keys than accepted; the rest are ignored", "issuer", ik.issuer.URL, "listed", res.listed, "used", res.kept)
			}
		}
		st.LastResult = result
		st.KeyCount = res.kept
		ik.opts.Metrics.JWKSRefreshes.WithLabelValues(ik.issuer.URL, metrics.JWKSSuccess).Inc()
		ik.opts.Metrics.JWKSKeys.WithLabelValues(ik.issuer.URL).Set(float64(st.KeyCount))
	}
	st.NextFetch = ik.next
	if u := ik.jwksURI.Load(); u != nil {
		st.JWKSURI = *u
	}
	ik.status.Store(&st)
}

// fetchResult is what a good fetch learnt.
type fetchResult struct {
	ttl          time.Duration // until the next background fetch
	listed, kept int           // usable signing keys in the JWKS, and taken
}

func (ik *IssuerKeys) fetch(ctx context.Context) (_ fetchResult, err error) {
	ctx, cancel := context.WithTimeout(ctx, ik.opts.HTTPClient.Timeout+time.Second)
	defer cancel()
	ctx, span := tracing.Tracer().Start(ctx, "fetch JWKS", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("timesheets.issuer", ik.issuer.URL)))
	defer func() {
		if err != nil {
			span.SetStatus(codes.Error, "") // the error, with URLs, goes to the log and the status
		}
		span.End()
	}()
	discovery := ik.issuer.JWKSURI == ""
	uri, rediscovered := ik.issuer.JWKSURI, false
	if discovery {
		var err error
		if uri, rediscovered, err = ik.jwksLocation(ctx, false); err != nil {
			return fetchResult{}, err
		}
	}
	var set jwkset.JWKSMarshal
	hdr, err := ik.getJSON(ctx, uri, &set)
	var status *httpStatusError
	if discovery && !rediscovered && errors.As(err, &status) &&
		(status.code == http.StatusNotFound || status.code == http.StatusGone) {
		// The JWKS may have moved: ask discovery where it is now.
		if moved, _, derr := ik.jwksLocation(ctx, true); derr == nil && moved != uri {
			uri = moved
			set = jwkset.JWKSMarshal{}
			hdr, err = ik.getJSON(ctx, uri, &set)
		}
	}
	if err != nil {
		return fetchResult{}, err
	}
	var keys []jwkset.JWK
	kids := map[string]struct{}{}
	res := fetchResult{ttl: freshness(hdr, time.Now(), ik.opts.MinRefreshInterval, ik.opts.RefreshInterval)}
	for _, m := range set.Keys {
		if m.KID == "" || (m.USE != "" && m.USE != jwkset.UseSig) {
			continue // a token must name its key; encryption keys never verify
		}
		if len(keys) >= ik.opts.MaxKeys {
			// Keep the first MaxKeys rather than refuse the set: refusing
			// would keep the set held before, withdrawn keys included.
			res.listed++
			continue
		}
		jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			continue // one odd key must not hide the others
		}
		keys = append(keys, jwk)
		kids[m.KID] = struct{}{}
		res.listed++
	}
	if len(keys) == 0 {
		return fetchResult{}, fmt.Errorf("JWKS at %s holds no usable signing key", uri)
	}
	if err := ik.storage.KeyReplaceAll(ctx, keys); err != nil {
		return fetchResult{}, fmt.Errorf("store keys: %w", err)
	}
	res.kept = len(keys)
	ik.kids.Store(&kids)
	return res, nil
}

// jwksLocation returns the JWKS URI found by OIDC discovery, running it when
// none is known, when the last run is DiscoveryInterval old, or when force
// is set; fresh says it ran now. If a repeat run fails, the URI found before
// stays in use (its keys are still checked on every fetch).
func (ik *IssuerKeys) jwksLocation(ctx context.Context, force bool) (uri string, fresh bool, err error) {
	p := ik.jwksURI.Load()
	if p != nil && !force && time.Since(ik.discovered) < ik.opts.DiscoveryInterval {
		return *p, false, nil
	}
	uri, err = ik.discover(ctx)
	if err != nil {
		if p == nil {
			return "", false, err
		}
		ik.opts.Logger.Warn("OIDC discovery failed; keeping the JWKS URI found before", "issuer", ik.issuer.URL, "jwksURI", *p, "error", err)
		return *p, false, nil
	}
	if p != nil && *p != uri {
		ik.opts.Logger.Info("OIDC discovery names a new JWKS URI", "issuer", ik.issuer.URL, "old", *p, "new", uri)
	}
	ik.jwksURI.Store(&uri)
	ik.discovered = time.Now()
	return uri, true, nil
}

// freshness is how long a JWKS response may be used before it is fetched
// again: its freshness lifetime less its age (RFC 9111 §4.2.1, §4.2.3),
// within [floor, ceiling]. max-age (§5.2.2.1) wins over Expires (§5.3);
// no-cache and no-store (§5.2.2.4, §5.2.2.5), a malformed Cache-Control, an
// invalid or repeated max-age and an invalid Expires all mean stale, the
// floor (§4.2.1: the most restrictive reading). Without any of them, the
// ceiling: the response gives no reason to fetch sooner.
func freshness(h http.Header, now time.Time, floor, ceiling time.Duration) time.Duration {
	clamp := func(d time.Duration) time.Duration { return min(max(d, floor), ceiling) }
	var lifetime time.Duration
	dirs, ok := parseCacheControl(strings.Join(h.Values("Cache-Control"), ","))
	if !ok {
		return floor
	}
	if _, ok := dirs["no-cache"]; ok {
		return floor
	}
	if _, ok := dirs["no-store"]; ok {
		return floor
	}
	if v, ok := dirs["max-age"]; ok {
		secs, ok := deltaSeconds(v)
		if !ok {
			return floor
		}
		lifetime = secs
	} else if exp := h.Values("Expires"); len(exp) > 0 {
		t, err := http.ParseTime(exp[0])
		if err != nil || len(exp) > 1 {
			return floor // §5.3: an invalid date (such as "0") is in the past
		}
		base := now
		if d, err := http.ParseTime(h.Get("Date")); err == nil {
			base = d
		}
		lifetime = t.Sub(base)
	} else {
		return ceiling
	}
	if v := h.Values("Age"); len(v) > 0 {
		age, ok := deltaSeconds([]string{v[0]})
		if !ok || len(v) > 1 {
			return floor
		}
		lifetime -= age
	}
	return clamp(lifetime)
}

// maxDelta is where delta-seconds saturate (RFC 9111 §1.2.2: 2^31).
const maxDelta = 1 << 31

// deltaSeconds parses the values of one directive as delta-seconds
// (RFC 9111 §1.2.2); a directive given twice is invalid (§4.2.1).
func deltaSeconds(vals []string) (time.Duration, bool) {
	if len(vals) != 1 || vals[0] == "" {
		return 0, false
	}
	n := 0
	for _, c := range vals[0] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = min(n*10+int(c-'0'), maxDelta)
	}
	return time.Duration(n) * time.Second, true
}

// parseCacheControl splits a Cache-Control field value into directives
// (RFC 9111 §5.2: #( token [ "=" ( token / quoted-string ) ] ), names
// case-insensitive, quoted values unquoted). Every value of a directive is
// kept so a repeat can be told. ok is false on a syntax error.
func parseCacheControl(v string) (dirs map[string][]string, ok bool) {
	dirs = map[string][]string{}
	i := 0
	skipOWS := func() {
		for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
			i++
		}
	}
	token := func() string {
		j := i
		for i < len(v) && isTchar(v[i]) {
			i++
		}
		return v[j:i]
	}
	for {
		skipOWS()
		if i == len(v) {
			return dirs, true
		}
		if v[i] == ',' { // empty list elements are allowed (RFC 9110 §5.6.1)
			i++
			continue
		}
		name := strings.ToLower(token())
		if name == "" {
			return nil, false
		}
		val := ""
		if i < len(v) && v[i] == '=' {
			i++
			if i < len(v) && v[i] == '"' {
				var b strings.Builder
				for i++; ; i++ {
					if i == len(v) {
						return nil, false // unterminated quoted-string
					}
					if v[i] == '\\' && i+1 < len(v) {
						i++
					} else if v[i] == '"' {
						i++
						break
					}
					b.WriteByte(v[i])
				}
				val = b.String()
			} else if val = token(); val == "" {
				return nil, false
			}
		}
		dirs[name] = append(dirs[name], val)
		skipOWS()
		if i < len(v) && v[i] != ',' {
			return nil, false
		}
	}
}

// isTchar reports whether c may appear in a token (RFC 9110 §5.6.2).
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// noDowngrade follows at most 10 redirects (as net/http does), and none to
// a URL keys must not come from (https to plain http off loopback).
func noDowngrade(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return policy.CheckKeyURL(req.URL.String())
}

// discover finds the JWKS URI in the issuer's OpenID configuration, which
// oidc checks is the issuer's own.
func (ik *IssuerKeys) discover(ctx context.Context) (string, error) {
	md, err := (&oidc.Client{HTTPClient: ik.opts.HTTPClient, MaxBytes: maxJWKSBytes}).Discover(ctx, ik.issuer.URL)
	if err != nil {
		return "", err
	}
	u := oidc.ConfigurationURL(ik.issuer.URL)
	if md.JWKSURI == "" {
		return "", fmt.Errorf("OIDC discovery at %s has no jwks_uri", u)
	}
	if err := policy.CheckKeyURL(md.JWKSURI); err != nil {
		return "", fmt.Errorf("OIDC discovery at %s: jwks_uri %w", u, err)
	}
	return md.JWKSURI, nil
}

// httpStatusError is a response other than 200 OK.
type httpStatusError struct{ code int }

func (e *httpStatusError) Error() string { return fmt.Sprintf("HTTP %d", e.code) }

// getJSON decodes the JSON document at uri into v and returns the response's
// header.
func (ik *IssuerKeys) getJSON(ctx context.Context, uri string, v any) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ik.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", uri, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %w", uri, &httpStatusError{resp.StatusCode})
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJWKSBytes)).Decode(v); err != nil {
		return nil, fmt.Errorf("GET %s: decode: %w", uri, err)
	}
	return resp.Header, nil
}
