package importer

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// The entry fields a mapping fills, in the API's own names.
const (
	FieldUserType   = "user_type"
	FieldUserID     = "user_id"
	FieldDate       = "date"
	FieldYear       = "year"
	FieldWeek       = "week"
	FieldProject    = "project"
	FieldHours      = "hours"
	FieldExternalID = "external_id"
	// FieldSourceUpdatedAt is the tool's own modification time of the entry
	// (RFC 3339): the API never lets an older one overwrite a newer one.
	FieldSourceUpdatedAt = "source_updated_at"
)

// targets lists the entry fields in a fixed order; index with the t* constants.
var targets = [...]string{FieldUserType, FieldUserID, FieldDate, FieldYear, FieldWeek, FieldProject, FieldHours, FieldExternalID, FieldSourceUpdatedAt}

const (
	tUserType = iota
	tUserID
	tDate
	tYear
	tWeek
	tProject
	tHours
	tExternalID
	tSourceUpdatedAt
	numTargets
)

// Mapping says which source field feeds each entry field. A target may name
// several source fields; the first one a record has wins.
type Mapping struct {
	names [numTargets][]string
}

// DefaultMapping maps every entry field from the field of the same name, and
// the external id from "external_id" or else "id".
func DefaultMapping() Mapping {
	var m Mapping
	for i, t := range targets {
		m.names[i] = []string{t}
	}
	m.names[tExternalID] = []string{FieldExternalID, "id"}
	return m
}

// ParseMapping applies overrides to the default mapping. Each spec is a
// comma-separated list of TARGET=SOURCE pairs; SOURCE may list alternatives
// separated by "|", each a field name or, in JSON, a dotted path to a
// nested field ("user_id=user.id"); an empty SOURCE unmaps the target (e.g.
// "external_id=" to always use the content hash).
func ParseMapping(specs []string) (Mapping, error) {
	m := DefaultMapping()
	for _, spec := range specs {
		for _, pair := range strings.Split(spec, ",") {
			pair = strings.TrimSpace(pair)
			if pair == "" {
				continue
			}
			target, source, ok := strings.Cut(pair, "=")
			target = strings.TrimSpace(target)
			i := slices.Index(targets[:], target)
			if !ok || i < 0 {
				return Mapping{}, fmt.Errorf("--map %q: use TARGET=SOURCE with TARGET one of %s", pair, strings.Join(targets[:], ", "))
			}
			var names []string
			for _, n := range strings.Split(source, "|") {
				if n = strings.TrimSpace(n); n != "" {
					names = append(names, n)
				}
			}
			m.names[i] = names
		}
	}
	return m, nil
}

func (m Mapping) isZero() bool {
	for _, n := range m.names {
		if n != nil {
			return false
		}
	}
	return true
}

// String shows the mapping as ParseMapping reads it.
func (m Mapping) String() string {
	parts := make([]string, numTargets)
	for i, t := range targets {
		parts[i] = t + "=" + strings.Join(m.names[i], "|")
	}
	return strings.Join(parts, ",")
}

// Names returns the source fields mapped to an entry field.
func (m Mapping) Names(target string) []string {
	if i := slices.Index(targets[:], target); i >= 0 {
		return m.names[i]
	}
	return nil
}

// required are the targets every entry needs; a CSV header lacking one of
// them is a mapping mistake, not a bad row.
var required = []int{tUserID, tProject, tHours}

