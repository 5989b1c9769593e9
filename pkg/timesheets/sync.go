package timesheets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// What an importer needs to keep the API in sync with its tool, under its
// own scope (batch:upload) and about its own entries only (the entries
// whose keys its client owns): a checkpoint per source, the newest
// modification time a complete run stored, to read only what changed
// since; and a prune, to delete what the tool no longer has.

// MaxPruneDays bounds the window of one prune, so that one call's work is
// bounded by the entries of at most a year.
const MaxPruneDays = 366

// checkpoint answers GET /timesheets/upload/checkpoint?source=NAME.
func (a *API) checkpoint(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var errs ValidationError
	for k := range q {
		if k != "source" {
			errs = append(errs, FieldError{Field: clip(k, MaxFieldName), Message: "unknown query parameter; use source"})
		}
	}
	source, ferr := queryValue(q, "source")
	if ferr != nil {
		errs = append(errs, *ferr)
	}
	source = text(&source, "source", maxSource, true, func(f, format string, args ...any) {
		errs = append(errs, FieldError{Field: f, Message: fmt.Sprintf(format, args...)})
	})
	if len(errs) > 0 {
		a.badRequest(w, errs)
		return
	}
	owner := a.owner(r)
	if owner == "" {
		a.badRequest(w, ValidationError{errNoClient})
		return
	}
	a.writeCheckpoint(w, r, owner, source)
}

// setCheckpoint answers PUT /timesheets/upload/checkpoint: the run that
// sends it read and stored everything since its last checkpoint; a later
// recorded one stays (a checkpoint never goes back).
func (a *API) setCheckpoint(w http.ResponseWriter, r *http.Request) {
	var req CheckpointRequest
	if !a.readRequest(w, r, MaxEntryBytes, &req) {
		return
	}
	var errs ValidationError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	source := text(&req.Source, "source", maxSource, true, bad)
	at, err := time.Parse(time.RFC3339Nano, req.SourceUpdatedAt)
	switch {
	case err != nil:
		bad("source_updated_at", "%s is not an RFC 3339 timestamp such as 2017-05-10T17:40:20Z", quote(req.SourceUpdatedAt))
	case !inRange(at) || at.After(a.now().Add(maxSourceSkew)):
		bad("source_updated_at", "out of range: the newest modification time the run stored, not in the future")
	}
	if len(errs) > 0 {
		a.badRequest(w, errs)
		return
	}
	owner := a.owner(r)
	if owner == "" {
		a.badRequest(w, ValidationError{errNoClient})
		return
	}
	if err := a.Store.SetCheckpoint(r.Context(), owner, source, at.UTC()); err != nil {
		a.storeError(w, err)
		return
	}
	a.writeCheckpoint(w, r, owner, source)
}

// writeCheckpoint answers with owner's checkpoint of source.
func (a *API) writeCheckpoint(w http.ResponseWriter, r *http.Request, owner, source string) {
	c, err := a.Store.Checkpoint(r.Context(), owner, source)
	if err != nil {
		a.storeError(w, err)
		return
	}
	out := CheckpointResponse{Source: source, Entries: c.Entries}
	if c.SourceUpdatedAt != nil {
		v := c.SourceUpdatedAt.UTC().Format(time.RFC3339Nano)
		out.SourceUpdatedAt = &v
	}
	writeJSON(w, http.StatusOK, out)
}

// owner is the owner of the keys the caller creates ("" for none), as
// stamp records it.
func (a *API) owner(r *http.Request) string {
	var e Entry
	a.stamp(r, &e)
	return e.Owner
}

// maxPruneBody bounds a prune's body: MaxBatchEntries external ids of
// the longest kind, quoted, with commas.
const maxPruneBody = MaxBatchEntries*(maxExternalID*4+3) + 4<<10

