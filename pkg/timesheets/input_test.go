package timesheets_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/timesheets"
)

func TestDecodeEntry(t *testing.T) {
	cases := []struct {
		name  string
		body  string
		field string // "" = valid
		want  string
	}{
		{"day shape from the seeds", `{"user_id":"007","date":"2017-05-10T17:40:20.095Z","project":"StoreZero","hours":5}`, "", ""},
		{"week shape from the seeds", `{"user_type":"Employee","user_id":"007","year":2016,"week":24,"project":"StoreZero","hours":40}`, "", ""},
		{"contractor with source", `{"user_type":"Contractor","user_id":"c-1","date":"2017-05-10T00:00:00Z","project":"P","hours":8,"source":"harvest","external_id":"42"}`, "", ""},
		{"unknown user_type", `{"user_type":"Intern","user_id":"007","date":"2017-05-10T17:40:20Z","project":"P","hours":5}`, "user_type", "unknown user type"},
		{"hours over a day", `{"user_id":"007","date":"2017-05-10T17:40:20Z","project":"P","hours":25}`, "hours", "for a day"},
		{"hours over a week", `{"user_id":"007","year":2016,"week":24,"project":"P","hours":169}`, "hours", "for a week"},
		{"zero hours", `{"user_id":"007","date":"2017-05-10T17:40:20Z","project":"P","hours":0}`, "hours", "out of range"},
		{"missing hours", `{"user_id":"007","date":"2017-05-10T17:40:20Z","project":"P"}`, "hours", "missing"},
		{"missing user_id", `{"date":"2017-05-10T17:40:20Z","project":"P","hours":1}`, "user_id", "missing"},
		{"missing project", `{"user_id":"007","date":"2017-05-10T17:40:20Z","hours":1}`, "project", "missing"},
		{"missing period", `{"user_id":"007","project":"P","hours":1}`, "date", "missing"},
		{"malformed date", `{"user_id":"007","date":"10/05/2017","project":"P","hours":1}`, "date", "RFC 3339"},
		{"week 52 of 1899 starts in 1899", `{"user_id":"007","year":1899,"week":52,"project":"P","hours":1}`, "year", "Monday 1899-12-25"},
		{"date and week", `{"user_id":"007","date":"2017-05-10T17:40:20Z","year":2017,"week":3,"project":"P","hours":1}`, "date", "not both"},
		{"week 53 in a 52-week year", `{"user_id":"007","year":2017,"week":53,"project":"P","hours":1}`, "week", "1 to 52"},
		{"year without week", `{"user_id":"007","year":2017,"project":"P","hours":1}`, "week", "both year and week"},
		{"unknown field", `{"user_id":"007","date":"2017-05-10T17:40:20Z","project":"P","hours":1,"hourz":2}`, "hourz", "unknown field"},
		{"wrong type", `{"user_id":"007","date":"2017-05-10T17:40:20Z","project":"P","hours":"five"}`, "hours", "must be a JSON number"},
		{"trailing data", `{"user_id":"007","date":"2017-05-10T17:40:20Z","project":"P","hours":1} {}`, "", "unexpected data"},
		{"control characters", "{\"user_id\":\"0\\u00007\",\"date\":\"2017-05-10T17:40:20Z\",\"project\":\"P\",\"hours\":1}", "user_id", "control characters"},
		{"C1 control", entryWith("user_id", "0\u00857"), "user_id", "control characters"},
		{"bidi override", entryWith("user_id", "\u202e700"), "user_id", "control characters"},
		{"bidi isolate", entryWith("project", "P\u2066x\u2069"), "project", "control characters"},
		{"zero-width space", entryWith("user_id", "00\u200b7"), "user_id", "control characters"},
		{"right-to-left mark", entryWith("user_id", "007\u200f"), "user_id", "control characters"},
		{"byte order mark", entryWith("project", "\ufeffP"), "project", "control characters"},
		{"line separator", entryWith("project", "P\u2028"), "project", "control characters"},
		{"lone surrogate escape", entryWith("user_id", "0\\ud8007"), "user_id", "control characters"},
		{"invalid UTF-8", entryWith("user_id", "0\xff7"), "", "not valid UTF-8"},
		{"date before 1900", dated("1899-12-31T23:59:59Z"), "date", "out of range"},
		{"date in year 0 with an offset", dated("0000-01-01T00:00:00+01:00"), "date", "out of range"},
		{"date 1900 in UTC only by its offset", dated("1900-01-01T00:30:00+01:00"), "date", "out of range"},
		{"date after 2200", dated("2201-01-01T00:00:00Z"), "date", "out of range"},
		{"date far past 2262", dated("9999-12-31T23:59:59Z"), "date", "out of range"},
		{"week year before 1900", `{"user_id":"007","year":1899,"week":1,"project":"P","hours":1}`, "year", "from 1900-01-01 to 2200-12-31"},
		{"week year after 2200", `{"user_id":"007","year":2201,"week":2,"project":"P","hours":1}`, "year", "from 1900-01-01 to 2200-12-31"},
		// One range for both shapes: a week counts from its Monday.
		{"week of 2201 starting in 2200", `{"user_id":"007","year":2201,"week":1,"project":"P","hours":1}`, "", ""},
		{"a calendar day", `{"user_id":"007","date":"2026-01-05","project":"P","hours":1}`, "", ""},
		{"a day before 1900", `{"user_id":"007","date":"1899-12-31","project":"P","hours":1}`, "date", "from 1900-01-01 to 2200-12-31"},
		{"not a day", `{"user_id":"007","date":"2026-02-30","project":"P","hours":1}`, "date", "neither a day"},
		{"source_updated_at not a timestamp", `{"user_id":"007","date":"2026-01-05","project":"P","hours":1,"source_updated_at":"2026-01-05"}`, "source_updated_at", "RFC 3339"},
		{"first day", dated("1900-01-01T00:00:00Z"), "", ""},
		{"last instant", dated("2200-12-31T23:59:59.999999999Z"), "", ""},
		{"first week", `{"user_id":"007","year":1900,"week":1,"project":"P","hours":1}`, "", ""},
		{"last week", `{"user_id":"007","year":2200,"week":52,"project":"P","hours":1}`, "", ""},
		{"accents and CJK are fine", entryWith("project", "Café 東京 ✓"), "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := timesheets.DecodeEntry([]byte(tc.body))
			if tc.want == "" {
				require.NoError(t, err)
				require.Equal(t, timesheets.StatusPending, e.Status)
				return
			}
			var ve timesheets.ValidationError
			require.True(t, errors.As(err, &ve), "a ValidationError, got %v", err)
			require.Equal(t, tc.field, ve[0].Field)
			require.Contains(t, ve[0].Message, tc.want)
		})
	}
}

