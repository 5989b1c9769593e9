// Package timesheets holds the domain model of the Timesheets API: entries,
// their validation, the storage contract and the HTTP handlers.
package timesheets

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// User types accepted in an entry.
const (
	UserTypeEmployee   = "Employee"
	UserTypeContractor = "Contractor"
)

// Entry statuses.
const (
	StatusPending  = "pending"
	StatusApproved = "approved"
)

// Limits on hours: a day has 24, a week 7*24; both must be positive.
const (
	MaxHoursPerDay  = 24
	MaxHoursPerWeek = 7 * 24
)

// Years an entry may fall in (inclusive): the period start of an entry (its
// day, or the Monday of its ISO week, in UTC) is from MinYear-01-01 to
// MaxYear-12-31, whichever shape it has. Stored times are Unix nanoseconds,
// which hold 1678 to 2262; a range well inside keeps every entry exact.
const (
	MinYear = 1900
	MaxYear = 2200
)

// Entry is one timesheet entry: hours a user spent on a project on one day
// (Date set) or in one ISO week (Year and Week set).
type Entry struct {
	ID       int64      `json:"id"`
	UserType string     `json:"user_type"`
	UserID   string     `json:"user_id"`
	Date     *time.Time `json:"date,omitempty"`
	// Day tells that Date is a calendar day (UTC midnight), given and
	// returned as 2026-01-05; else Date is the timestamp it was given as.
	Day        bool    `json:"-"`
	Year       int     `json:"year,omitempty"`
	Week       int     `json:"week,omitempty"`
	Project    string  `json:"project"`
	Hours      float64 `json:"hours"`
	Source     string  `json:"source,omitempty"`
	ExternalID string  `json:"external_id,omitempty"`
	Status     string  `json:"status"`
	CreatedBy  string  `json:"created_by,omitempty"`
	// Owner is the client (auth.Client) that owns the entry's
	// (Source, ExternalID) key; never sent to clients. "" is no known owner.
	Owner      string     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	ApprovedBy string     `json:"approved_by,omitempty"`
	ApprovedAt *time.Time `json:"approved_at,omitempty"`
	// Revision is 1 when the entry is created and grows by one with every
	// change (an update, an approval); it is the entry's ETag.
	Revision  int64     `json:"revision"`
	UpdatedAt time.Time `json:"updated_at"`
	// SourceUpdatedAt is the tool's own modification time of an imported
	// entry: an upload never replaces a newer one with an older one.
	SourceUpdatedAt *time.Time `json:"source_updated_at,omitempty"`
}

// plainEntry is Entry without its JSON methods.
type plainEntry Entry

// dayEntry is the JSON of an entry whose date is a calendar day.
type dayEntry struct {
	plainEntry
	Date string `json:"date"` // shadows plainEntry.Date
}

