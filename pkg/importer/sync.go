package importer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// Keeping the API in sync with the tool, beyond uploading what it has:
//
//   - Incremental reads. A connector is asked only for what the tool
//     changed since this client's checkpoint of the source, less an
//     overlap: tools keep whole seconds, and an entry being saved as the
//     last run read may carry a time just before it. A run records the
//     checkpoint, the newest modification time it read, only when it read
//     everything since the last one (no --to, no --prune window) and
//     uploaded all of it: a run whose earlier batch failed while later
//     ones were stored must not move it past the failed entries. --full
//     reads everything; a first run, with no checkpoint, does too (or from
//     --from).
//   - Deletions. With --prune, the run reads the whole window and then
//     tells the API, in as few calls as its limits allow, "within these
//     days, these are all the keys the source has": the API deletes this
//     client's other entries there, but for approved ones (conflicts).
//     Without --prune nothing is ever deleted, and a run that could not
//     read or upload every record of the window deletes nothing either.

// DefaultOverlap is how far before the checkpoint an incremental run reads.
const DefaultOverlap = 10 * time.Minute

// readPlan is what a run asks of the source.
type readPlan struct {
	since    time.Time // zero: everything
	from, to time.Time // days, zero: unbounded
}

// plan decides what to read: the window of --from/--to or --window, and,
// for a connector that can read incrementally, since its checkpoint.
func (r *run) plan(ctx context.Context, src Source, name string, up *Uploader) readPlan {
	cfg := r.cfg
	p := readPlan{from: cfg.From, to: cfg.To}
	inc, ok := src.(IncrementalSource)
	switch {
	case !ok || !inc.Incremental():
		return p
	case cfg.Full:
		r.log.Info("reading the whole source (--full)")
		return p
	case cfg.Prune:
		r.log.Info("reading the whole window to prune it", "from", p.from.Format(time.DateOnly), "to", p.to.Format(time.DateOnly))
		return p
	case up == nil:
		return p // a dry run asks the API nothing
	}
	cp, err := up.Checkpoint(ctx, name)
	switch {
	case err != nil:
		// An older API or policy without the route: read all, as before.
		r.log.Warn("could not read the checkpoint; reading the whole source", "error", err.Error(),
			"hint", "the ScopePolicy needs GET /timesheets/upload/checkpoint with scope batch:upload")
	case cp.SourceUpdatedAt == nil:
		r.log.Info("no run has recorded a checkpoint of this source yet; reading the whole source", "stored", cp.Entries)
	default:
		at, perr := time.Parse(time.RFC3339Nano, *cp.SourceUpdatedAt)
		if perr != nil {
			r.log.Warn("the checkpoint is not a time; reading the whole source", "checkpoint", *cp.SourceUpdatedAt)
			break
		}
		p.since = at.Add(-cfg.Overlap)
		r.log.Info("reading what changed since the checkpoint", "checkpoint", *cp.SourceUpdatedAt, "since", p.since.Format(time.RFC3339), "stored", cp.Entries)
	}
	return p
}

// recordCheckpoint records the newest modification time the run read as
// the source's checkpoint, if the run read everything since the last one
// and every entry reached the API (created, duplicate, updated, stale or a
// conflict: all settled). A rejected entry does not hold it back: it is
// read again once it is mended in the tool, which changes its time.
func (r *run) recordCheckpoint(ctx context.Context, s Summary) {
	if !r.checkpointed || r.newest == 0 || s.Err != nil || s.Failed > 0 {
		return
	}
	at := time.Unix(0, r.newest).UTC()
	if err := r.up.SetCheckpoint(ctx, r.name, at); err != nil {
		r.log.Warn("could not record the checkpoint; the next run reads from the last one", "error", err.Error())
		return
	}
	r.log.Info("checkpoint recorded", "source_updated_at", at.Format(time.RFC3339Nano))
}

