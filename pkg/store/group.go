package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// Group commit bounds. A group takes the write calls queued in FIFO order
// until either bound would be passed; its first member is always taken, so
// a Create larger than MaxGroupEntries forms a group of its own. At the
// engines' batch rates (about 80k entries/s) MaxGroupEntries takes some
// 25 ms, far below the default 5 s statement timeout.
const (
	MaxGroupMembers = 64
	MaxGroupEntries = 2048
)

// groupTx is the transaction of one group, as an engine opens it.
type groupTx interface {
	// exec runs a statement without result (the SAVEPOINT statements).
	exec(ctx context.Context, sql string) error
	commit(ctx context.Context) error
	rollback()
}

// Member states.
const (
	queued int32 = iota
	claimed
	cancelled
)

// member is one write call in a group.
type member struct {
	ctx     context.Context // the caller's, bounded by OperationTimeout
	op      string          // create, approve or delete: names errors
	entries int             // entries it writes (1 for approve and delete)
	create  bool            // it draws ids (PostgreSQL takes the id-order lock)
	// fn runs the call's statements in the group's transaction and records
	// its results in the caller's variables. An error means the member is
	// rolled back (its savepoint); the error is the caller's.
	fn func(ctx context.Context, tx groupTx) error
	// entry and res are set for a Create of one entry: the group may insert
	// it with the other such members in one statement (see mergeCreates),
	// writing its result to res[0] instead of running fn.
	entry *timesheets.Entry
	res   []timesheets.CreateResult
	// uentry and ures are set for an Upsert of one entry (not all or
	// nothing), which the group may upsert with the other such members in
	// one call (see mergeUpserts).
	uentry *timesheets.Entry
	ures   []timesheets.UpsertResult

	state atomic.Int32
	err   error
	// wake receives one message: nil when the member's group has committed
	// (or failed) and err is final, or the next group to run when this
	// member is the new leader (it is that group's first member).
	wake chan []*member
}

// combiner commits concurrent write calls in groups, in the
// leader/follower form: a call that finds no transaction running becomes
// the leader and runs its own transaction at once, in its own goroutine (a
// lone request waits for no timer and no goroutine hop). Calls arriving
// meanwhile queue. When the leader's transaction has ended it claims the
// queue (up to the bounds), gives every member of its own group its result,
// and hands the claimed group to that group's first member, which becomes
// the next leader. So each transaction holds what queued while the
// previous one ran, and no caller runs more than one transaction.
//
// Every member of a group of several runs under a SAVEPOINT; a member that
// fails is rolled back to it and the others go on. A group of one needs no
// savepoint: if its member fails, the transaction is rolled back. If BEGIN,
// a SAVEPOINT statement or COMMIT fails, every member of the group gets
// that error (none is retried alone: the failure is the database's, not a
// member's, and a retry would only repeat it; the callers may retry).
// Nothing is acknowledged before COMMIT returned.
type combiner struct {
	// begin opens a group's transaction; g are the members that will run.
	begin func(ctx context.Context, g []*member) (groupTx, error)
	// mapErr maps an error of BEGIN, SAVEPOINT, COMMIT or a member's
	// context as the engine maps its errors.
	mapErr    func(op string, err error) error
	opTimeout time.Duration
	// createMany is the engine's Create in a transaction (what the members'
	// fn of a Create runs): mergeCreates calls it once for the group's
	// one-entry Creates. Nil: every member runs its own fn.
	createMany func(ctx context.Context, tx groupTx, entries []timesheets.Entry, res []timesheets.CreateResult) error
	// upsertMany is the engine's Upsert in a transaction, for
	// mergeUpserts. Nil: every member runs its own fn.
	upsertMany func(ctx context.Context, tx groupTx, entries []timesheets.Entry, res []timesheets.UpsertResult) error

	mu    sync.Mutex
	busy  bool // a leader is running a group
	queue []*member

	stats groupCounters

	// Test hook, set only by this package's tests: runs just before a
	// group's COMMIT.
	beforeCommit func(ctx context.Context, members int)
}

// do runs fn as a member of the next group and returns its error once the
// group's transaction has ended. ctx must already carry the operation
// timeout. A member whose ctx ends while it is queued is dropped with
// ctx.Err() (mapped); once its group runs, it commits with the group.
func (c *combiner) do(ctx context.Context, op string, entries int, create bool, fn func(context.Context, groupTx) error) error {
	return c.run1(&member{ctx: ctx, op: op, entries: entries, create: create, fn: fn})
}

// run1 queues m, or leads a group of it when no transaction runs, and
// returns its error once its group's transaction has ended.
func (c *combiner) run1(m *member) error {
	ctx, op := m.ctx, m.op
	c.mu.Lock()
	if !c.busy {
		c.busy = true
		c.mu.Unlock()
		m.state.Store(claimed)
		c.lead([]*member{m})
		return m.err
	}
	m.wake = make(chan []*member, 1)
	c.queue = append(c.queue, m)
	c.mu.Unlock()
	var g []*member
	select {
	case g = <-m.wake:
	case <-ctx.Done():
		if m.state.CompareAndSwap(queued, cancelled) {
			c.stats.dropped.Add(1)
			return c.mapErr(op, ctx.Err())
		}
		g = <-m.wake // claimed meanwhile: its group decides
	}
	if g != nil {
		c.lead(g)
	}
	return m.err
}

