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
	"sync"
	"time"
)

// Request limits. A body past its limit gets 413.
const (
	MaxEntryBytes   = 64 << 10 // one entry, alone or in a batch
	MaxBatchBytes   = 8 << 20  // POST /timesheets/upload
	MaxBatchEntries = 5000     // entries in one upload
	// DefaultMaxLargeUploads is API.MaxLargeUploads when unset: each holds
	// a MaxBatchBytes buffer while it is decoded.
	DefaultMaxLargeUploads = 2
)

// API serves the timesheet endpoints. Caller and Client are injected, so
// the domain package does not depend on the auth stack (auth.Caller and
// auth.Client); "" means unknown.
type API struct {
	Store  Store
	Logger *slog.Logger
	Now    func() time.Time
	// Caller names who sent a request; it is recorded as created_by and
	// approved_by. An approval without one is refused.
	Caller func(context.Context) string
	// Client names the client that sent a request; it owns the
	// (source, external_id) keys it creates. An entry with an external_id
	// from a request without one is refused.
	Client func(context.Context) string
	// Employee says whose entries the caller may touch (auth.Employee): id
	// is the employee id of a user token, "" for a machine token; a
	// restricted caller creates, lists, reads and deletes only entries whose
	// user_id is id, and none when id is "". Nil restricts nobody.
	Employee func(context.Context) (id string, restricted bool)
	// MayRead tells whether the caller may read the entry id: then a
	// refusal to change it may name who approved it. Nil: nobody may.
	MayRead func(ctx context.Context, id int64) bool
	// MaxLargeUploads bounds the uploads larger than MaxEntryBytes that are
	// read and decoded at once; past it they get 503 with Retry-After.
	// Smaller requests never wait for it. Default DefaultMaxLargeUploads.
	MaxLargeUploads int

	largeOnce sync.Once
	large     chan []byte // one body buffer per slot, allocated on first use
}

func (a *API) caller(ctx context.Context) string {
	if a.Caller == nil {
		return ""
	}
	return a.Caller(ctx)
}

func (a *API) client(ctx context.Context) string {
	if a.Client == nil {
		return ""
	}
	return a.Client(ctx)
}

func (a *API) employee(ctx context.Context) (id string, restricted bool) {
	if a.Employee == nil {
		return "", false
	}
	return a.Employee(ctx)
}

// mayTouch tells whether the caller may see the entry of user: every
// entry, unless restricted to its own (and to none without an id).
func (a *API) mayTouch(ctx context.Context, user string) bool {
	id, restricted := a.employee(ctx)
	return !restricted || (id != "" && user == id)
}

// Mux is where Register adds the endpoints: an http.ServeMux, or a test
// that lists them.
type Mux interface {
	HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request))
}

// Register adds the endpoints to mux.
func (a *API) Register(mux Mux) {
	mux.HandleFunc("POST /timesheets", a.create)
	mux.HandleFunc("POST /timesheets/upload", a.upload)
	mux.HandleFunc("GET /timesheets/upload/checkpoint", a.checkpoint)
	mux.HandleFunc("PUT /timesheets/upload/checkpoint", a.setCheckpoint)
	mux.HandleFunc("POST /timesheets/upload/prune", a.prune)
	mux.HandleFunc("GET /timesheets", a.list)
	mux.HandleFunc("GET /timesheets/{id}", a.get)
	mux.HandleFunc("PATCH /timesheets/{id}", a.patch)
	mux.HandleFunc("DELETE /timesheets/{id}", a.delete)
	mux.HandleFunc("POST /timesheets/{id}/approve", a.approve)
}

// Response bodies.
type (
	createdBody struct {
		ID        int64  `json:"id"`
		Message   string `json:"message"`
		Duplicate bool   `json:"duplicate,omitempty"`
		// Updated and Stale answer an upload of one entry (an upsert).
		Updated  bool  `json:"updated,omitempty"`
		Stale    bool  `json:"stale,omitempty"`
		Revision int64 `json:"revision,omitempty"`
		// Timesheet is the created entry; a duplicate's answer has none,
		// for the stored entry may be more than the caller could read.
		Timesheet *Entry `json:"timesheet,omitempty"`
	}
	errorBody struct {
		Error   string       `json:"error"`
		Message string       `json:"message"`
		Reason  string       `json:"reason,omitempty"` // of a conflict: ConflictLocked or ConflictNotOwner
		Fields  []FieldError `json:"fields,omitempty"`
	}
	listBody struct {
		Items      []Entry `json:"items"`
		NextCursor string  `json:"next_cursor,omitempty"`
	}
)

