package timesheets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Field limits, so one entry cannot carry unbounded text.
const (
	maxUserID     = 64
	maxProject    = 128
	maxSource     = 64
	maxExternalID = 256
)

// Bounds on what an error quotes back, so that a rejected megabyte is not
// echoed (once per entry of a batch, and again in the message).
const (
	maxQuoted       = 32  // runes of a bad value quoted in a message
	MaxFieldName    = 64  // bytes of a field name in a FieldError
	MaxErrorMessage = 256 // bytes of a FieldError message
)

// Input is an entry as clients send it, in either shape of the Auth0
// scenario: a day ({"date": ...}) or an ISO week ({"year": ..., "week": ...}).
type Input struct {
	UserType   *string  `json:"user_type"`
	UserID     *string  `json:"user_id"`
	Date       *string  `json:"date"`
	Year       *int     `json:"year"`
	Week       *int     `json:"week"`
	Project    *string  `json:"project"`
	Hours      *float64 `json:"hours"`
	Source     *string  `json:"source"`
	ExternalID *string  `json:"external_id"`
	// SourceUpdatedAt is the tool's modification time (RFC 3339).
	SourceUpdatedAt *string `json:"source_updated_at"`
}

// FieldError names a bad field and says what to fix.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every problem of one entry.
type ValidationError []FieldError

func (v ValidationError) Error() string {
	parts := make([]string, len(v))
	for i, f := range v {
		parts[i] = f.Field + ": " + f.Message
	}
	return strings.Join(parts, "; ")
}

// DecodeEntry parses one JSON entry strictly (unknown fields are errors) and
// validates it.
func DecodeEntry(data []byte) (Entry, error) {
	e, _, err := decodeEntry(data)
	return e, err
}

// decodeEntry is DecodeEntry telling also whether data was found to be
// one valid JSON value: false if it is not, or was not looked at as JSON.
func decodeEntry(data []byte) (e Entry, wellFormed bool, err error) {
	// encoding/json would replace invalid UTF-8 with U+FFFD; JSON text must
	// be UTF-8 (RFC 8259 section 8.1), so refuse it instead.
	if !utf8.Valid(data) {
		return Entry{}, false, ValidationError{{Message: "the entry is not valid UTF-8"}}
	}
	var in Input
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		// Decode reads the whole value before it decodes: an error that is
		// not of its syntax leaves the value known to be valid JSON.
		var syntaxErr *json.SyntaxError
		wellFormed := !errors.As(err, &syntaxErr) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF)
		if wellFormed {
			if _, terr := dec.Token(); terr != io.EOF {
				wellFormed = false
			}
		}
		return Entry{}, wellFormed, ValidationError{jsonFieldError(err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return Entry{}, false, ValidationError{{Field: "", Message: "unexpected data after the JSON object"}}
	}
	e, err = in.Validate()
	return e, true, err
}

// jsonFieldError turns a decoding error into a message naming the field.
func jsonFieldError(err error) FieldError {
	f := describeJSONError(err)
	return FieldError{Field: clip(f.Field, MaxFieldName), Message: clip(f.Message, MaxErrorMessage)}
}

func describeJSONError(err error) FieldError {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return FieldError{Field: typeErr.Field, Message: fmt.Sprintf("must be a JSON %s, not %s", jsonKind(typeErr.Type.Kind().String()), clip(typeErr.Value, maxQuoted))}
	case errors.As(err, &syntaxErr):
		return FieldError{Message: fmt.Sprintf("malformed JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return FieldError{Field: clip(name, MaxFieldName), Message: "unknown field; accepted fields are user_type, user_id, date, year, week, project, hours, source, external_id, source_updated_at"}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return FieldError{Message: "the body is empty or truncated; send a JSON object"}
	}
	return FieldError{Message: "malformed JSON: " + err.Error()}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "float64", "int":
		return "number"
	case "string":
		return "string"
	}
	return goKind
}

