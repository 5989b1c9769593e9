package timesheets_test

import (
	"errors"
	"testing"
	"time"

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
		{"date and week", `{"user_id":"007","date":"2017-05-10T17:40:20Z","year":2017,"week":3,"project":"P","hours":1}`, "date", "not both"},
		{"week 53 in a 52-week year", `{"user_id":"007","year":2017,"week":53,"project":"P","hours":1}`, "week", "1 to 52"},
		{"year without week", `{"user_id":"007","year":2017,"project":"P","hours":1}`, "week", "both year and week"},
		{"unknown field", `{"user_id":"007","date":"2017-05-10T17:40:20Z","project":"P","hours":1,"hourz":2}`, "hourz", "unknown field"},
		{"wrong type", `{"user_id":"007","date":"2017-05-10T17:40:20Z","project":"P","hours":"five"}`, "hours", "must be a JSON number"},
		{"trailing data", `{"user_id":"007","date":"2017-05-10T17:40:20Z","project":"P","hours":1} {}`, "", "unexpected data"},
		{"control characters", "{\"user_id\":\"0\\u00007\",\"date\":\"2017-05-10T17:40:20Z\",\"project\":\"P\",\"hours\":1}", "user_id", "control characters"},
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

// FuzzDecodeEntry: any input either decodes to an entry that passes its own
// limits, or fails with a ValidationError naming what to fix; never a panic.
func FuzzDecodeEntry(f *testing.F) {
	f.Add([]byte(`{"user_id":"007","date":"2017-05-10T17:40:20.095Z","project":"StoreZero","hours":5}`))
	f.Add([]byte(`{"user_type":"Employee","user_id":"007","year":2016,"week":24,"project":"StoreZero","hours":40}`))
	f.Add([]byte(`{"user_id":"007","year":2016,"week":54,"project":"StoreZero","hours":1e308}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"user_id":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := timesheets.DecodeEntry(data)
		if err != nil {
			var ve timesheets.ValidationError
			if !errors.As(err, &ve) || len(ve) == 0 {
				t.Fatalf("error is not a ValidationError: %v", err)
			}
			return
		}
		max := float64(timesheets.MaxHoursPerDay)
		if e.Date == nil {
			max = timesheets.MaxHoursPerWeek
		}
		if e.Hours <= 0 || e.Hours > max || e.UserID == "" || e.Project == "" {
			t.Fatalf("accepted an invalid entry: %+v", e)
		}
	})
}