// Per-entry refusals that only the request, not the entry, explains. They
// name no stored field nor its owner.
var (
	errConflict = FieldError{Field: "external_id",
		Message: "this (source, external_id) belongs to another client; the entry was not stored: use an external_id of your own"}
	errNoClient = FieldError{Field: "external_id",
		Message: "an entry with an external_id needs a token naming its client (client id or subject)"}
	errNotOwn = FieldError{Field: "user_id",
		Message: "this token may create entries only for its own employee id; entries of others need a token that may see all entries"}
	// msgLocked explains a conflict with an approved entry of the caller's
	// own key; it names nobody (the approver is named only by routes that
	// know the caller may read the entry).
	msgLocked = "the stored entry of this (source, external_id) is approved; approved entries cannot be changed: nothing was written"
)

// conflictMessage explains a conflict reason.
func conflictMessage(reason string) string {
	if reason == ConflictLocked {
		return msgLocked
	}
	return errConflict.Message
}

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
	a.createOne(w, r, body, false)
}

// createOne stores one entry: as a Create (POST /timesheets: a stored key
// is a duplicate, whatever its content), or with upsert as an Upsert (an
// upload of one entry).
func (a *API) createOne(w http.ResponseWriter, r *http.Request, body []byte, upsert bool) {
	e, err := DecodeEntry(body)
	if err == nil {
		err = a.checkSourceTime(e)
	}
	if err != nil {
		a.invalid(w, err)
		return
	}
	if !a.mayTouch(r.Context(), e.UserID) {
		// 403, not 400: the entry is valid, this caller may not store it.
		writeJSON(w, http.StatusForbidden, errorBody{Error: "not_own_entry", Message: errNotOwn.Message, Fields: []FieldError{errNotOwn}})
		return
	}
	a.stamp(r, &e)
	if e.ExternalID != "" && e.Owner == "" {
		a.invalid(w, ValidationError{errNoClient})
		return
	}
	var res UpsertResult
	if upsert {
		out, err := a.Store.Upsert(r.Context(), []Entry{e}, false)
		if err != nil {
			a.storeError(w, err)
			return
		}
		res = out[0]
	} else {
		out, err := a.Store.Create(r.Context(), []Entry{e})
		switch {
		case errors.Is(err, ErrConflict):
			res = UpsertResult{Outcome: UpsertConflict, Reason: ConflictNotOwner}
		case err != nil:
			a.storeError(w, err)
			return
		case out[0].Duplicate:
			res = UpsertResult{Outcome: UpsertDuplicate, ID: out[0].ID}
		default:
			res = UpsertResult{Outcome: UpsertCreated, ID: out[0].ID, Revision: 1}
		}
	}
	if res.Outcome == UpsertConflict {
		writeJSON(w, http.StatusConflict, errorBody{Error: "conflict", Reason: res.Reason, Message: conflictMessage(res.Reason),
			Fields: []FieldError{{Field: "external_id", Message: conflictMessage(res.Reason)}}})
		return
	}
	e.ID = res.ID
	w.Header().Set("Location", fmt.Sprintf("/timesheets/%d", e.ID))
	switch res.Outcome {
	case UpsertDuplicate:
		writeJSON(w, http.StatusOK, createdBody{ID: e.ID, Duplicate: true,
			Message: fmt.Sprintf("Timesheet %d already holds this entry; nothing was stored.", e.ID)})
	case UpsertUpdated:
		writeJSON(w, http.StatusOK, createdBody{ID: e.ID, Updated: true, Revision: res.Revision,
			Message: fmt.Sprintf("Updated timesheet %d to revision %d.", e.ID, res.Revision)})
	case UpsertStale:
		writeJSON(w, http.StatusOK, createdBody{ID: e.ID, Stale: true,
			Message: fmt.Sprintf("Timesheet %d holds a newer version of this entry (source_updated_at); nothing was stored.", e.ID)})
	default:
		e.Revision, e.UpdatedAt = 1, e.CreatedAt
		writeJSON(w, http.StatusCreated, createdBody{ID: e.ID, Timesheet: &e,
			Message: fmt.Sprintf("Created timesheet %d for %s %s.", e.ID, strings.ToLower(e.UserType), e.UserID)})
	}
}