// keys collects, day by day, the external ids a pruning run read in its
// window: what the API must keep.
type keys map[time.Time][]string

// prune reconciles the window: one call for each run of days whose keys
// fit in a call, repeated until the API says it is complete.
func (r *run) prune(ctx context.Context, up *Uploader, name string, k keys) error {
	from, to := r.cfg.From, r.cfg.To // days: withDefaults truncated them
	calls, err := pruneCalls(name, from, to, k)
	if err != nil {
		return err
	}
	for _, req := range calls {
		for round := 0; ; round++ {
			if round == maxPruneRounds {
				return fmt.Errorf("prune %s to %s: still not complete after %d calls", req.From, req.To, round)
			}
			res, err := up.Prune(ctx, req, false)
			if err != nil {
				return fmt.Errorf("prune %s to %s: %w", req.From, req.To, err)
			}
			for _, it := range res.Results {
				if it.Status == timesheets.BatchConflict {
					r.conflict("api entry "+fmt.Sprint(it.ID), it.ExternalID, it.Reason, it.Message)
					continue
				}
				r.c.deleted.Add(1)
				r.log.Info("entry deleted: the source no longer has it", "id", it.ID, "external_id", it.ExternalID)
			}
			if res.Complete {
				break
			}
		}
	}
	return nil
}

// maxPruneRounds bounds the calls one window's prune repeats (each deletes
// up to MaxBatchEntries entries).
const maxPruneRounds = 1000

// pruneCalls splits [from, to] into consecutive windows, each with at most
// MaxBatchEntries keys and MaxPruneDays days, covering every day.
func pruneCalls(source string, from, to time.Time, k keys) ([]timesheets.PruneRequest, error) {
	var calls []timesheets.PruneRequest
	cur := timesheets.PruneRequest{Source: source, From: from.Format(time.DateOnly), ExternalIDs: []string{}}
	start := from
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		ids := k[d]
		if len(ids) > timesheets.MaxBatchEntries {
			return nil, fmt.Errorf("%s has %d entries, more than one prune call may name (%d); nothing was pruned", d.Format(time.DateOnly), len(ids), timesheets.MaxBatchEntries)
		}
		if len(cur.ExternalIDs)+len(ids) > timesheets.MaxBatchEntries || d.Sub(start) >= timesheets.MaxPruneDays*24*time.Hour {
			cur.To = d.AddDate(0, 0, -1).Format(time.DateOnly)
			calls = append(calls, cur)
			cur = timesheets.PruneRequest{Source: source, From: d.Format(time.DateOnly), ExternalIDs: []string{}}
			start = d
		}
		cur.ExternalIDs = append(cur.ExternalIDs, ids...)
	}
	cur.To = to.Format(time.DateOnly)
	return append(calls, cur), nil
}

// mayPrune tells why a run must not prune, if it must not: deleting what
// it did not see would delete entries the tool still has.
func mayPrune(s Summary, err error) error {
	switch {
	case err != nil:
		return errors.New("the run stopped early")
	case s.Rejected > 0:
		return fmt.Errorf("%d records were rejected (their keys are unknown)", s.Rejected)
	case s.Valid != s.Created+s.Duplicates+s.Updated+s.Conflicts:
		return errors.New("some entries were not uploaded")
	}
	return nil
}

// conflict counts an entry the API could not change and says why, with
// where it came from, so that a person can act.
func (r *run) conflict(at, externalID, reason, message string) {
	r.c.conflicts.Add(1)
	if r.listed.Add(1) > int64(r.cfg.ReportLimit) {
		r.unlisted.Add(1)
		return
	}
	r.log.Warn("entry in conflict: not changed", "at", at, "external_id", externalID, "reason", reason, "message", message)
}

// outside tells whether a day is outside [from, to] (zero: unbounded).
func outside(d, from, to time.Time) bool {
	return !from.IsZero() && d.Before(from) || !to.IsZero() && d.After(to)
}
