package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// entryTx is what the engine-independent writes (upsert, update, prune)
// need of an engine inside a group's transaction.
type entryTx interface {
	// create is the engine's Create in the transaction; ErrConflict leaves
	// what it inserted in place (res tells the conflicts).
	create(ctx context.Context, entries []timesheets.Entry, res []timesheets.CreateResult) error
	// lock reads the entries ids and locks them against other writers
	// until the transaction ends.
	lock(ctx context.Context, ids []int64) (map[int64]timesheets.Entry, error)
	// rewrite stores e's content, revision and times over the entry e.ID.
	rewrite(ctx context.Context, e timesheets.Entry) error
	// candidates returns up to n of p's entries that Prune would delete
	// (locked: false) or keep as approved (locked: true), in id order.
	candidates(ctx context.Context, p timesheets.Prune, locked bool, n int) ([]timesheets.PrunedEntry, error)
	// deleteIDs deletes the pending entries ids.
	deleteIDs(ctx context.Context, ids []int64) error
}

// rewriteEntry stores an entry's content, revision and times over the
// entry $1 (entryTx.rewrite), in both engines' placeholders.
const rewriteEntry = `UPDATE entries SET user_type = $2, user_id = $3, date_ns = $4, year = $5, week = $6,
	period_start = $7, project = $8, hours = $9, date_day = $10, revision = $11, updated_at_ns = $12, source_updated_at_ns = $13
	WHERE id = $1`

// byID indexes entries by id.
func byID(entries []timesheets.Entry) map[int64]timesheets.Entry {
	out := make(map[int64]timesheets.Entry, len(entries))
	for _, e := range entries {
		out[e.ID] = e
	}
	return out
}