// maxSourceSkew is how far in the future a source_updated_at may be: a
// tool's clock may run ahead a little, but a time far ahead would make
// the importer's checkpoint skip every change until then.
const maxSourceSkew = time.Hour

// checkSourceTime refuses a source_updated_at in the future.
func (a *API) checkSourceTime(e Entry) error {
	if e.SourceUpdatedAt != nil && e.SourceUpdatedAt.After(a.now().Add(maxSourceSkew)) {
		return ValidationError{{Field: "source_updated_at", Message: "is in the future; send the tool's own modification time of the entry"}}
	}
	return nil
}

// stamp records who created the entry, for which client, and when.
//
// The keys of a restricted caller belong to its client and its employee
// id together: the employees of one app share its client id, and a key
// one of them stored must be a conflict for another, not a "duplicate"
// that points to an entry the other may not see. The quoted id cannot
// end early, and a client identity begins with its issuer's URL, so the
// form is unambiguous.
func (a *API) stamp(r *http.Request, e *Entry) {
	e.CreatedAt = a.now()
	e.CreatedBy = a.caller(r.Context())
	e.Owner = a.client(r.Context())
	if id, restricted := a.employee(r.Context()); restricted && e.Owner != "" {
		e.Owner = "employee:" + strconv.Quote(id) + "@" + e.Owner
	}
}

// upload takes one entry (as POST /timesheets) or a JSON array of entries.
// Valid entries are stored in one transaction; invalid ones are reported
// and not stored. With ?all_or_nothing=true, one invalid entry stores none.
// With ?dry_run=true, nothing is stored: every entry is decoded, validated
// and checked against the caller as for a real upload, and the answer is
// the batch's results (one for a single entry), each valid entry "valid".
// Only storing finds duplicates and conflicts, so a dry run reports none.
//
// Memory: the first MaxEntryBytes+1 bytes are read for every request; a
// body that fits is handled at once. A longer one must be an array, and
// needs one of MaxLargeUploads slots (503 with Retry-After without), whose
// buffer it is read into. Entries are decoded one at a time from that
// buffer, each held to MaxEntryBytes, and errors quote little of a value.
func (a *API) upload(w http.ResponseWriter, r *http.Request) {
	var opt uploadOptions
	q := r.URL.Query()
	ferr := boolParam(q, "all_or_nothing", &opt.strict)
	if ferr == nil {
		ferr = boolParam(q, "dry_run", &opt.dryRun)
	}
	if ferr != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid_request", Message: ferr.Field + ": " + ferr.Message, Fields: []FieldError{*ferr}})
		return
	}
	if !a.jsonContent(w, r) {
		return
	}
	if r.ContentLength > MaxBatchBytes {
		a.tooLarge(w, MaxBatchBytes)
		return
	}
	body := http.MaxBytesReader(w, r.Body, MaxBatchBytes)
	// A body of known length under the limit needs no more than its
	// length (and one byte to see its end): most uploads are one entry,
	// and a buffer of the limit for each was most of an upload's CPU.
	headSize := int64(MaxEntryBytes + 1)
	if r.ContentLength >= 0 && r.ContentLength < headSize {
		headSize = r.ContentLength + 1
	}
	head := make([]byte, headSize)
	n, err := io.ReadFull(body, head)
	head = head[:n]
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		a.uploadBody(w, r, head, opt) // it all fits in one entry's limit
		return
	case err != nil:
		a.readError(w, err, MaxBatchBytes)
		return
	}
	if t := bytes.TrimLeft(head, " \t\r\n"); len(t) == 0 || t[0] != '[' {
		a.tooLarge(w, MaxEntryBytes) // one entry
		return
	}
	buf, ok := a.acquireLarge()
	if !ok {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "busy",
			Message: fmt.Sprintf("the API is decoding as many uploads larger than %d bytes as it may; retry later, or send smaller ones", MaxEntryBytes)})
		return
	}
	defer a.releaseLarge(buf)
	data := append(buf[:0], head...)
	for {
		m, err := body.Read(data[len(data):cap(data)])
		data = data[:len(data)+m]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			a.readError(w, err, MaxBatchBytes)
			return
		}
	}
	a.uploadBody(w, r, data, opt)
}

// uploadOptions are an upload's query parameters.
type uploadOptions struct {
	strict bool // all_or_nothing
	dryRun bool // dry_run: validate, store nothing
}