// entryWith is a valid day entry with field set to the JSON string literal
// value (written between quotes as given).
func entryWith(field, value string) string {
	m := map[string]string{"user_id": "007", "project": "P"}
	m[field] = value
	return `{"user_id":"` + m["user_id"] + `","date":"2017-05-10T17:40:20Z","project":"` + m["project"] + `","hours":1}`
}

func dated(date string) string {
	return `{"user_id":"007","date":"` + date + `","project":"P","hours":1}`
}

// TestErrorsQuoteLittle: what a rejected entry echoes is short, however
// long the bad value.
func TestErrorsQuoteLittle(t *testing.T) {
	long := strings.Repeat("x", 6<<10)
	for name, body := range map[string]string{
		"user_type":     `{"user_type":"` + long + `","user_id":"007","date":"2017-05-10T17:40:20Z","project":"P","hours":1}`,
		"date":          dated(long),
		"unknown field": `{"` + long + `":1,"user_id":"007","date":"2017-05-10T17:40:20Z","project":"P","hours":1}`,
		"huge number":   `{"user_id":"007","date":"2017-05-10T17:40:20Z","project":"P","hours":1` + strings.Repeat("1", 6<<10) + `}`,
		"wrong type":    `{"user_id":` + strings.Repeat("1", 6<<10) + `,"date":"2017-05-10T17:40:20Z","project":"P","hours":1}`,
		"syntax":        `{"user_id":"007",` + long,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := timesheets.DecodeEntry([]byte(body))
			var ve timesheets.ValidationError
			require.True(t, errors.As(err, &ve), "a ValidationError, got %v", err)
			for _, f := range ve {
				require.LessOrEqual(t, len(f.Field), timesheets.MaxFieldName)
				require.LessOrEqual(t, len(f.Message), timesheets.MaxErrorMessage)
				require.NotContains(t, f.Message, strings.Repeat("x", 64))
			}
		})
	}
}

