// Package timesheets holds the domain model of the Timesheets API: entries,
// their validation, the storage contract and the HTTP handlers.
package timesheets

import (
	"context"
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

// Years an entry may fall in (inclusive): the dates of day entries, in UTC,
// and the ISO years of week entries. Stored times are Unix nanoseconds,
// which hold 1678 to 2262; a range well inside keeps every entry exact.
const (
	MinYear = 1900
	MaxYear = 2200
)

// Entry is one timesheet entry: hours a user spent on a project on one day
// (Date set) or in one ISO week (Year and Week set).
type Entry struct {
	ID         int64      `json:"id"`
	UserType   string     `json:"user_type"`
	UserID     string     `json:"user_id"`
	Date       *time.Time `json:"date,omitempty"`
	Year       int        `json:"year,omitempty"`
	Week       int        `json:"week,omitempty"`
	Project    string     `json:"project"`
	Hours      float64    `json:"hours"`
	Source     string     `json:"source,omitempty"`
	ExternalID string     `json:"external_id,omitempty"`
	Status     string     `json:"status"`
	CreatedBy  string     `json:"created_by,omitempty"`
	// Owner is the client (auth.Client) that owns the entry's
	// (Source, ExternalID) key; never sent to clients. "" is no known owner.
	Owner      string     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	ApprovedBy string     `json:"approved_by,omitempty"`
	ApprovedAt *time.Time `json:"approved_at,omitempty"`
}

// PeriodStart is the first day the entry covers (UTC midnight): the date of a
// day entry, the Monday of a week entry. Range filters use it.
func (e Entry) PeriodStart() time.Time {
	if e.Date != nil {
		d := e.Date.UTC()
		return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
	}
	return isoWeekStart(e.Year, e.Week)
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

// Errors a Store returns; handlers map them to HTTP statuses.
var (
	ErrNotFound        = errors.New("timesheet not found")
	ErrAlreadyApproved = errors.New("timesheet already approved")
	ErrUnavailable     = errors.New("storage unavailable")
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
	Get(ctx context.Context, id int64) (Entry, error)
	// List returns entries matching f in ascending id order.
	List(ctx context.Context, f Filter) ([]Entry, error)
	Delete(ctx context.Context, id int64) error
	// Approve marks a pending entry approved by approver at the given time;
	// ErrAlreadyApproved if it was approved before (the first approver stays).
	Approve(ctx context.Context, id int64, approver string, at time.Time) (Entry, error)
	// Ping reports whether the store can serve requests (readiness).
	Ping(ctx context.Context) error
	Close() error
}