// boolParam reads an optional boolean query parameter into dst.
func boolParam(q url.Values, name string, dst *bool) *FieldError {
	v, ferr := queryValue(q, name)
	if ferr != nil || v == "" {
		return ferr
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return &FieldError{Field: name, Message: "must be true or false"}
	}
	*dst = b
	return nil
}

// acquireLarge takes a slot for a large upload, with its buffer, if one is
// free. It never waits: a request that cannot be served soon is better
// answered now, and its unread body costs nothing.
func (a *API) acquireLarge() ([]byte, bool) {
	select {
	case buf := <-a.largeSlots():
		if buf == nil {
			// One byte over the limit, so that MaxBytesReader reports it.
			buf = make([]byte, 0, MaxBatchBytes+1)
		}
		return buf, true
	default:
		return nil, false
	}
}

// largeSlots holds the free slots for large uploads, each with its buffer
// (nil until first used).
func (a *API) largeSlots() chan []byte {
	a.largeOnce.Do(func() {
		n := a.MaxLargeUploads
		if n <= 0 {
			n = DefaultMaxLargeUploads
		}
		a.large = make(chan []byte, n)
		for range n {
			a.large <- nil
		}
	})
	return a.large
}

func (a *API) releaseLarge(buf []byte) { a.largeSlots() <- buf[:0] }