func TestDecodeEntryKeepsTheDate(t *testing.T) {
	e, err := timesheets.DecodeEntry([]byte(`{"user_id":"007","date":"2017-05-10T17:40:20.095Z","project":"StoreZero","hours":5}`))
	require.NoError(t, err)
	require.Equal(t, "2017-05-10T17:40:20.095Z", e.Date.Format(time.RFC3339Nano))
	require.Equal(t, timesheets.UserTypeEmployee, e.UserType, "user_type defaults to Employee")
	require.Equal(t, time.Date(2017, 5, 10, 0, 0, 0, 0, time.UTC), e.PeriodStart())
}

func TestPeriodStartOfWeek(t *testing.T) {
	cases := []struct {
		year, week int
		want       string
	}{
		{2016, 24, "2016-06-13"},
		{2021, 1, "2021-01-04"},
		{2020, 53, "2020-12-28"},
		{2019, 1, "2018-12-31"},
	}
	for _, tc := range cases {
		got := timesheets.Entry{Year: tc.year, Week: tc.week}.PeriodStart()
		require.Equal(t, tc.want, got.Format(time.DateOnly))
		y, w := got.ISOWeek()
		require.Equal(t, [2]int{tc.year, tc.week}, [2]int{y, w})
	}
}

// fuzzSeeds are entries that once got through, or near, a limit.
var fuzzSeeds = []string{
	`{"user_id":"007","date":"2017-05-10T17:40:20.095Z","project":"StoreZero","hours":5}`,
	`{"user_type":"Employee","user_id":"007","year":2016,"week":24,"project":"StoreZero","hours":40}`,
	`{"user_id":"007","year":2016,"week":54,"project":"StoreZero","hours":1e308}`,
	`[]`,
	`{"user_id":null}`,
	`{"user_id":"u","date":"0000-01-01T00:00:00+01:00","project":"P","hours":1}`,
	`{"user_id":"u","date":"2262-04-12T00:00:00Z","project":"P","hours":1}`,
	`{"user_id":"u","date":"1677-09-21T00:00:00Z","project":"P","hours":1}`,
	`{"user_id":"u","date":"2200-12-31T23:59:59.999999999-01:00","project":"P","hours":1}`,
	`{"user_id":"u","year":1900,"week":1,"project":"P","hours":168}`,
	"{\"user_id\":\"0\u202e07\",\"date\":\"2017-05-10T17:40:20Z\",\"project\":\"P\",\"hours\":1}",
	"{\"user_id\":\"0\\u200b07\",\"date\":\"2017-05-10T17:40:20Z\",\"project\":\"P\",\"hours\":1}",
	"{\"user_id\":\"0\xc2\x8507\",\"date\":\"2017-05-10T17:40:20Z\",\"project\":\"P\",\"hours\":1}",
	"{\"user_id\":\"0\xff07\",\"date\":\"2017-05-10T17:40:20Z\",\"project\":\"P\",\"hours\":1}",
	`{"user_type":"` + strings.Repeat("T", 300) + `","user_id":"u","date":"` + strings.Repeat("D", 300) + `","project":"P","hours":1}`,
	`{"` + strings.Repeat("k", 300) + `":1}`,
	`{"user_id":"u","date":"2017-05-10T17:40:20Z","project":"P","hours":` + strings.Repeat("9", 400) + `}`,
}