// MarshalJSON writes a day as 2026-01-05, a timestamp as RFC 3339.
func (e Entry) MarshalJSON() ([]byte, error) {
	if e.Date == nil || !e.Day {
		return json.Marshal(plainEntry(e))
	}
	return json.Marshal(dayEntry{plainEntry(e), e.Date.Format(time.DateOnly)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (e *Entry) UnmarshalJSON(data []byte) error {
	var d struct {
		plainEntry
		Date *string `json:"date"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return err
	}
	*e = Entry(d.plainEntry)
	e.Date, e.Day = nil, false
	if d.Date != nil {
		t, day, err := parseDate(*d.Date)
		if err != nil {
			return err
		}
		e.Date, e.Day = &t, day
	}
	return nil
}

// parseDate reads a calendar day (2026-01-05: day is true, t its UTC
// midnight) or an RFC 3339 timestamp (t in UTC).
func parseDate(v string) (t time.Time, day bool, err error) {
	if len(v) == len(time.DateOnly) {
		t, err = time.Parse(time.DateOnly, v)
		return t, err == nil, err
	}
	t, err = time.Parse(time.RFC3339Nano, v)
	return t.UTC(), false, err
}

// SameContent tells whether two entries record the same hours: the fields
// a client sends, but for the key (source, external_id) and the tool's
// modification time.
func (e Entry) SameContent(o Entry) bool {
	sameDate := e.Date == nil && o.Date == nil ||
		e.Date != nil && o.Date != nil && e.Date.Equal(*o.Date) && e.Day == o.Day
	return sameDate && e.UserType == o.UserType && e.UserID == o.UserID && e.Year == o.Year &&
		e.Week == o.Week && e.Project == o.Project && e.Hours == o.Hours
}

// Locked tells that the entry was approved: it can no longer be changed
// nor deleted.
func (e Entry) Locked() bool { return e.Status == StatusApproved }

// PeriodStart is the first day the entry covers (UTC midnight): the date of a
// day entry, the Monday of a week entry. Range filters use it.
func (e Entry) PeriodStart() time.Time {
	if e.Date != nil {
		return Day(*e.Date)
	}
	return isoWeekStart(e.Year, e.Week)
}

// Day truncates t to its UTC date: the day an entry, a filter or a window
// bound counts as.
func Day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// isoWeekStart returns the Monday of ISO week w of year y.
func isoWeekStart(y, w int) time.Time {
	// January 4th is always in week 1.
	jan4 := time.Date(y, time.January, 4, 0, 0, 0, 0, time.UTC)
	offset := (int(jan4.Weekday()) + 6) % 7 // days since Monday
	return jan4.AddDate(0, 0, -offset+(w-1)*7)
}

// CreateResult says what storing one entry did.
type CreateResult struct {
	ID        int64
	Duplicate bool // an entry of the same owner with the same (source, external_id) already existed
	// Conflict: another owner's entry holds the same (source, external_id),
	// or its owner is unknown; ID is then 0, and the entry cannot be stored.
	Conflict bool
}

// Filter selects entries for List. Zero fields do not filter.
type Filter struct {
	UserID  string
	Project string
	Status  string
	From    time.Time // inclusive, on PeriodStart
	To      time.Time // inclusive, on PeriodStart
	AfterID int64     // cursor: only entries with a greater id
	Limit   int       // 1..MaxPageSize
}

// Page sizes for List.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// UpsertOutcome says what Upsert did with one entry.
type UpsertOutcome uint8

// Upsert outcomes.
const (
	UpsertCreated   UpsertOutcome = iota + 1 // a new key: stored
	UpsertDuplicate                          // the same content is stored: nothing written
	UpsertUpdated                            // changed content, not approved: written, revision bumped
	UpsertStale                              // the stored entry has a newer SourceUpdatedAt: nothing written
	UpsertConflict                           // nothing written; Reason says why
)

// Reasons of an UpsertConflict (and of a pruned entry kept). They name no
// stored field, nor the client or approver behind them.
const (
	ConflictLocked   = "locked"    // the stored entry is approved
	ConflictNotOwner = "not_owner" // another client's (source, external_id), or one of no known client
)

// UpsertResult is the outcome of one entry of an Upsert.
type UpsertResult struct {
	Outcome  UpsertOutcome
	ID       int64  // the stored entry's, but for a conflict of ConflictNotOwner
	Revision int64  // the stored entry's revision after the call (0 for not_owner)
	Reason   string // of an UpsertConflict
}

// Prune asks to delete an owner's entries of one source in a window of
// days, but for those whose external id is in Keep.
type Prune struct {
	Owner, Source string
	From, To      time.Time // inclusive, on PeriodStart
	Keep          []string  // external ids that stay
	Limit         int       // at most this many deletions (1..MaxBatchEntries)
	DryRun        bool      // say what would be deleted, delete nothing
}

// PrunedEntry is one entry a Prune deleted (Reason "") or kept because it
// is approved (Reason ConflictLocked).
type PrunedEntry struct {
	ID         int64
	ExternalID string
	Reason     string
}

// PruneResult says what a Prune did. Complete is false when more entries
// than Limit were to be deleted: the same call deletes the next ones.
type PruneResult struct {
	Entries  []PrunedEntry
	Complete bool
}

// Checkpoint is what an owner has stored of one source: how many entries,
// and the checkpoint its last complete run recorded (SetCheckpoint): the
// newest SourceUpdatedAt it stored, nil before the first such run.
type Checkpoint struct {
	Entries         int64
	SourceUpdatedAt *time.Time
}

// Errors a Store returns; handlers map them to HTTP statuses.
var (
	ErrNotFound        = errors.New("timesheet not found")
	ErrAlreadyApproved = errors.New("timesheet already approved")
	// ErrLocked: the entry is approved; it cannot be changed nor deleted.
	ErrLocked = errors.New("timesheet approved: locked")
	// ErrRevisionMismatch: an Update named a revision that is not the
	// stored one (the entry changed meanwhile).
	ErrRevisionMismatch = errors.New("timesheet revision changed")
	ErrUnavailable      = errors.New("storage unavailable")
	// ErrConflict: Create stored nothing because some entries conflict (see
	// CreateResult.Conflict); without them the rest may be stored.
	ErrConflict = errors.New("entries conflict with another client's (source, external_id)")
)

// Store keeps entries. Implementations live in pkg/store.
type Store interface {
	// Create stores entries in one transaction: all of them or none. An entry
	// whose non-empty (Source, ExternalID) already exists, in the store or
	// earlier in the same call, is not stored again: it is reported Duplicate
	// with the existing id when both have the same non-empty Owner, else
	// Conflict. If any entry conflicts, nothing is stored and the error is
	// ErrConflict, with results in which only Conflict is meaningful.
	Create(ctx context.Context, entries []Entry) ([]CreateResult, error)
	// Upsert stores entries in one transaction, each as its outcome says
	// (an entry's CreatedAt, when set, is also the time of an update):
	// an entry whose key its owner holds already replaces the stored one
	// if its content differs, the stored one is not approved and its
	// SourceUpdatedAt is not newer; a key of another owner is a conflict.
	// Entries repeating a key earlier in the call apply in order. Entries
	// without an ExternalID are always created. Conflicts are results, not
	// errors: the other entries are stored; with allOrNothing, a conflict
	// stores nothing and the error is ErrConflict, with the results.
	Upsert(ctx context.Context, entries []Entry, allOrNothing bool) ([]UpsertResult, error)
	// Update replaces the content (UserType, UserID, Date, Day, Year,
	// Week, Project, Hours) of the entry e.ID if its revision is
	// ifRevision and it is not approved, and returns it as stored:
	// ErrRevisionMismatch, ErrLocked or ErrNotFound otherwise. e.UpdatedAt,
	// if set, is the time of the change (else the store's clock).
	Update(ctx context.Context, e Entry, ifRevision int64) (Entry, error)
	Get(ctx context.Context, id int64) (Entry, error)
	// List returns entries matching f in ascending id order.
	List(ctx context.Context, f Filter) ([]Entry, error)
	// Delete removes a pending entry: ErrLocked if it is approved.
	Delete(ctx context.Context, id int64) error
	// Approve marks a pending entry approved by approver at the given time;
	// ErrAlreadyApproved if it was approved before (the first approver stays).
	Approve(ctx context.Context, id int64, approver string, at time.Time) (Entry, error)
	// Prune deletes, in one transaction, p.Owner's entries of p.Source with
	// an external id in the window whose external id is not in p.Keep; the
	// approved ones stay, reported with ConflictLocked.
	Prune(ctx context.Context, p Prune) (PruneResult, error)
	// Checkpoint tells what owner has stored of source.
	Checkpoint(ctx context.Context, owner, source string) (Checkpoint, error)
	// SetCheckpoint records at as owner's checkpoint of source, unless a
	// later one is recorded already (a checkpoint never goes back).
	SetCheckpoint(ctx context.Context, owner, source string, at time.Time) error
	// Ping reports whether the store can serve requests (readiness).
	Ping(ctx context.Context) error
	Close() error
}
