package dpop

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"sync"
	"time"
)

// Ledger remembers the proofs a server accepted, so that none is accepted
// twice (RFC 9449 §11.1): it claims a proof's (jkt, jti) once until it
// expires. A Ledger shared by every replica (the API's store) stops a replay
// on another replica too.
type Ledger interface {
	// Claim records key until until; fresh is false when key was claimed
	// before and has not expired.
	Claim(ctx context.Context, key string, until time.Time) (fresh bool, err error)
}

// ReplayKey is the Ledger key of p: the base64url SHA-256 of its JKT and JTI,
// 43 characters whatever the jti (§11.1: "store only a hash thereof"). The
// jti is scoped to the key, so one client cannot use up another's.
func ReplayKey(p *Proof) string {
	h := sha256.New()
	h.Write([]byte(p.JKT))
	h.Write([]byte{0}) // a thumbprint is base64url: no NUL in it
	h.Write([]byte(p.JTI))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// CheckReplay claims p in l until o stops accepting p's iat
// (Options.ReplayUntil). It returns an *Error with ReasonReplay when p was
// seen before, and the Ledger's error (not an *Error) when l failed.
func CheckReplay(ctx context.Context, l Ledger, p *Proof, o Options) error {
	fresh, err := l.Claim(ctx, ReplayKey(p), o.ReplayUntil(p))
	if err != nil {
		return err
	}
	if !fresh {
		return errReplay
	}
	return nil
}

// ErrLedgerFull is MemoryLedger.Claim's error when it holds its maximum of
// unexpired entries: the proof can be neither accepted nor refused as a
// replay, so a caller should answer with a temporary error (503).
var ErrLedgerFull = errors.New("dpop: the replay ledger is full")

// DefaultLedgerSize is NewMemoryLedger's bound when max <= 0.
const DefaultLedgerSize = 100_000

// MemoryLedger is a Ledger in memory, for one replica and tests: at most max
// entries; expired ones are evicted (oldest expiry first, amortised O(log n)
// per Claim), and when max unexpired entries remain a Claim fails with
// ErrLedgerFull rather than growing. It uses the wall clock (time.Now). It is
// safe for concurrent use.
type MemoryLedger struct {
	mu      sync.Mutex
	max     int
	until   map[string]time.Time
	expiry  expiryHeap
	nowFunc func() time.Time
}

// NewMemoryLedger returns a MemoryLedger holding at most max entries
// (DefaultLedgerSize when max <= 0).
func NewMemoryLedger(max int) *MemoryLedger {
	if max <= 0 {
		max = DefaultLedgerSize
	}
	return &MemoryLedger{max: max, until: make(map[string]time.Time), nowFunc: time.Now}
}

// Claim implements Ledger.
func (l *MemoryLedger) Claim(ctx context.Context, key string, until time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.nowFunc()
	l.evict(now)
	if _, ok := l.until[key]; ok {
		return false, nil // unexpired: evict removed the expired ones
	}
	if !until.After(now) {
		return true, nil // already expired: nothing to remember
	}
	if len(l.until) >= l.max {
		return false, ErrLedgerFull
	}
	l.until[key] = until
	heap.Push(&l.expiry, entry{key: key, until: until})
	return true, nil
}

// Len is the number of entries held, expired or not.
func (l *MemoryLedger) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.until)
}

// evict drops the entries that expired at or before now.
func (l *MemoryLedger) evict(now time.Time) {
	for len(l.expiry) > 0 && !l.expiry[0].until.After(now) {
		e := heap.Pop(&l.expiry).(entry)
		if l.until[e.key].Equal(e.until) {
			delete(l.until, e.key)
		}
	}
}

type entry struct {
	key   string
	until time.Time
}

// expiryHeap is a min-heap of entries by expiry (container/heap).
type expiryHeap []entry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(entry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = entry{}
	*h = old[:len(old)-1]
	return e
}