// FuzzDecodeEntry: any input either decodes to an entry that passes every
// validation rule, or fails with a ValidationError naming what to fix in a
// bounded message; never a panic.
func FuzzDecodeEntry(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := timesheets.DecodeEntry(data)
		if err != nil {
			var ve timesheets.ValidationError
			if !errors.As(err, &ve) || len(ve) == 0 {
				t.Fatalf("error is not a ValidationError: %v", err)
			}
			for _, fe := range ve {
				if fe.Message == "" || len(fe.Message) > timesheets.MaxErrorMessage || len(fe.Field) > timesheets.MaxFieldName {
					t.Fatalf("field error out of bounds: field %d bytes, message %d bytes: %q", len(fe.Field), len(fe.Message), fe.Message)
				}
			}
			return
		}
		if msg := violation(e); msg != "" {
			t.Fatalf("accepted an invalid entry (%s): %+v", msg, e)
		}
	})
}

// violation restates the validation rules independently of Validate.
func violation(e timesheets.Entry) string {
	text := func(s string, max int, required bool) bool {
		if required && strings.TrimSpace(s) == "" {
			return false
		}
		return utf8.ValidString(s) && utf8.RuneCountInString(s) <= max && !strings.ContainsFunc(s, func(r rune) bool {
			return r == utf8.RuneError || unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
		})
	}
	max := float64(timesheets.MaxHoursPerDay)
	switch {
	case e.Status != timesheets.StatusPending:
		return "status"
	case e.UserType != timesheets.UserTypeEmployee && e.UserType != timesheets.UserTypeContractor:
		return "user_type"
	case !text(e.UserID, 64, true), !text(e.Project, 128, true), !text(e.Source, 64, false), !text(e.ExternalID, 256, false):
		return "text"
	case e.Date != nil && (e.Year != 0 || e.Week != 0):
		return "both shapes"
	case e.Date != nil && (e.Date.Location() != time.UTC || e.Date.Year() < timesheets.MinYear || e.Date.Year() > timesheets.MaxYear):
		return "date"
	case e.Date == nil:
		max = timesheets.MaxHoursPerWeek
		if e.Year < timesheets.MinYear || e.Year > timesheets.MaxYear || e.Week < 1 {
			return "year/week"
		}
		if y, w := e.PeriodStart().ISOWeek(); y != e.Year || w != e.Week {
			return "week not of its year"
		}
	}
	if !(e.Hours > 0 && e.Hours <= max) {
		return "hours"
	}
	return ""
}

// FuzzSplitArray: the batch decoder's element splitter finds exactly the
// elements encoding/json finds, so every entry of a batch is held to the
// entry limit and decoded alone; and what it calls shaped, with valid
// elements, is valid JSON, so the batch need not be checked as a whole.
func FuzzSplitArray(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte("[" + s + "]"))
		f.Add([]byte("[ " + s + " ,\n" + s + "\t]"))
	}
	f.Add([]byte(`[1, "a,]\"", [2, {"x": "]"}], null, {}, true]`))
	for _, s := range []string{"[,]", "[1,]", "[,1]", "[1,,2]", "[1 2]", "[1}", "[1]x", "[1", "[{}] ]", "[[1],}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		trimmed := bytes.TrimLeft(data, " \t\r\n")
		if len(trimmed) == 0 || trimmed[0] != '[' {
			return
		}
		if !json.Valid(data) {
			elems, total, shaped := timesheets.SplitArray(trimmed, 1<<20)
			for _, e := range elems {
				if !json.Valid(e) {
					return
				}
			}
			if shaped && len(elems) == total {
				t.Fatalf("%q is not JSON, but shaped with valid elements %q", data, elems)
			}
			return
		}
		var want []json.RawMessage
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatal(err)
		}
		got, total, shaped := timesheets.SplitArray(trimmed, len(want))
		if !shaped {
			t.Fatalf("%q is a JSON array, not shaped as one", data)
		}
		if total != len(want) || len(got) != len(want) {
			t.Fatalf("%d elements (%d collected), encoding/json finds %d", total, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("element %d: %q, encoding/json: %q", i, got[i], want[i])
			}
		}
	})
}
