package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/abc-inc/timesheets/pkg/backoff"
	"github.com/abc-inc/timesheets/pkg/metrics"
	"github.com/abc-inc/timesheets/pkg/store"
	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// openStore opens the database. A bad URL or a failed migration is final
// and returned at once. A database that is only unavailable (it starts
// after the API, or a brief outage) is waited for in the background, with
// backoff, while the process already serves: until it opens, every call
// answers ErrUnavailable (503 with Retry-After) and /readyz says why, and
// /healthz stays ok, so a pod waiting for its database is alive but not
// ready, and is not restarted for it.
//
// A final error met later in the background (a migration that fails once the
// database answers) arrives on fatal; the caller stops the process with it.
func openStore(ctx context.Context, url string, logger *slog.Logger, m *metrics.Metrics) (st timesheets.Store, fatal <-chan error, err error) {
	defer func() {
		if st != nil {
			m.ObserveGroupCommits(func() (metrics.GroupCommits, bool) { return groupCommits(st) })
		}
	}()
	st, err = store.Open(ctx, url, store.Options{Logger: logger})
	if err == nil {
		m.DatabaseUp.Set(1)
		return st, nil, nil
	}
	if !errors.Is(err, timesheets.ErrUnavailable) {
		return nil, nil, fmt.Errorf("open database: %w", err)
	}
	m.DatabaseUp.Set(0)
	p := &pendingStore{err: err}
	ch := make(chan error, 1)
	go p.open(ctx, url, logger, m, ch)
	return p, ch, nil
}

// groupCommits reads the store's group commit counters (store.Stats),
// through a pendingStore once its database opened.
func groupCommits(st timesheets.Store) (metrics.GroupCommits, bool) {
	if p, ok := st.(*pendingStore); ok {
		var err error
		if st, err = p.get(); err != nil {
			return metrics.GroupCommits{}, false
		}
	}
	g, ok := store.Stats(st)
	if !ok {
		return metrics.GroupCommits{}, false
	}
	return metrics.GroupCommits{Transactions: g.Groups, Calls: g.Members, Dropped: g.Dropped, RolledBack: g.RolledBack, Sizes: g.Sizes[:]}, true
}

// waitFatal returns the final error from openStore's fatal channel, or nil
// when ctx ends first.
func waitFatal(ctx context.Context, fatal <-chan error) error {
	select {
	case err := <-fatal:
		return err
	case <-ctx.Done():
		return nil
	}
}

// pendingStore stands for the store while the database is awaited, and
// passes every call through once it is open.
type pendingStore struct {
	mu     sync.RWMutex
	st     timesheets.Store // nil until open
	err    error            // the last attempt's, wrapping ErrUnavailable
	closed bool
}

func (p *pendingStore) open(ctx context.Context, url string, logger *slog.Logger, m *metrics.Metrics, fatal chan<- error) {
	retry := backoff.Exponential{Base: 500 * time.Millisecond, Max: 30 * time.Second, Jitter: backoff.Equal}
	for attempt := 1; ; attempt++ {
		wait := retry.Delay(attempt - 1) // jittered, so replicas do not retry in step
		p.mu.RLock()
		err := p.err
		p.mu.RUnlock()
		logger.Error("database unavailable; serving 503 and retrying", "attempt", attempt, "retry_in", wait.String(), "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}

		st, err := store.Open(ctx, url, store.Options{Logger: logger})
		if errors.Is(err, timesheets.ErrUnavailable) {
			p.mu.Lock()
			p.err = err
			p.mu.Unlock()
			continue
		}
		if err != nil {
			fatal <- fmt.Errorf("open database: %w", err)
			return
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			st.Close()
			return
		}
		p.st = st
		p.mu.Unlock()
		m.DatabaseUp.Set(1)
		logger.Info("database open", "attempts", attempt+1)
		return
	}
}

func (p *pendingStore) get() (timesheets.Store, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.st == nil {
		return nil, fmt.Errorf("database not open yet: %w", p.err)
	}
	return p.st, nil
}

func (p *pendingStore) Create(ctx context.Context, entries []timesheets.Entry) ([]timesheets.CreateResult, error) {
	st, err := p.get()
	if err != nil {
		return nil, err
	}
	return st.Create(ctx, entries)
}

func (p *pendingStore) Upsert(ctx context.Context, entries []timesheets.Entry, allOrNothing bool) ([]timesheets.UpsertResult, error) {
	st, err := p.get()
	if err != nil {
		return nil, err
	}
	return st.Upsert(ctx, entries, allOrNothing)
}

func (p *pendingStore) Update(ctx context.Context, e timesheets.Entry, ifRevision int64) (timesheets.Entry, error) {
	st, err := p.get()
	if err != nil {
		return timesheets.Entry{}, err
	}
	return st.Update(ctx, e, ifRevision)
}

func (p *pendingStore) Prune(ctx context.Context, pr timesheets.Prune) (timesheets.PruneResult, error) {
	st, err := p.get()
	if err != nil {
		return timesheets.PruneResult{}, err
	}
	return st.Prune(ctx, pr)
}

func (p *pendingStore) Checkpoint(ctx context.Context, owner, source string) (timesheets.Checkpoint, error) {
	st, err := p.get()
	if err != nil {
		return timesheets.Checkpoint{}, err
	}
	return st.Checkpoint(ctx, owner, source)
}

// Claim and NonceSecret are the store's DPoP state (store.DPoP): the
// replay ledger and the nonces' secret the replicas share.
func (p *pendingStore) Claim(ctx context.Context, key string, until time.Time) (bool, error) {
	st, err := p.get()
	if err != nil {
		return false, err
	}
	d, ok := store.DPoPOf(st)
	if !ok {
		return false, errors.New("the store keeps no DPoP proofs")
	}
	return d.Claim(ctx, key, until)
}

func (p *pendingStore) NonceSecret(ctx context.Context) ([]byte, error) {
	st, err := p.get()
	if err != nil {
		return nil, err
	}
	d, ok := store.DPoPOf(st)
	if !ok {
		return nil, errors.New("the store keeps no DPoP nonce secret")
	}
	return d.NonceSecret(ctx)
}

func (p *pendingStore) SetCheckpoint(ctx context.Context, owner, source string, at time.Time) error {
	st, err := p.get()
	if err != nil {
		return err
	}
	return st.SetCheckpoint(ctx, owner, source, at)
}

func (p *pendingStore) Get(ctx context.Context, id int64) (timesheets.Entry, error) {
	st, err := p.get()
	if err != nil {
		return timesheets.Entry{}, err
	}
	return st.Get(ctx, id)
}

func (p *pendingStore) List(ctx context.Context, f timesheets.Filter) ([]timesheets.Entry, error) {
	st, err := p.get()
	if err != nil {
		return nil, err
	}
	return st.List(ctx, f)
}

func (p *pendingStore) Delete(ctx context.Context, id int64) error {
	st, err := p.get()
	if err != nil {
		return err
	}
	return st.Delete(ctx, id)
}

func (p *pendingStore) Approve(ctx context.Context, id int64, approver string, at time.Time) (timesheets.Entry, error) {
	st, err := p.get()
	if err != nil {
		return timesheets.Entry{}, err
	}
	return st.Approve(ctx, id, approver, at)
}

func (p *pendingStore) Ping(ctx context.Context) error {
	st, err := p.get()
	if err != nil {
		return err
	}
	return st.Ping(ctx)
}

func (p *pendingStore) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.st != nil {
		return p.st.Close()
	}
	return nil
}
