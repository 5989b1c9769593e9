package timesheets

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Request limits. A body past its limit gets 413.
const (
	MaxEntryBytes   = 64 << 10 // one entry
	MaxBatchBytes   = 8 << 20  // POST /timesheets/upload
	MaxBatchEntries = 5000     // entries in one upload
)

// API serves the timesheet endpoints.
type API struct {
	Store  Store
	Logger *slog.Logger
	Now    func() time.Time
	// Caller names who sent a request (the token's sub), or "" when unknown.
	// Injected, so the domain package does not depend on the auth stack.
	Caller func(context.Context) string
}

func (a *API) caller(ctx context.Context) string {
	if a.Caller == nil {
		return ""
	}
	return a.Caller(ctx)
}

// Register adds the endpoints to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /timesheets", a.create)
	mux.HandleFunc("POST /timesheets/upload", a.upload)
	mux.HandleFunc("GET /timesheets", a.list)
	mux.HandleFunc("GET /timesheets/{id}", a.get)
	mux.HandleFunc("DELETE /timesheets/{id}", a.delete)
	mux.HandleFunc("POST /timesheets/{id}/approve", a.approve)
}

// Response bodies.
type (
	createdBody struct {
		ID        int64  `json:"id"`
		Message   string `json:"message"`
		Duplicate bool   `json:"duplicate,omitempty"`
		Timesheet Entry  `json:"timesheet"`
	}
	errorBody struct {
		Error   string       `json:"error"`
		Message string       `json:"message"`
		Fields  []FieldError `json:"fields,omitempty"`
	}
	batchResult struct {
		Index  int          `json:"index"`
		Status string       `json:"status"` // created, duplicate, rejected
		ID     int64        `json:"id,omitempty"`
		Errors []FieldError `json:"errors,omitempty"`
	}
	batchBody struct {
		Created    int           `json:"created"`
		Duplicates int           `json:"duplicates"`
		Rejected   int           `json:"rejected"`
		Results    []batchResult `json:"results"`
	}
	listBody struct {
		Items      []Entry `json:"items"`
		NextCursor string  `json:"next_cursor,omitempty"`
	}
)

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

func (a *API) create(w http.ResponseWriter, r *http.Request) {
	body, ok := a.readJSON(w, r, MaxEntryBytes)
	if !ok {
		return
	}
	a.createOne(w, r, body)
}

func (a *API) createOne(w http.ResponseWriter, r *http.Request, body []byte) {
	e, err := DecodeEntry(body)
	if err != nil {
		a.invalid(w, err)
		return
	}
	a.stamp(r, &e)
	res, err := a.Store.Create(r.Context(), []Entry{e})
	if err != nil {
		a.storeError(w, err)
		return
	}
	e.ID = res[0].ID
	w.Header().Set("Location", fmt.Sprintf("/timesheets/%d", e.ID))
	if res[0].Duplicate {
		stored, err := a.Store.Get(r.Context(), e.ID)
		if err != nil {
			a.storeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, createdBody{ID: e.ID, Duplicate: true, Timesheet: stored,
			Message: fmt.Sprintf("Timesheet %d already holds this entry (source %q, external_id %q).", e.ID, e.Source, e.ExternalID)})
		return
	}
	writeJSON(w, http.StatusCreated, createdBody{ID: e.ID, Timesheet: e,
		Message: fmt.Sprintf("Created timesheet %d for %s %s.", e.ID, strings.ToLower(e.UserType), e.UserID)})
}

// stamp records who created the entry and when.
func (a *API) stamp(r *http.Request, e *Entry) {
	e.CreatedAt = a.now()
	e.CreatedBy = a.caller(r.Context())
}