// uploadBody serves an upload's complete body.
//
// Each entry is decoded once. The body is not checked as a whole first:
// splitArray tells whether it has an array's shape, and decoding each
// element checks that element's JSON; both holding, the body is valid
// JSON. Only when either cannot tell (an element too large to decode, not
// UTF-8, or malformed, or the array's own punctuation wrong) is the whole
// body checked, so that malformed JSON is refused as a whole, as before.
func (a *API) uploadBody(w http.ResponseWriter, r *http.Request, body []byte, opt uploadOptions) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	var (
		raws      [][]byte
		total     int
		checked   bool // the body is known to be valid JSON
		malformed = func() bool {
			if checked {
				return false
			}
			checked = true
			if json.Valid(body) {
				return false
			}
			// Unmarshal fails in its validity check, before it decodes anything.
			a.invalid(w, ValidationError{jsonFieldError(json.Unmarshal(body, new([]json.RawMessage)))})
			return true
		}
	)
	switch {
	case len(trimmed) == 0 || trimmed[0] != '[':
		if len(body) > MaxEntryBytes {
			a.tooLarge(w, MaxEntryBytes)
			return
		}
		if !opt.dryRun {
			a.createOne(w, r, body, true)
			return
		}
		raws, total = [][]byte{body}, 1 // answered as a batch of one
	default:
		var shaped bool
		raws, total, shaped = splitArray(trimmed, MaxBatchEntries)
		if (!shaped || total == 0 || total > MaxBatchEntries) && malformed() {
			return
		}
	}
	if total == 0 {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid_request", Message: "the batch is empty; send at least one entry"})
		return
	}
	if total > MaxBatchEntries {
		writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Error: "too_large",
			Message: fmt.Sprintf("a batch holds at most %d entries, got %d; split it", MaxBatchEntries, total)})
		return
	}

	out := BatchResponse{Results: make([]BatchItemResult, len(raws))}
	reject := func(i int, errs []FieldError) {
		out.Results[i].Status, out.Results[i].Errors = BatchRejected, errs
		out.Rejected++
	}
	valid := make([]Entry, 0, len(raws))
	validIdx := make([]int, 0, len(raws))
	for i, raw := range raws {
		out.Results[i].Index = i
		if len(raw) > MaxEntryBytes {
			if malformed() {
				return
			}
			reject(i, []FieldError{{Message: fmt.Sprintf("the entry is larger than %d bytes", MaxEntryBytes)}})
			continue
		}
		e, wellFormed, err := decodeEntry(raw)
		if !wellFormed && malformed() {
			return
		}
		if err == nil {
			err = a.checkSourceTime(e)
		}
		if err != nil {
			var ve ValidationError
			errors.As(err, &ve)
			reject(i, ve)
			continue
		}
		if !a.mayTouch(r.Context(), e.UserID) {
			reject(i, []FieldError{errNotOwn})
			continue
		}
		a.stamp(r, &e)
		if e.ExternalID != "" && e.Owner == "" {
			reject(i, []FieldError{errNoClient})
			continue
		}
		valid = append(valid, e)
		validIdx = append(validIdx, i)
	}
	strict := opt.strict
	if opt.dryRun {
		for _, i := range validIdx {
			out.Results[i].Status = BatchValid
		}
		out.Valid = len(validIdx)
		status := http.StatusOK
		if strict && out.Rejected > 0 {
			status = http.StatusBadRequest
		}
		writeJSON(w, status, out)
		return
	}
	if strict && out.Rejected > 0 {
		out.notStored()
		writeJSON(w, http.StatusBadRequest, out)
		return
	}
	res, err := a.Store.Upsert(r.Context(), valid, strict)
	if err != nil && !errors.Is(err, ErrConflict) {
		a.storeError(w, err)
		return
	}
	for j, ur := range res {
		br := &out.Results[validIdx[j]]
		br.ID, br.Revision = ur.ID, ur.Revision
		switch ur.Outcome {
		case UpsertCreated:
			br.Status = BatchCreated
			out.Created++
		case UpsertDuplicate:
			br.Status = BatchDuplicate
			out.Duplicates++
		case UpsertUpdated:
			br.Status = BatchUpdated
			out.Updated++
		case UpsertStale:
			br.Status = BatchStale
			out.Stale++
		case UpsertConflict:
			br.Status, br.Reason, br.Message = BatchConflict, ur.Reason, conflictMessage(ur.Reason)
			br.ID, br.Revision = 0, 0 // another's key tells nothing; an approved one of the caller's changes nothing
			out.Conflicts++
		}
	}
	if err != nil { // all_or_nothing with a conflict: nothing was stored
		out.Created, out.Duplicates, out.Updated, out.Stale = 0, 0, 0, 0
		for i := range out.Results {
			if st := out.Results[i].Status; st != BatchConflict && st != BatchRejected {
				out.Results[i] = BatchItemResult{Index: i, Status: BatchNotStored}
			}
		}
		writeJSON(w, http.StatusConflict, out)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// notStored marks the valid entries of a refused all_or_nothing batch,
// so that every result says what became of its entry: nothing was stored.
func (b *BatchResponse) notStored() {
	for i := range b.Results {
		if b.Results[i].Status == "" {
			b.Results[i].Status = BatchNotStored
		}
	}
}

// splitArray returns the elements of a JSON array, as subslices of data,
// at most limit of them, and how many there are. shaped tells that data
// has an array's punctuation: elements (none empty) separated by commas,
// a closing ], then only whitespace. Data that is shaped, and whose every
// element is valid JSON, is valid JSON; of other data the elements mean
// nothing.
func splitArray(data []byte, limit int) (elems [][]byte, total int, shaped bool) {
	empty := false // an element between two commas, or after the last, is empty
	start, depth := -1, 0
	inString, escaped := false, false
	end := func(i int, last bool) {
		if start < 0 {
			// Only "[]" (with whitespace) has no element before its ].
			empty = empty || !last || total > 0
			return
		}
		if total < limit+1 {
			elems = append(elems, bytes.TrimRight(data[start:i], " \t\r\n"))
		}
		total++
		start = -1
	}
	for i := bytes.IndexByte(data, '[') + 1; i < len(data); i++ {
		c := data[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 { // the array's own ]
				end(i, true)
				shaped = c == ']' && !empty && len(bytes.TrimLeft(data[i+1:], " \t\r\n")) == 0
				return elems, total, shaped
			}
			depth--
		case ',':
			if depth == 0 {
				end(i, false)
				continue
			}
		}
		if start < 0 {
			start = i
		}
	}
	return elems, total, false
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		a.invalid(w, err)
		return
	}
	if id, restricted := a.employee(r.Context()); restricted {
		if id == "" || (f.UserID != "" && f.UserID != id) {
			// Others' entries are not there for this caller: an empty
			// list, as for a user without entries, tells nothing.
			writeJSON(w, http.StatusOK, listBody{Items: []Entry{}})
			return
		}
		f.UserID = id
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
	for k, vs := range q {
		switch {
		case !listParams[k]:
			errs = append(errs, FieldError{Field: clip(k, MaxFieldName), Message: "unknown query parameter; use user_id, project, status, from, to, cursor, limit"})
		case len(vs) > 1:
			errs = append(errs, FieldError{Field: k, Message: "given more than once; give it once"})
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
		switch {
		case err != nil:
			errs = append(errs, FieldError{Field: p.name, Message: "use a date such as 2017-05-10 or an RFC 3339 timestamp"})
		case t.Year() < MinYear || t.Year() > MaxYear:
			// Also keeps 0001-01-01, the zero time, from meaning "no bound".
			errs = append(errs, FieldError{Field: p.name, Message: fmt.Sprintf("use a date from %d-01-01 to %d-12-31", MinYear, MaxYear)})
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

// queryValue returns the value of a query parameter, "" if absent; a
// repeated one is refused rather than one of its values picked.
func queryValue(q url.Values, name string) (string, *FieldError) {
	vs := q[name]
	switch len(vs) {
	case 0:
		return "", nil
	case 1:
		return vs[0], nil
	}
	return "", &FieldError{Field: name, Message: "given more than once; give it once"}
}

func parseDay(v string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, err
	}
	return Day(t), nil
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
	e, err := a.getVisible(r.Context(), id)
	if err != nil {
		a.storeError(w, err)
		return
	}
	w.Header().Set("ETag", etag(e))
	writeJSON(w, http.StatusOK, e)
}

// getVisible gets an entry the caller may see; another's is ErrNotFound,
// as if it did not exist, so that ids cannot be probed.
func (a *API) getVisible(ctx context.Context, id int64) (Entry, error) {
	if emp, restricted := a.employee(ctx); restricted && emp == "" {
		return Entry{}, ErrNotFound
	}
	e, err := a.Store.Get(ctx, id)
	if err == nil && !a.mayTouch(ctx, e.UserID) {
		return Entry{}, ErrNotFound
	}
	return e, err
}

func (a *API) delete(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	// Checked before the delete, not in it: an entry's user_id never
	// changes and ids are never reused, so the check still holds then.
	if _, restricted := a.employee(r.Context()); restricted {
		if _, err := a.getVisible(r.Context(), id); err != nil {
			a.storeError(w, err)
			return
		}
	}
	err := a.Store.Delete(r.Context(), id)
	if errors.Is(err, ErrLocked) {
		e, gerr := a.Store.Get(r.Context(), id)
		if gerr != nil {
			a.storeError(w, gerr)
			return
		}
		a.locked(w, r, e)
		return
	}
	if err != nil {
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
		// 403, not 401: the token (if any) passed the policy, and another
		// token of the same client would not help unless it names someone.
		// An approval is recorded against a name, never a placeholder.
		writeJSON(w, http.StatusForbidden, errorBody{Error: "caller_unidentified",
			Message: "an approval needs an access token naming its subject or client; this request's names nobody the API can record"})
		return
	}
	// As for delete, created_by and user_id do not change after this read.
	e, err := a.getVisible(r.Context(), id)
	if err != nil {
		a.storeError(w, err)
		return
	}
	// Four eyes: whoever logged the hours, or whose hours they are, does
	// not approve them (a manager included).
	emp, _ := a.employee(r.Context())
	switch {
	case e.CreatedBy == approver:
		writeJSON(w, http.StatusConflict, errorBody{Error: "own_entry",
			Message: fmt.Sprintf("timesheet %d was created with this identity; someone else must approve it", id)})
		return
	case emp != "" && e.UserID == emp:
		writeJSON(w, http.StatusConflict, errorBody{Error: "own_entry",
			Message: fmt.Sprintf("timesheet %d holds this caller's own hours (its user_id is the token's employee id); someone else must approve it", id)})
		return
	}
	e, err = a.Store.Approve(r.Context(), id, approver, a.now())
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
	if !a.jsonContent(w, r) {
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		a.readError(w, err, limit)
		return nil, false
	}
	return body, true
}

// jsonContent refuses a body that is not declared JSON.
func (a *API) jsonContent(w http.ResponseWriter, r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		writeJSON(w, http.StatusUnsupportedMediaType, errorBody{Error: "unsupported_media_type", Message: "send the body as Content-Type: application/json"})
		return false
	}
	return true
}

// readError answers a failed read of a body limited to limit bytes.
func (a *API) readError(w http.ResponseWriter, err error, limit int64) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		a.tooLarge(w, limit)
		return
	}
	writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid_request", Message: "could not read the body"})
}

func (a *API) tooLarge(w http.ResponseWriter, limit int64) {
	what := "an upload"
	if limit == MaxEntryBytes {
		what = "one entry"
	}
	writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Error: "too_large",
		Message: fmt.Sprintf("the body is larger than %d bytes, the limit of %s; split it", limit, what)})
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