// checkHeader reports the required targets for which a CSV header has none of
// the mapped columns.
func (m Mapping) checkHeader(has func(string) bool) error {
	var missing []string
	for _, t := range required {
		found := false
		for _, n := range m.names[t] {
			if has(n) {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, fmt.Sprintf("%s (looked for %s)", targets[t], quoteNames(m.names[t])))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("no column for %s; name the column with --map TARGET=COLUMN", strings.Join(missing, ", "))
	}
	return nil
}

func quoteNames(names []string) string {
	if len(names) == 0 {
		return "nothing: unmapped"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quoteField(n)
	}
	return strings.Join(q, " or ")
}

// Mapper turns records into validated entries. It reuses its scratch space,
// so one Mapper serves one goroutine.
type Mapper struct {
	Mapping    Mapping
	SourceName string
	// UserType is used for records without a user type; empty leaves the
	// API's default (Employee).
	UserType string

	userType, userID, date, project, source, externalID string
	sourceUpdatedAt                                     string
	year, week                                          int
	hours                                               float64
}

// Entry is a mapped, validated entry ready to upload.
type Entry struct {
	Input      timesheets.Input // as it will be sent, Source and ExternalID set
	ExternalID string
	Hashed     bool      // ExternalID is a content hash: the record had no id
	Period     time.Time // its day, or the Monday of its week (UTC)
	// SourceUpdatedAt is the tool's modification time, if the record has one.
	SourceUpdatedAt *time.Time
}

// Map maps and validates one record. Its errors use the same field names
// and messages as the API's.
func (mp *Mapper) Map(f Fields) (Entry, timesheets.ValidationError) {
	var (
		in   timesheets.Input
		errs timesheets.ValidationError
	)
	str := func(t int, dst *string) *string {
		v, name, ok := mp.lookup(f, t)
		if !ok {
			return nil
		}
		switch v.Kind {
		case KindNull:
			return nil
		case KindString, KindNumber:
			if strings.TrimSpace(v.Text) == "" {
				return nil // an empty CSV cell is an absent field
			}
			*dst = v.Text
			return dst
		}
		errs = append(errs, timesheets.FieldError{Field: targets[t], Message: fmt.Sprintf("field %s must be a string, not %s", quoteField(name), v.Text)})
		return nil
	}
	in.UserType = str(tUserType, &mp.userType)
	if in.UserType == nil && mp.UserType != "" {
		mp.userType = mp.UserType
		in.UserType = &mp.userType
	}
	in.UserID = str(tUserID, &mp.userID)
	in.Date = str(tDate, &mp.date)
	in.Project = str(tProject, &mp.project)
	ext := str(tExternalID, &mp.externalID)
	in.SourceUpdatedAt = str(tSourceUpdatedAt, &mp.sourceUpdatedAt)

	integer := func(t int, dst *int) *int {
		v, name, ok := mp.lookup(f, t)
		if !ok || v.Kind == KindNull || (v.Kind == KindString && strings.TrimSpace(v.Text) == "") {
			return nil
		}
		n, err := strconv.Atoi(strings.TrimSpace(v.Text))
		if err != nil || v.Kind == KindOther {
			errs = append(errs, timesheets.FieldError{Field: targets[t], Message: fmt.Sprintf("%s (field %s) is not a whole number", v.Text, quoteField(name))})
			return nil
		}
		*dst = n
		return dst
	}
	in.Year = integer(tYear, &mp.year)
	in.Week = integer(tWeek, &mp.week)

	if v, name, ok := mp.lookup(f, tHours); ok && v.Kind != KindNull && !(v.Kind == KindString && strings.TrimSpace(v.Text) == "") {
		h, err := strconv.ParseFloat(strings.TrimSpace(v.Text), 64)
		switch {
		case err != nil || v.Kind == KindOther:
			errs = append(errs, timesheets.FieldError{Field: FieldHours, Message: fmt.Sprintf("%s (field %s) is not a number", v.Text, quoteField(name))})
		case math.IsNaN(h) || math.IsInf(h, 0):
			errs = append(errs, timesheets.FieldError{Field: FieldHours, Message: fmt.Sprintf("%s (field %s) is not a finite number", v.Text, quoteField(name))})
		default:
			mp.hours = h
			in.Hours = &mp.hours
		}
	}

	mp.source = mp.SourceName
	in.Source = &mp.source
	in.ExternalID = ext

	e, err := in.Validate()
	if err != nil {
		var verrs timesheets.ValidationError
		if !errors.As(err, &verrs) { // Validate returns no other error
			verrs = timesheets.ValidationError{{Message: err.Error()}}
		}
		errs = append(errs, verrs...)
	}
	if len(errs) > 0 {
		return Entry{}, errs
	}
	out := Entry{Input: in, Period: e.PeriodStart(), SourceUpdatedAt: e.SourceUpdatedAt}
	if ext != nil {
		out.ExternalID = *ext
	} else {
		out.ExternalID, out.Hashed = contentID(e), true
	}
	out.Input.ExternalID = &out.ExternalID
	return out, nil
}

// lookup finds the first mapped source field a record has.
func (mp *Mapper) lookup(f Fields, t int) (Value, string, bool) {
	for _, n := range mp.Mapping.names[t] {
		if v, ok := f.Field(n); ok {
			return v, n, true
		}
	}
	return Value{}, "", false
}
