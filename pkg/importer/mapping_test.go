package importer

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// fieldsOf builds a JSON record.
func fieldsOf(t *testing.T, js string) Fields {
	t.Helper()
	f := jsonFields{}
	if err := json.Unmarshal([]byte(js), &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestParseMapping(t *testing.T) {
	m, err := ParseMapping([]string{"user_id=employee,hours=duration", "external_id=ticket|id", " project = job "})
	if err != nil {
		t.Fatal(err)
	}
	want := "user_type=user_type,user_id=employee,date=date,year=year,week=week,project=job,hours=duration,external_id=ticket|id,source_updated_at=source_updated_at"
	if m.String() != want {
		t.Fatalf("mapping %s\nwant    %s", m, want)
	}
	if d := DefaultMapping().String(); !strings.Contains(d, "external_id=external_id|id,") {
		t.Fatalf("default %s", d)
	}
	m, err = ParseMapping([]string{"external_id="})
	if err != nil || m.Names(FieldExternalID) != nil {
		t.Fatalf("unmapping external_id: %v %v", m, err)
	}
	for _, bad := range []string{"employee", "userid=x", "=x"} {
		if _, err := ParseMapping([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestMapMatchesAPI(t *testing.T) {
	m, _ := ParseMapping([]string{"user_id=employee,hours=duration"})
	mp := &Mapper{Mapping: m, SourceName: "contractor-tool"}
	cases := []struct {
		name, record string
		wantErr      string // substring of the validation error
	}{
		{"day", `{"employee":"007","date":"2017-05-10T17:40:20.095Z","project":"StoreZero","duration":5,"id":12}`, ""},
		{"week", `{"user_type":"Contractor","employee":"c-7","year":2016,"week":24,"project":"StoreZero","duration":"40"}`, ""},
		{"numbers as strings", `{"employee":7,"date":"2017-05-10T00:00:00+02:00","project":"P","duration":" 7.5 "}`, ""},
		{"extra fields ignored", `{"employee":"a","date":"2017-05-10T00:00:00Z","project":"P","duration":1,"comment":"x","nested":{"a":1}}`, ""},
		{"missing", `{"project":"P"}`, "user_id: missing"},
		{"bad hours", `{"employee":"a","date":"2017-05-10T00:00:00Z","project":"P","duration":"NaN"}`, "not a finite number"},
		{"hours not number", `{"employee":"a","date":"2017-05-10T00:00:00Z","project":"P","duration":true}`, "is not a number"},
		{"object as string", `{"employee":{"id":1},"date":"2017-05-10T00:00:00Z","project":"P","duration":1}`, "must be a string"},
		{"week fraction", `{"employee":"a","year":2016,"week":2.5,"project":"P","duration":1}`, "week: 2.5 (field \"week\") is not a whole number"},
		{"both shapes", `{"employee":"a","date":"2017-05-10T00:00:00Z","year":2016,"week":2,"project":"P","duration":1}`, "not both"},
		{"null is absent", `{"employee":"a","date":null,"year":2016,"week":2,"project":"P","duration":1}`, ""},
		{"user type", `{"user_type":"Robot","employee":"a","date":"2017-05-10T00:00:00Z","project":"P","duration":1}`, "unknown user type"},
		{"control characters", `{"employee":"a\u0007","date":"2017-05-10T00:00:00Z","project":"P","duration":1}`, "control characters"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, errs := mp.Map(fieldsOf(t, c.record))
			if c.wantErr != "" {
				if errs == nil || !strings.Contains(errs.Error(), c.wantErr) {
					t.Fatalf("errors %v, want %q", errs, c.wantErr)
				}
				return
			}
			if errs != nil {
				t.Fatal(errs)
			}
			// What is sent is what the API decodes, to the same entry.
			body := appendEntry(nil, &e.Input)
			got, err := timesheets.DecodeEntry(body)
			if err != nil {
				t.Fatalf("API refuses %s: %v", body, err)
			}
			want, _ := e.Input.Validate()
			if got.UserID != want.UserID || got.Hours != want.Hours || got.Source != "contractor-tool" || got.ExternalID != e.ExternalID {
				t.Fatalf("sent %s, API decoded %+v", body, got)
			}
		})
	}
}

func TestExternalID(t *testing.T) {
	mp := &Mapper{Mapping: DefaultMapping(), SourceName: "s"}
	id := func(js string) (string, bool) {
		t.Helper()
		e, errs := mp.Map(fieldsOf(t, js))
		if errs != nil {
			t.Fatal(errs)
		}
		return e.ExternalID, e.Hashed
	}
	if got, hashed := id(`{"id":123,"user_id":"a","date":"2017-05-10T00:00:00Z","project":"P","hours":1}`); got != "123" || hashed {
		t.Fatalf("tool id: %q %v", got, hashed)
	}
	if got, _ := id(`{"id":"x","external_id":"ext-1","user_id":"a","date":"2017-05-10T00:00:00Z","project":"P","hours":1}`); got != "ext-1" {
		t.Fatalf("external_id before id: %q", got)
	}
	// The hash is stable across field order, time zone and number format.
	a, hashed := id(`{"user_id":"a","date":"2017-05-10T02:00:00+02:00","project":"P","hours":7.5}`)
	b, _ := id(`{"hours":"7.50","project":"P","date":"2017-05-10T00:00:00.000Z","user_id":"a","id":""}`)
	if !hashed || a != b || !strings.HasPrefix(a, "sha256-") || len(a) != len("sha256-")+32 {
		t.Fatalf("hashes %q %q", a, b)
	}
	// Any difference in content changes it.
	for _, js := range []string{
		`{"user_id":"b","date":"2017-05-10T00:00:00Z","project":"P","hours":7.5}`,
		`{"user_id":"a","date":"2017-05-11T00:00:00Z","project":"P","hours":7.5}`,
		`{"user_id":"a","date":"2017-05-10T00:00:00Z","project":"Q","hours":7.5}`,
		`{"user_id":"a","date":"2017-05-10T00:00:00Z","project":"P","hours":7.25}`,
		`{"user_type":"Contractor","user_id":"a","date":"2017-05-10T00:00:00Z","project":"P","hours":7.5}`,
	} {
		if c, _ := id(js); c == a {
			t.Errorf("%s hashes like the original", js)
		}
	}
	// The hash is what contentID gives for the validated entry.
	if a != contentID(mustEntry(t, `{"user_id":"a","date":"2017-05-10T00:00:00Z","project":"P","hours":7.5}`)) {
		t.Fatal("hash differs from contentID")
	}
}

func TestContentIDPinned(t *testing.T) {
	got := contentID(mustEntry(t, `{"user_id":"007","date":"2017-05-10T17:40:20.095Z","project":"StoreZero","hours":5}`))
	// Pinned, so that a change of the recipe, which would import every
	// entry without a tool id once more, does not go unnoticed.
	if pinned := "sha256-14a34f07a7335cb737182dc1af23932b"; got != pinned {
		t.Errorf("the content hash recipe changed (%s, was %s): entries without a tool id would be imported again", got, pinned)
	}
}

func mustEntry(t *testing.T, js string) timesheets.Entry {
	t.Helper()
	e, err := timesheets.DecodeEntry([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestUserTypeDefault(t *testing.T) {
	mp := &Mapper{Mapping: DefaultMapping(), SourceName: "s", UserType: timesheets.UserTypeContractor}
	e, errs := mp.Map(fieldsOf(t, `{"user_id":"a","year":2016,"week":2,"project":"P","hours":40}`))
	if errs != nil || *e.Input.UserType != "Contractor" {
		t.Fatalf("%v %v", e, errs)
	}
	e, _ = mp.Map(fieldsOf(t, `{"user_type":"Employee","user_id":"a","year":2016,"week":2,"project":"P","hours":40}`))
	if *e.Input.UserType != "Employee" {
		t.Fatal("the record's own user type must win")
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "tab\tnl\ncr\r\x01\x1f", "ünïcødé ✓ \u2028", "bad \xff utf8"} {
		b := appendString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q encoded as %s: %v", s, b, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Errorf("%q round-trips to %q, want %q", s, back, wantBack)
		}
	}
}