// upload takes one entry (as POST /timesheets) or a JSON array of entries.
// Valid entries are stored in one transaction; invalid ones are reported
// and not stored. With ?all_or_nothing=true, one invalid entry stores none.
func (a *API) upload(w http.ResponseWriter, r *http.Request) {
	strict := false
	if v := r.URL.Query().Get("all_or_nothing"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid_request", Message: "all_or_nothing must be true or false",
				Fields: []FieldError{{Field: "all_or_nothing", Message: "must be true or false"}}})
			return
		}
		strict = b
	}
	body, ok := a.readJSON(w, r, MaxBatchBytes)
	if !ok {
		return
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '[' {
		a.createOne(w, r, body)
		return
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		a.invalid(w, ValidationError{jsonFieldError(err)})
		return
	}
	if len(raws) == 0 {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid_request", Message: "the batch is empty; send at least one entry"})
		return
	}
	if len(raws) > MaxBatchEntries {
		writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Error: "too_large",
			Message: fmt.Sprintf("a batch holds at most %d entries, got %d; split it", MaxBatchEntries, len(raws))})
		return
	}

	out := batchBody{Results: make([]batchResult, len(raws))}
	valid := make([]Entry, 0, len(raws))
	validIdx := make([]int, 0, len(raws))
	for i, raw := range raws {
		out.Results[i].Index = i
		e, err := DecodeEntry(raw)
		if err != nil {
			var ve ValidationError
			errors.As(err, &ve)
			out.Results[i].Status, out.Results[i].Errors = "rejected", ve
			out.Rejected++
			continue
		}
		a.stamp(r, &e)
		valid = append(valid, e)
		validIdx = append(validIdx, i)
	}
	if strict && out.Rejected > 0 {
		writeJSON(w, http.StatusBadRequest, out) // nothing stored
		return
	}
	if len(valid) > 0 {
		res, err := a.Store.Create(r.Context(), valid)
		if err != nil {
			a.storeError(w, err)
			return
		}
		for j, cr := range res {
			br := &out.Results[validIdx[j]]
			br.ID = cr.ID
			if cr.Duplicate {
				br.Status = "duplicate"
				out.Duplicates++
			} else {
				br.Status = "created"
				out.Created++
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		a.invalid(w, err)
		return
	}
	limit := f.Limit
	f.Limit++ // one more tells whether a next page exists
	items, err := a.Store.List(r.Context(), f)
	if err != nil {
		a.storeError(w, err)
		return
	}
	out := listBody{Items: items}
	if len(items) > limit {
		out.Items = items[:limit]
		out.NextCursor = encodeCursor(out.Items[limit-1].ID)
	}
	if out.Items == nil {
		out.Items = []Entry{}
	}
	writeJSON(w, http.StatusOK, out)
}

var listParams = map[string]bool{"user_id": true, "project": true, "status": true, "from": true, "to": true, "cursor": true, "limit": true}

func parseFilter(q url.Values) (Filter, error) {
	f := Filter{Limit: DefaultPageSize, UserID: q.Get("user_id"), Project: q.Get("project")}
	var errs ValidationError
	for k := range q {
		if !listParams[k] {
			errs = append(errs, FieldError{Field: k, Message: "unknown query parameter; use user_id, project, status, from, to, cursor, limit"})
		}
	}
	if s := q.Get("status"); s != "" {
		if s != StatusPending && s != StatusApproved {
			errs = append(errs, FieldError{Field: "status", Message: "use pending or approved"})
		}
		f.Status = s
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		t, err := parseDay(v)
		if err != nil {
			errs = append(errs, FieldError{Field: p.name, Message: "use a date such as 2017-05-10 or an RFC 3339 timestamp"})
		}
		*p.dst = t
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
		errs = append(errs, FieldError{Field: "to", Message: "must not be before from"})
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			errs = append(errs, FieldError{Field: "limit", Message: fmt.Sprintf("use a whole number from 1 to %d", MaxPageSize)})
		}
		f.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		id, err := decodeCursor(v)
		if err != nil {
			errs = append(errs, FieldError{Field: "cursor", Message: "not a cursor this API returned; start again without it"})
		}
		f.AfterID = id
	}
	if len(errs) > 0 {
		return Filter{}, errs
	}
	return f, nil
}

func parseDay(v string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, err
	}
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
}

// Cursors are opaque so the pagination scheme can change without breaking clients.
func encodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("id:" + strconv.FormatInt(id, 10)))
}

func decodeCursor(c string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, err
	}
	s, ok := strings.CutPrefix(string(b), "id:")
	if !ok {
		return 0, errors.New("bad cursor")
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 0 {
		return 0, errors.New("bad cursor")
	}
	return id, nil
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	e, err := a.Store.Get(r.Context(), id)
	if err != nil {
		a.storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

func (a *API) delete(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if err := a.Store.Delete(r.Context(), id); err != nil {
		a.storeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) approve(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	approver := a.caller(r.Context())
	if approver == "" {
		approver = "unauthenticated" // only in Audit mode can a request get here without a token
	}
	e, err := a.Store.Approve(r.Context(), id, approver, a.now())
	if errors.Is(err, ErrAlreadyApproved) {
		stored, gerr := a.Store.Get(r.Context(), id)
		if gerr != nil {
			a.storeError(w, gerr)
			return
		}
		writeJSON(w, http.StatusConflict, errorBody{Error: "already_approved",
			Message: fmt.Sprintf("timesheet %d was already approved by %s at %s", id, stored.ApprovedBy, stored.ApprovedAt.Format(time.RFC3339))})
		return
	}
	if err != nil {
		a.storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid_request", Message: "the timesheet id must be a positive whole number",
			Fields: []FieldError{{Field: "id", Message: "must be a positive whole number"}}})
		return 0, false
	}
	return id, true
}

// readJSON checks the content type and reads at most limit bytes.
func (a *API) readJSON(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		writeJSON(w, http.StatusUnsupportedMediaType, errorBody{Error: "unsupported_media_type", Message: "send the body as Content-Type: application/json"})
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Error: "too_large",
				Message: fmt.Sprintf("the body is larger than %d bytes; split the batch", limit)})
			return nil, false
		}
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid_request", Message: "could not read the body"})
		return nil, false
	}
	return body, true
}

func (a *API) invalid(w http.ResponseWriter, err error) {
	var ve ValidationError
	errors.As(err, &ve)
	writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid_entry", Message: err.Error(), Fields: ve})
}

func (a *API) storeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		writeJSON(w, http.StatusNotFound, errorBody{Error: "not_found", Message: "no timesheet has this id"})
	case errors.Is(err, ErrUnavailable):
		a.Logger.Warn("storage unavailable", "error", err)
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "unavailable", Message: "the database is unavailable; retry later"})
	default:
		a.Logger.Error("storage failed", "error", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: "internal", Message: "internal error"})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