// upsert runs Upsert in tx: the engine's create inserts the new keys, and
// the entries whose key the caller already holds are then compared with
// the stored ones, under lock, in the order of the call.
func upsert(ctx context.Context, tx entryTx, entries []timesheets.Entry, allOrNothing bool, now time.Time) ([]timesheets.UpsertResult, error) {
	created := make([]timesheets.CreateResult, len(entries))
	if err := tx.create(ctx, entries, created); err != nil && !errors.Is(err, timesheets.ErrConflict) {
		return nil, err
	}
	res := make([]timesheets.UpsertResult, len(entries))
	var held []int64
	for i, c := range created {
		switch {
		case c.Conflict:
			res[i] = timesheets.UpsertResult{Outcome: timesheets.UpsertConflict, Reason: timesheets.ConflictNotOwner}
		case c.Duplicate:
			held = append(held, c.ID)
		default:
			res[i] = timesheets.UpsertResult{Outcome: timesheets.UpsertCreated, ID: c.ID, Revision: 1}
		}
	}
	if len(held) == 0 {
		return res, conflicts(res, allOrNothing)
	}
	slices.Sort(held)
	stored, err := tx.lock(ctx, slices.Compact(held))
	if err != nil {
		return nil, err
	}
	changed := map[int64]bool{}
	for i, c := range created {
		if !c.Duplicate {
			continue
		}
		cur, ok := stored[c.ID]
		if !ok {
			return nil, fmt.Errorf("store: upsert: entry %d holds a key but cannot be read", c.ID)
		}
		out, next := applyUpsert(cur, entries[i], now)
		res[i] = out
		if out.Outcome == timesheets.UpsertUpdated {
			stored[c.ID], changed[c.ID] = next, true // a later repeat applies to next
		}
	}
	if err := conflicts(res, allOrNothing); err != nil {
		return res, err // written nothing more; the caller rolls back the inserts
	}
	for _, id := range slices.Sorted(maps.Keys(changed)) {
		if err := tx.rewrite(ctx, stored[id]); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// conflicts is ErrConflict when an all-or-nothing upsert has a conflict.
func conflicts(res []timesheets.UpsertResult, allOrNothing bool) error {
	if allOrNothing && slices.ContainsFunc(res, func(r timesheets.UpsertResult) bool { return r.Outcome == timesheets.UpsertConflict }) {
		return timesheets.ErrConflict
	}
	return nil
}

// applyUpsert decides what an entry in does to the stored cur of the same
// key and owner, and returns cur as it is to be stored.
func applyUpsert(cur, in timesheets.Entry, now time.Time) (timesheets.UpsertResult, timesheets.Entry) {
	res := timesheets.UpsertResult{ID: cur.ID, Revision: cur.Revision}
	switch {
	case in.SameContent(cur):
		res.Outcome = timesheets.UpsertDuplicate
	case cur.SourceUpdatedAt != nil && in.SourceUpdatedAt != nil && cur.SourceUpdatedAt.After(*in.SourceUpdatedAt):
		res.Outcome = timesheets.UpsertStale
	case cur.Locked():
		res.Outcome, res.Reason = timesheets.UpsertConflict, timesheets.ConflictLocked
	default:
		cur = withContent(cur, in, now)
		if in.SourceUpdatedAt != nil {
			cur.SourceUpdatedAt = in.SourceUpdatedAt
		}
		res.Outcome, res.Revision = timesheets.UpsertUpdated, cur.Revision
	}
	return res, cur
}

// withContent is cur with the content of in, one revision on, changed at
// in's CreatedAt (the time the API stamped the request with), else now.
func withContent(cur, in timesheets.Entry, now time.Time) timesheets.Entry {
	cur.UserType, cur.UserID, cur.Project, cur.Hours = in.UserType, in.UserID, in.Project, in.Hours
	cur.Date, cur.Day, cur.Year, cur.Week = in.Date, in.Day, in.Year, in.Week
	cur.Revision++
	cur.UpdatedAt = now
	if !in.CreatedAt.IsZero() {
		cur.UpdatedAt = in.CreatedAt
	}
	return cur
}

// update runs Update in tx.
func update(ctx context.Context, tx entryTx, e timesheets.Entry, ifRevision int64, now time.Time) (timesheets.Entry, error) {
	stored, err := tx.lock(ctx, []int64{e.ID})
	if err != nil {
		return timesheets.Entry{}, err
	}
	cur, ok := stored[e.ID]
	switch {
	case !ok:
		return timesheets.Entry{}, timesheets.ErrNotFound
	case cur.Locked():
		return cur, timesheets.ErrLocked
	case cur.Revision != ifRevision:
		return cur, timesheets.ErrRevisionMismatch
	case e.SameContent(cur):
		return cur, nil // nothing changes: the revision stays
	}
	if !e.UpdatedAt.IsZero() {
		now = e.UpdatedAt // the time of the change, as the caller tells it
	}
	e.CreatedAt = time.Time{}
	next := withContent(cur, e, now)
	return next, tx.rewrite(ctx, next)
}

// prune runs Prune in tx.
func prune(ctx context.Context, tx entryTx, p timesheets.Prune) (timesheets.PruneResult, error) {
	if p.Owner == "" {
		return timesheets.PruneResult{Complete: true}, nil // nobody's keys are anybody's to prune
	}
	limit := min(max(p.Limit, 1), timesheets.MaxBatchEntries)
	// One more than the limit tells whether more are to be deleted.
	del, err := tx.candidates(ctx, p, false, limit+1)
	if err != nil {
		return timesheets.PruneResult{}, err
	}
	more := len(del) > limit
	del = del[:min(len(del), limit)]
	// The approved entries are reported by the call that completes the
	// prune, so that a prune of several calls reports each once.
	var kept []timesheets.PrunedEntry
	if !more {
		if kept, err = tx.candidates(ctx, p, true, limit); err != nil {
			return timesheets.PruneResult{}, err
		}
	}
	if !p.DryRun && len(del) > 0 {
		ids := make([]int64, len(del))
		for i, d := range del {
			ids[i] = d.ID
		}
		if err := tx.deleteIDs(ctx, ids); err != nil {
			return timesheets.PruneResult{}, err
		}
	}
	for i := range kept {
		kept[i].Reason = timesheets.ConflictLocked
	}
	return timesheets.PruneResult{Entries: append(del, kept...), Complete: !more}, nil
}