// create runs a Create of entries as a member of the next group; fn is the
// engine's Create in a transaction, writing to res.
func (c *combiner) create(ctx context.Context, entries []timesheets.Entry, res []timesheets.CreateResult, fn func(context.Context, groupTx) error) error {
	m := &member{ctx: ctx, op: "create", entries: len(entries), create: true, fn: fn}
	if len(entries) == 1 {
		m.entry, m.res = &entries[0], res
	}
	return c.run1(m)
}

// lead runs the group g (g[0] is the calling member), then hands the
// members their results and the queue to the next leader.
func (c *combiner) lead(g []*member) {
	c.run(g)
	c.mu.Lock()
	next := c.claim()
	if len(next) == 0 {
		c.busy = false
	}
	c.mu.Unlock()
	for _, m := range g[1:] {
		m.wake <- nil
	}
	if len(next) > 0 {
		next[0].wake <- next
	}
}

// claim takes the next group from the queue; c.mu is held.
func (c *combiner) claim() []*member {
	var (
		g       []*member
		entries int
		k       int
	)
	for ; k < len(c.queue) && len(g) < MaxGroupMembers; k++ {
		m := c.queue[k]
		if len(g) > 0 && entries+m.entries > MaxGroupEntries {
			break
		}
		if !m.state.CompareAndSwap(queued, claimed) {
			continue // cancelled
		}
		g = append(g, m)
		entries += m.entries
	}
	clear(c.queue[:k])
	c.queue = c.queue[k:]
	if len(c.queue) == 0 {
		c.queue = nil // let the backing array go
	}
	return g
}

// run executes the group g in one transaction and sets each member's err.
func (c *combiner) run(g []*member) {
	live := make([]*member, 0, len(g))
	for _, m := range g {
		if err := m.ctx.Err(); err != nil {
			m.err = c.mapErr(m.op, err)
			c.stats.dropped.Add(1)
			continue
		}
		live = append(live, m)
	}
	if len(live) == 0 {
		return
	}
	// The group's own deadline: no member's cancellation may cut the
	// others' transaction short (on SQLite an interrupted statement rolls
	// back the whole transaction).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(live[0].ctx), c.opTimeout)
	defer cancel()
	c.stats.record(len(live))
	fail := func(err error) {
		for _, m := range live {
			m.err = c.mapErr(m.op, err)
		}
	}
	tx, err := c.begin(ctx, live)
	if err != nil {
		fail(err)
		return
	}
	if len(live) == 1 {
		m := live[0]
		if m.err = m.fn(ctx, tx); m.err != nil {
			tx.rollback()
			return
		}
	} else {
		rest, err := c.mergeCreates(ctx, tx, live)
		if err == nil {
			rest, err = c.mergeUpserts(ctx, tx, rest)
		}
		if err != nil {
			tx.rollback()
			fail(err)
			return
		}
		for _, m := range rest {
			if err := tx.exec(ctx, "SAVEPOINT member"); err != nil {
				tx.rollback()
				fail(err)
				return
			}
			if m.err = m.fn(ctx, tx); m.err != nil {
				c.stats.rolledBack.Add(1)
				if err := tx.exec(ctx, "ROLLBACK TO SAVEPOINT member"); err != nil {
					tx.rollback()
					fail(err)
					return
				}
			}
			if err := tx.exec(ctx, "RELEASE SAVEPOINT member"); err != nil {
				tx.rollback()
				fail(err)
				return
			}
		}
	}
	if c.beforeCommit != nil {
		c.beforeCommit(ctx, len(live))
	}
	if err := tx.commit(ctx); err != nil {
		fail(err)
	}
}

// mergeCreates inserts the one-entry Creates of a group of several in one
// call of createMany, under one savepoint, and gives each its result: a
// statement per entry costs more than the entry (a batch of 500 stores at
// several times the rate of single entries). Entries of the same key are
// resolved as if their Creates ran one after the other in arrival order:
// the first is created (or conflicts), a later one of the same owner is its
// duplicate, another owner's conflicts. If createMany fails otherwise, the
// savepoint is rolled back and those members run one by one like the rest,
// so a bad entry fails only its own call. It returns the members still to
// run; an error is the transaction's (a savepoint statement failed).
func (c *combiner) mergeCreates(ctx context.Context, tx groupTx, g []*member) (rest []*member, err error) {
	if c.createMany == nil {
		return g, nil
	}
	return c.merge(ctx, tx, g, func(m *member) *timesheets.Entry { return m.entry },
		func(entries []timesheets.Entry, merged []*member) error {
			res := make([]timesheets.CreateResult, len(entries))
			if err := c.createMany(ctx, tx, entries, res); err != nil && !errors.Is(err, timesheets.ErrConflict) {
				return err
			}
			// createMany's ErrConflict would roll back one call's entries;
			// here each entry is its own call, and a conflicting one
			// inserted nothing.
			for i, m := range merged {
				m.res[0] = res[i]
				if res[i].Conflict {
					m.err = timesheets.ErrConflict
				}
			}
			return nil
		})
}