// Validate checks an input and returns the entry it describes.
func (in Input) Validate() (Entry, error) {
	var errs ValidationError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	e := Entry{UserType: UserTypeEmployee, Status: StatusPending}

	if in.UserType != nil {
		switch *in.UserType {
		case UserTypeEmployee, UserTypeContractor:
			e.UserType = *in.UserType
		default:
			bad("user_type", "unknown user type %s; use Employee or Contractor", quote(*in.UserType))
		}
	}
	e.UserID = text(in.UserID, "user_id", maxUserID, true, bad)
	e.Project = text(in.Project, "project", maxProject, true, bad)
	e.Source = text(in.Source, "source", maxSource, false, bad)
	e.ExternalID = text(in.ExternalID, "external_id", maxExternalID, false, bad)

	weekly := in.Year != nil || in.Week != nil
	switch {
	case in.Date != nil && weekly:
		bad("date", "give either date (a day) or year and week (an ISO week), not both")
	case in.Date != nil:
		d, day, err := parseDate(*in.Date)
		switch {
		case err != nil:
			bad("date", "%s is neither a day such as 2017-05-10 nor an RFC 3339 timestamp such as 2017-05-10T17:40:20.095Z", quote(*in.Date))
		case !inRange(d):
			bad("date", "%s is out of range; %s", quote(*in.Date), rangeHint)
		default:
			e.Date, e.Day = &d, day
		}
	case weekly:
		if in.Year == nil || in.Week == nil {
			bad("week", "a weekly entry needs both year and week")
			break
		}
		e.Year, e.Week = *in.Year, *in.Week
		// The year is checked first, so that isoWeekStart cannot overflow.
		if e.Year < MinYear-1 || e.Year > MaxYear+1 {
			bad("year", "%d is out of range; %s", e.Year, rangeHint)
		} else if _, last := time.Date(e.Year, time.December, 28, 0, 0, 0, 0, time.UTC).ISOWeek(); e.Week < 1 || e.Week > last {
			bad("week", "%d is not an ISO week of %d; use 1 to %d", e.Week, e.Year, last)
		} else if start := isoWeekStart(e.Year, e.Week); !inRange(start) {
			bad("year", "week %d of %d (from Monday %s) is out of range; %s", e.Week, e.Year, start.Format(time.DateOnly), rangeHint)
		}
	default:
		bad("date", "missing; give date (a day) or year and week (an ISO week)")
	}
	if in.SourceUpdatedAt != nil {
		t, err := time.Parse(time.RFC3339Nano, *in.SourceUpdatedAt)
		switch {
		case err != nil:
			bad("source_updated_at", "%s is not an RFC 3339 timestamp such as 2017-05-10T17:40:20Z", quote(*in.SourceUpdatedAt))
		case t.UTC().Year() < MinYear || t.UTC().Year() > MaxYear:
			bad("source_updated_at", "%s is out of range; use a time from %d to %d", quote(*in.SourceUpdatedAt), MinYear, MaxYear)
		default:
			t = t.UTC()
			e.SourceUpdatedAt = &t
		}
	}

	maxHours := float64(MaxHoursPerDay)
	if weekly {
		maxHours = MaxHoursPerWeek
	}
	switch {
	case in.Hours == nil:
		bad("hours", "missing")
	case math.IsNaN(*in.Hours) || *in.Hours <= 0 || *in.Hours > maxHours:
		unit := "a day"
		if weekly {
			unit = "a week"
		}
		bad("hours", "%g is out of range for %s; use more than 0 and at most %g", *in.Hours, unit, maxHours)
	default:
		e.Hours = *in.Hours
	}

	if len(errs) > 0 {
		return Entry{}, errs
	}
	return e, nil
}

// rangeHint says which entries are in range (inRange).
var rangeHint = fmt.Sprintf("an entry's day, or the Monday of its ISO week, must be from %d-01-01 to %d-12-31 (UTC)", MinYear, MaxYear)

// inRange tells whether a period start (a day, or the Monday of an ISO
// week) is within the one range both shapes of entry share.
func inRange(t time.Time) bool {
	y := t.UTC().Year()
	return y >= MinYear && y <= MaxYear
}

func text(v *string, field string, max int, required bool, bad func(string, string, ...any)) string {
	if v == nil || strings.TrimSpace(*v) == "" {
		if required {
			bad(field, "missing")
		}
		return ""
	}
	s := *v
	switch {
	case !utf8.ValidString(s):
		bad(field, "must be valid UTF-8")
	case utf8.RuneCountInString(s) > max:
		bad(field, "longer than %d characters", max)
	case strings.ContainsFunc(s, invisible):
		bad(field, "must not contain control characters (nor zero-width, bidi, line-separator or replacement characters)")
	default:
		return s
	}
	return ""
}

// invisible tells the characters refused in text fields: controls (Cc, C0
// and C1), format characters (Cf: zero-width, bidi overrides and isolates,
// the BOM) and line or paragraph separators, with which one value can be
// made to look like another; and U+FFFD, which encoding/json puts in place
// of an escaped lone surrogate.
func invisible(r rune) bool {
	if r < utf8.RuneSelf {
		return r < 0x20 || r == 0x7f // the ASCII controls, without the tables
	}
	return r == utf8.RuneError || unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
}

// quote quotes at most maxQuoted runes of a client's value for a message.
func quote(s string) string {
	if utf8.RuneCountInString(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	n := 0
	for i := range s {
		if n == maxQuoted {
			return strconv.Quote(s[:i]) + fmt.Sprintf("... (%d bytes)", len(s))
		}
		n++
	}
	return strconv.Quote(s)
}

// clip cuts s to at most max bytes, on a rune boundary.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
