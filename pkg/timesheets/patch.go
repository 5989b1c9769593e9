package timesheets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// patchable are the fields PATCH /timesheets/{id} may change: an entry's
// content. Its key (source, external_id) and its status are not content.
var patchable = map[string]bool{"user_type": true, "user_id": true, "date": true, "year": true, "week": true, "project": true, "hours": true}

// etag is the entry's ETag: its revision, a strong validator (RFC 9110
// section 8.8.3) since every change bumps it.
func etag(e Entry) string { return `"` + strconv.FormatInt(e.Revision, 10) + `"` }

// patch answers PATCH /timesheets/{id}: a JSON merge patch (RFC 7396) of
// the entry's content, applied only if If-Match names its current
// revision, so that two clients cannot overwrite each other's change.
func (a *API) patch(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	rev, ok := ifMatch(w, r)
	if !ok {
		return
	}
	body, ok := a.readJSON(w, r, MaxEntryBytes)
	if !ok {
		return
	}
	cur, err := a.getVisible(r.Context(), id)
	if err != nil {
		a.storeError(w, err)
		return
	}
	next, err := applyPatch(cur, body)
	if err != nil {
		a.invalid(w, err)
		return
	}
	if !a.mayTouch(r.Context(), next.UserID) {
		writeJSON(w, http.StatusForbidden, errorBody{Error: "not_own_entry", Message: errNotOwn.Message, Fields: []FieldError{errNotOwn}})
		return
	}
	next.UpdatedAt = a.now()
	out, err := a.Store.Update(r.Context(), next, rev)
	switch {
	case errors.Is(err, ErrLocked):
		a.locked(w, r, out)
	case errors.Is(err, ErrRevisionMismatch):
		w.Header().Set("ETag", etag(out))
		writeJSON(w, http.StatusPreconditionFailed, errorBody{Error: "precondition_failed",
			Message: fmt.Sprintf("timesheet %d is at revision %d, not %d: it changed meanwhile; GET it again and reapply your change", id, out.Revision, rev)})
	case err != nil:
		a.storeError(w, err)
	default:
		w.Header().Set("ETag", etag(out))
		writeJSON(w, http.StatusOK, out)
	}
}

// ifMatch reads the revision of a required If-Match: 428 without one (a
// change without it could undo another's, RFC 6585 section 3), 412 for
// one that cannot match.
func ifMatch(w http.ResponseWriter, r *http.Request) (int64, bool) {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	if v == "" || v == "*" {
		writeJSON(w, http.StatusPreconditionRequired, errorBody{Error: "precondition_required",
			Message: `send If-Match with the entry's ETag (its revision, e.g. If-Match: "3", as GET /timesheets/{id} answers it)`})
		return 0, false
	}
	rev, err := strconv.ParseInt(strings.Trim(v, `"`), 10, 64)
	if err != nil || !strings.HasPrefix(v, `"`) || !strings.HasSuffix(v, `"`) || len(v) < 3 || rev < 1 {
		writeJSON(w, http.StatusPreconditionFailed, errorBody{Error: "precondition_failed",
			Message: `If-Match must be one ETag this API gave, such as "3" (quoted); weak and listed ETags never match`})
		return 0, false
	}
	return rev, true
}

// applyPatch merges patch into the content of cur (RFC 7396: a member
// replaces the field, null removes it) and validates the result as an
// entry is validated on creation.
func applyPatch(cur Entry, patch []byte) (Entry, error) {
	var members map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(patch))
	if err := dec.Decode(&members); err != nil || members == nil {
		return Entry{}, ValidationError{{Message: "send a JSON object (a merge patch) of the fields to change: user_type, user_id, date, year, week, project, hours"}}
	}
	in := inputOf(cur)
	var errs ValidationError
	keys := make([]string, 0, len(members))
	for k := range members {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !patchable[k] {
			msg := "unknown field; a patch may change user_type, user_id, date, year, week, project, hours"
			if k == "source" || k == "external_id" || k == "status" || k == "id" || k == "revision" {
				msg = "cannot be changed by a patch"
			}
			errs = append(errs, FieldError{Field: clip(k, MaxFieldName), Message: msg})
			continue
		}
		raw := members[k]
		null := string(bytes.TrimSpace(raw)) == "null"
		var err error
		switch k {
		case "user_type":
			in.UserType, err = member[string](raw, null)
		case "user_id":
			in.UserID, err = member[string](raw, null)
		case "project":
			in.Project, err = member[string](raw, null)
		case "date":
			in.Date, err = member[string](raw, null)
		case "year":
			in.Year, err = member[int](raw, null)
		case "week":
			in.Week, err = member[int](raw, null)
		case "hours":
			in.Hours, err = member[float64](raw, null)
		}
		if err != nil {
			errs = append(errs, FieldError{Field: k, Message: jsonFieldError(err).Message})
		}
	}
	if len(errs) > 0 {
		return Entry{}, errs
	}
	// A patch to the other shape replaces the old one's fields.
	_, hasDate := members["date"]
	_, hasYear := members["year"]
	_, hasWeek := members["week"]
	if hasDate && in.Date != nil && !hasYear && !hasWeek {
		in.Year, in.Week = nil, nil
	}
	if (hasYear || hasWeek) && !hasDate && in.Year != nil && in.Week != nil {
		in.Date = nil
	}
	e, err := in.Validate()
	if err != nil {
		return Entry{}, err
	}
	next := cur
	next.UserType, next.UserID, next.Project, next.Hours = e.UserType, e.UserID, e.Project, e.Hours
	next.Date, next.Day, next.Year, next.Week = e.Date, e.Day, e.Year, e.Week
	return next, nil
}

// member decodes one merge-patch member: nil for null.
func member[T any](raw json.RawMessage, null bool) (*T, error) {
	if null {
		return nil, nil
	}
	v := new(T)
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, err
	}
	return v, nil
}

// inputOf is the Input that creates e's content.
func inputOf(e Entry) Input {
	in := Input{UserType: &e.UserType, UserID: &e.UserID, Project: &e.Project, Hours: &e.Hours}
	if e.Date != nil {
		d := e.Date.Format(time.RFC3339Nano)
		if e.Day {
			d = e.Date.Format(time.DateOnly)
		}
		in.Date = &d
	} else {
		in.Year, in.Week = &e.Year, &e.Week
	}
	return in
}

// locked answers a change or deletion of an approved entry: 409, naming
// the approver to a caller that may read the entry.
func (a *API) locked(w http.ResponseWriter, r *http.Request, e Entry) {
	msg := fmt.Sprintf("timesheet %d is approved; approved entries cannot be changed or deleted", e.ID)
	if a.MayRead != nil && a.MayRead(r.Context(), e.ID) && a.mayTouch(r.Context(), e.UserID) && e.ApprovedAt != nil {
		msg = fmt.Sprintf("timesheet %d was approved by %s at %s; approved entries cannot be changed or deleted", e.ID, e.ApprovedBy, e.ApprovedAt.Format(time.RFC3339))
	}
	w.Header().Set("ETag", etag(e))
	writeJSON(w, http.StatusConflict, errorBody{Error: "locked", Reason: ConflictLocked, Message: msg})
}