// mergeUpserts is mergeCreates for the one-entry Upserts of a group: one
// call of upsertMany for all of them, in arrival order (a later entry of
// the same key applies to the earlier one's result, as if their calls ran
// one after the other), each member getting its entry's result. If
// upsertMany fails, they run one by one, so a bad entry fails only its own
// call.
func (c *combiner) mergeUpserts(ctx context.Context, tx groupTx, g []*member) (rest []*member, err error) {
	if c.upsertMany == nil {
		return g, nil
	}
	return c.merge(ctx, tx, g, func(m *member) *timesheets.Entry { return m.uentry },
		func(entries []timesheets.Entry, merged []*member) error {
			res := make([]timesheets.UpsertResult, len(entries))
			if err := c.upsertMany(ctx, tx, entries, res); err != nil {
				return err
			}
			for i, m := range merged {
				m.ures[0] = res[i]
			}
			return nil
		})
}

// merge runs the members of g whose entry is not nil, if there are two or
// more, as one call of many under one savepoint: many gets their entries
// in arrival order and gives each member its result. If many fails, the
// savepoint is rolled back and those members stay in rest, to run one by
// one. An error is the transaction's (a savepoint statement failed).
func (c *combiner) merge(ctx context.Context, tx groupTx, g []*member, entry func(*member) *timesheets.Entry,
	many func(entries []timesheets.Entry, merged []*member) error) (rest []*member, err error) {
	var (
		merged  []*member
		entries []timesheets.Entry
	)
	for _, m := range g {
		if e := entry(m); e != nil {
			merged, entries = append(merged, m), append(entries, *e)
		} else {
			rest = append(rest, m)
		}
	}
	if len(merged) < 2 {
		return g, nil
	}
	if err := tx.exec(ctx, "SAVEPOINT merged"); err != nil {
		return nil, err
	}
	if err := many(entries, merged); err != nil {
		c.stats.unmerged.Add(1)
		if err := tx.exec(ctx, "ROLLBACK TO SAVEPOINT merged"); err != nil {
			return nil, err
		}
		if err := tx.exec(ctx, "RELEASE SAVEPOINT merged"); err != nil {
			return nil, err
		}
		return g, nil // each on its own: the bad entry fails alone
	}
	if err := tx.exec(ctx, "RELEASE SAVEPOINT merged"); err != nil {
		return nil, err
	}
	c.stats.merged.Add(uint64(len(merged)))
	return rest, nil
}

// queued counts the members waiting for a group (for tests).
func (c *combiner) queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, m := range c.queue {
		if m.state.Load() == queued {
			n++
		}
	}
	return n
}

// groupSizeBuckets is the number of buckets of GroupStats.Sizes: 1, 2,
// 3-4, 5-8, 9-16, 17-32, 33-64 members.
const groupSizeBuckets = 7

// GroupStats counts a store's group commits since Open.
type GroupStats struct {
	// Groups is the number of write transactions begun; Members the write
	// calls they ran. Members/Groups is the mean group size.
	Groups, Members uint64
	// Dropped counts the calls whose context ended before their group ran.
	Dropped uint64
	// RolledBack counts the members of groups of several that failed and
	// were rolled back to their savepoint.
	RolledBack uint64
	// Merged counts one-entry Creates inserted together with the others of
	// their group; Unmerged the merged inserts that failed, after which
	// their members ran one by one.
	Merged, Unmerged uint64
	// Sizes is a histogram of group sizes: Sizes[0] counts groups of 1
	// member, Sizes[i] those of 2^(i-1)+1 to 2^i members.
	Sizes [groupSizeBuckets]uint64
}

type groupCounters struct {
	groups, members, dropped, rolledBack atomic.Uint64
	// merged counts one-entry Creates inserted by mergeCreates; unmerged the
	// merged inserts that failed and ran their members one by one.
	merged, unmerged atomic.Uint64
	sizes            [groupSizeBuckets]atomic.Uint64
}

func (s *groupCounters) record(n int) {
	s.groups.Add(1)
	s.members.Add(uint64(n))
	b := 0
	for size := 1; size < n && b < groupSizeBuckets-1; size *= 2 {
		b++
	}
	s.sizes[b].Add(1)
}

func (s *groupCounters) snapshot() GroupStats {
	out := GroupStats{Groups: s.groups.Load(), Members: s.members.Load(), Dropped: s.dropped.Load(), RolledBack: s.rolledBack.Load(),
		Merged: s.merged.Load(), Unmerged: s.unmerged.Load()}
	for i := range s.sizes {
		out.Sizes[i] = s.sizes[i].Load()
	}
	return out
}

// Stats returns the group commit counters of a store returned by Open, and
// false for any other store.
func Stats(st timesheets.Store) (GroupStats, bool) {
	if t, ok := st.(traced); ok {
		st = t.Store
	}
	g, ok := st.(interface{ group() *combiner })
	if !ok {
		return GroupStats{}, false
	}
	return g.group().stats.snapshot(), true
}