// prune answers POST /timesheets/upload/prune: within [from, to], the
// external ids are all the keys the caller's source has; its other
// entries of that source there are deleted, but for approved ones,
// reported as conflicts. At most MaxBatchEntries ids per call and as many
// deletions: "complete": false says that the same call deletes more.
func (a *API) prune(w http.ResponseWriter, r *http.Request) {
	var dryRun bool
	q := r.URL.Query()
	for k := range q {
		if k != "dry_run" {
			a.badRequest(w, ValidationError{{Field: clip(k, MaxFieldName), Message: "unknown query parameter; use dry_run"}})
			return
		}
	}
	if ferr := boolParam(q, "dry_run", &dryRun); ferr != nil {
		a.badRequest(w, ValidationError{*ferr})
		return
	}
	var req PruneRequest
	if !a.readRequest(w, r, maxPruneBody, &req) {
		return
	}
	p, err := a.pruneOf(req)
	if err != nil {
		if errors.Is(err, errTooManyKeys) {
			writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Error: "too_large", Message: err.Error()})
			return
		}
		a.badRequest(w, err)
		return
	}
	if p.Owner = a.owner(r); p.Owner == "" {
		a.badRequest(w, ValidationError{errNoClient})
		return
	}
	p.DryRun = dryRun
	res, err := a.Store.Prune(r.Context(), p)
	if err != nil {
		a.storeError(w, err)
		return
	}
	out := PruneResponse{Complete: res.Complete, DryRun: dryRun, Results: make([]PruneItemResult, 0, len(res.Entries))}
	for _, e := range res.Entries {
		item := PruneItemResult{ID: e.ID, ExternalID: e.ExternalID, Status: BatchDeleted}
		if e.Reason != "" {
			item.Status, item.Reason = BatchConflict, e.Reason
			item.Message = "this entry is approved; approved entries cannot be deleted: it was kept"
			out.Conflicts++
		} else {
			out.Deleted++
		}
		out.Results = append(out.Results, item)
	}
	writeJSON(w, http.StatusOK, out)
}

var errTooManyKeys = fmt.Errorf("a prune names at most %d external_ids; split the window into shorter ones (by days) and prune each", MaxBatchEntries)

// pruneOf checks a prune request.
func (a *API) pruneOf(req PruneRequest) (Prune, error) {
	var errs ValidationError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	p := Prune{Source: text(&req.Source, "source", maxSource, true, bad), Limit: MaxBatchEntries}
	for _, b := range []struct {
		name, v string
		dst     *time.Time
	}{{"from", req.From, &p.From}, {"to", req.To, &p.To}} {
		t, err := time.Parse(time.DateOnly, b.v)
		switch {
		case b.v == "":
			bad(b.name, "missing; give a day such as 2026-01-05")
		case err != nil:
			bad(b.name, "%s is not a day such as 2026-01-05", quote(b.v))
		case !inRange(t):
			bad(b.name, "out of range; %s", rangeHint)
		}
		*b.dst = t
	}
	if len(errs) == 0 {
		switch days := p.To.Sub(p.From) / (24 * time.Hour); {
		case days < 0:
			bad("to", "must not be before from")
		case days >= MaxPruneDays:
			bad("to", "a prune covers at most %d days; prune a longer window in several calls", MaxPruneDays)
		}
	}
	if req.ExternalIDs == nil {
		bad("external_ids", "missing; give every external_id the source has in the window ([] if none)")
	}
	if len(req.ExternalIDs) > MaxBatchEntries {
		return Prune{}, errTooManyKeys
	}
	for i, id := range req.ExternalIDs {
		if text(&id, "external_ids", maxExternalID, true, func(_, format string, args ...any) {
			bad(fmt.Sprintf("external_ids[%d]", i), format, args...)
		}) == "" && len(errs) > 8 {
			break // enough said
		}
	}
	if len(errs) > 0 {
		return Prune{}, errs
	}
	p.Keep = req.ExternalIDs
	return p, nil
}

// readRequest reads a JSON body of at most limit bytes into v strictly
// (unknown fields refused), answering the request's refusal if it fails.
func (a *API) readRequest(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	body, ok := a.readJSON(w, r, limit)
	if !ok {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		a.badRequest(w, ValidationError{jsonFieldError(err)})
		return false
	}
	return true
}

// badRequest refuses a request (not an entry) that says what to fix.
func (a *API) badRequest(w http.ResponseWriter, err error) {
	var ve ValidationError
	errors.As(err, &ve)
	writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid_request", Message: err.Error(), Fields: ve})
}
