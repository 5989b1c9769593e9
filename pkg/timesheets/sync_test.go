package timesheets_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// synced is an importer's entry of a calendar day with the tool's
// modification time.
func synced(extID string, hours int, updated string) string {
	return fmt.Sprintf(`{"user_type":"Contractor","user_id":"c-1","date":"2026-01-05","project":"P","hours":%d,"source":"harvest","external_id":%q,"source_updated_at":%q}`, hours, extID, updated)
}

func statuses(t *testing.T, a answer) []any {
	t.Helper()
	var out []any
	for _, r := range results(t, a) {
		out = append(out, r["status"])
	}
	return out
}

func counts(a answer, names ...string) []any {
	var out []any
	for _, n := range names {
		out = append(out, a.body[n])
	}
	return out
}

func TestUploadIsAnUpsert(t *testing.T) {
	s := newServer(t, 0)
	up := func(entries ...string) answer {
		a := s.as(t, "importer", "POST", "/timesheets/upload", "["+strings.Join(entries, ",")+"]")
		require.Equal(t, http.StatusOK, a.status, a.raw)
		return a
	}
	first := up(synced("1", 5, "2026-01-05T10:00:00Z"), synced("2", 5, "2026-01-05T10:00:00Z"), synced("3", 5, "2026-01-05T10:00:00Z"))
	require.Equal(t, []any{"created", "created", "created"}, statuses(t, first))
	id1 := results(t, first)[0]["id"].(float64)
	id3 := results(t, first)[2]["id"].(float64)

	got := s.as(t, "reader", "GET", fmt.Sprintf("/timesheets/%d", int(id1)), nil)
	require.Equal(t, http.StatusOK, got.status, got.raw)
	assert.Equal(t, "2026-01-05", got.body["date"], "a day is returned as a day")
	assert.Equal(t, float64(1), got.body["revision"])
	assert.Equal(t, `"1"`, got.header.Get("ETag"))
	assert.Equal(t, "2026-01-05T10:00:00Z", got.body["source_updated_at"])

	approved := s.as(t, "approver", "POST", fmt.Sprintf("/timesheets/%d/approve", int(id3)), "")
	require.Equal(t, http.StatusOK, approved.status, approved.raw)

	// The contractor corrects 5 h to 6 h in the tool; entry 2 is unchanged;
	// entry 3 was approved meanwhile and is edited too.
	second := up(synced("1", 6, "2026-01-06T09:00:00Z"), synced("2", 5, "2026-01-05T10:00:00Z"), synced("3", 7, "2026-01-06T09:00:00Z"))
	require.Equal(t, []any{"updated", "duplicate", "conflict"}, statuses(t, second))
	rs := results(t, second)
	assert.Equal(t, float64(2), rs[0]["revision"])
	assert.Equal(t, "locked", rs[2]["reason"])
	assert.NotContains(t, rs[2], "id")
	assert.Equal(t, []any{float64(0), float64(1), float64(1), float64(1), float64(0), float64(0)},
		counts(second, "created", "updated", "duplicates", "conflicts", "stale", "rejected"))
	for _, leak := range []string{"approver", "caller-of"} {
		assert.NotContains(t, second.raw, leak, "a conflict names nobody")
	}
	got = s.as(t, "reader", "GET", fmt.Sprintf("/timesheets/%d", int(id1)), nil)
	assert.Equal(t, float64(6), got.body["hours"])
	assert.Equal(t, `"2"`, got.header.Get("ETag"))

	// An overlapping run that read the tool before the correction.
	late := up(synced("1", 5, "2026-01-05T10:00:00Z"))
	require.Equal(t, []any{"stale"}, statuses(t, late))
	assert.Equal(t, float64(1), late.body["stale"])
	got = s.as(t, "reader", "GET", fmt.Sprintf("/timesheets/%d", int(id1)), nil)
	assert.Equal(t, float64(6), got.body["hours"], "the older version does not undo the newer")

	// One entry, not in an array: the same upsert.
	one := s.as(t, "importer", "POST", "/timesheets/upload", synced("1", 7, "2026-01-07T09:00:00Z"))
	require.Equal(t, http.StatusOK, one.status, one.raw)
	assert.Equal(t, true, one.body["updated"])
	one = s.as(t, "importer", "POST", "/timesheets/upload", synced("3", 8, "2026-01-07T09:00:00Z"))
	require.Equal(t, http.StatusConflict, one.status, one.raw)
	assert.Equal(t, "locked", one.body["reason"])

	future := s.as(t, "importer", "POST", "/timesheets/upload", "["+synced("9", 1, time.Now().Add(48*time.Hour).UTC().Format(time.RFC3339))+"]")
	require.Equal(t, []any{"rejected"}, statuses(t, future))
	assert.Contains(t, future.raw, "source_updated_at")
}

func TestPatchNeedsTheCurrentRevision(t *testing.T) {
	s := newServer(t, 0)
	created := s.as(t, "app", "POST", "/timesheets", `{"user_id":"007","date":"2026-01-05","project":"P","hours":5}`)
	require.Equal(t, http.StatusCreated, created.status, created.raw)
	path := fmt.Sprintf("/timesheets/%d", int(created.body["id"].(float64)))
	app := identity{caller: "caller-of-app", client: "app"}
	patch := func(ifMatch, body string) answer {
		h := map[string]string{"Content-Type": "application/merge-patch+json"}
		if ifMatch != "" {
			h["If-Match"] = ifMatch
		}
		return s.sendWith(t, app, "PATCH", path, body, h)
	}

	a := patch("", `{"hours":6}`)
	require.Equal(t, http.StatusPreconditionRequired, a.status, a.raw)
	a = patch("*", `{"hours":6}`)
	require.Equal(t, http.StatusPreconditionRequired, a.status, a.raw)
	a = patch(`"1"`, `{"hours":6}`)
	require.Equal(t, http.StatusOK, a.status, a.raw)
	assert.Equal(t, float64(6), a.body["hours"])
	assert.Equal(t, "2026-01-05", a.body["date"])
	assert.Equal(t, `"2"`, a.header.Get("ETag"))

	a = patch(`"1"`, `{"hours":7}`)
	require.Equal(t, http.StatusPreconditionFailed, a.status, "a second writer of revision 1 loses: %s", a.raw)
	assert.Equal(t, `"2"`, a.header.Get("ETag"))

	a = patch(`"2"`, `{"date":null,"year":2026,"week":2,"hours":30}`)
	require.Equal(t, http.StatusOK, a.status, a.raw)
	assert.Nil(t, a.body["date"])
	assert.Equal(t, float64(2), a.body["week"])

	for body, field := range map[string]string{
		`{"hours":200}`:         "hours", // more than a week has
		`{"external_id":"x"}`:   "external_id",
		`{"status":"approved"}`: "status",
		`{"hours":"many"}`:      "hours",
		`{"user_id":null}`:      "user_id",
		`[1]`:                   "",
		`{"date":"2026-01-05"}`: "hours", // a day now, and 30 hours are more than it has
	} {
		a = patch(`"3"`, body)
		require.Equal(t, http.StatusBadRequest, a.status, "%s: %s", body, a.raw)
		if field != "" {
			assert.Contains(t, a.raw, field, body)
		}
	}
	got := s.as(t, "reader", "GET", path, nil)
	assert.Equal(t, float64(3), got.body["revision"], "refused patches change nothing")

	approved := s.as(t, "approver", "POST", path+"/approve", "")
	require.Equal(t, http.StatusOK, approved.status, approved.raw)
	a = patch(`"4"`, `{"hours":1}`)
	require.Equal(t, http.StatusConflict, a.status, a.raw)
	assert.Equal(t, "locked", a.body["error"])
	assert.NotContains(t, a.raw, "caller-of-approver", "not named to a caller that may not read the entry")

	s.api.MayRead = func(context.Context, int64) bool { return true }
	a = patch(`"4"`, `{"hours":1}`)
	require.Equal(t, http.StatusConflict, a.status, a.raw)
	assert.Contains(t, a.raw, "caller-of-approver", "named to a caller that may read it")
}

func TestApprovedEntriesCannotBeDeleted(t *testing.T) {
	s := newServer(t, 0)
	ids := s.seed(t, "007", "008")
	approved := s.as(t, "approver", "POST", fmt.Sprintf("/timesheets/%d/approve", ids[0]), "")
	require.Equal(t, http.StatusOK, approved.status, approved.raw)

	a := s.as(t, "admin", "DELETE", fmt.Sprintf("/timesheets/%d", ids[0]), nil)
	require.Equal(t, http.StatusConflict, a.status, a.raw)
	assert.Equal(t, "locked", a.body["error"])
	assert.NotContains(t, a.raw, "caller-of-approver")
	s.api.MayRead = func(context.Context, int64) bool { return true }
	a = s.as(t, "admin", "DELETE", fmt.Sprintf("/timesheets/%d", ids[0]), nil)
	require.Equal(t, http.StatusConflict, a.status, a.raw)
	assert.Contains(t, a.raw, "approved by caller-of-approver")

	require.Equal(t, http.StatusNoContent, s.as(t, "admin", "DELETE", fmt.Sprintf("/timesheets/%d", ids[1]), nil).status)
	require.Equal(t, 1, s.count(t))
}

func TestCheckpointIsTheCallersOwn(t *testing.T) {
	s := newServer(t, 0)
	a := s.as(t, "importer", "GET", "/timesheets/upload/checkpoint?source=harvest", nil)
	require.Equal(t, http.StatusOK, a.status, a.raw)
	assert.Nil(t, a.body["source_updated_at"])
	assert.Equal(t, float64(0), a.body["entries"])

	require.Equal(t, http.StatusOK, s.as(t, "importer", "POST", "/timesheets/upload",
		"["+synced("1", 5, "2026-01-05T10:00:00Z")+","+synced("2", 5, "2026-01-06T11:30:00.5Z")+"]").status)
	require.Equal(t, http.StatusOK, s.as(t, "other", "POST", "/timesheets/upload", "["+synced("3", 5, "2026-03-01T00:00:00Z")+"]").status)

	a = s.as(t, "importer", "GET", "/timesheets/upload/checkpoint?source=harvest", nil)
	require.Equal(t, http.StatusOK, a.status, a.raw)
	assert.Nil(t, a.body["source_updated_at"], "a run records its checkpoint: stored entries are none")
	assert.Equal(t, float64(2), a.body["entries"], "only the caller's entries count")

	put := func(who, body string) answer { return s.as(t, who, "PUT", "/timesheets/upload/checkpoint", body) }
	a = put("importer", `{"source":"harvest","source_updated_at":"2026-01-06T11:30:00.5Z"}`)
	require.Equal(t, http.StatusOK, a.status, a.raw)
	assert.Equal(t, "2026-01-06T11:30:00.5Z", a.body["source_updated_at"])
	a = put("importer", `{"source":"harvest","source_updated_at":"2026-01-05T00:00:00Z"}`)
	assert.Equal(t, "2026-01-06T11:30:00.5Z", a.body["source_updated_at"], "never back")
	require.Equal(t, http.StatusOK, put("other", `{"source":"harvest","source_updated_at":"2026-03-01T00:00:00Z"}`).status)
	a = s.as(t, "importer", "GET", "/timesheets/upload/checkpoint?source=harvest", nil)
	assert.Equal(t, "2026-01-06T11:30:00.5Z", a.body["source_updated_at"], "the caller's own")
	for _, body := range []string{`{"source":"harvest"}`, `{"source":"","source_updated_at":"2026-01-05T00:00:00Z"}`,
		`{"source":"harvest","source_updated_at":"2026-01-05"}`, `{"source":"harvest","source_updated_at":"2999-01-05T00:00:00Z"}`,
		`{"source":"harvest","source_updated_at":"2026-01-05T00:00:00Z","x":1}`} {
		assert.Equal(t, http.StatusBadRequest, put("importer", body).status, body)
	}

	for _, q := range []string{"", "?source=", "?source=a&source=b", "?source=harvest&since=1"} {
		a = s.as(t, "importer", "GET", "/timesheets/upload/checkpoint"+q, nil)
		assert.Equal(t, http.StatusBadRequest, a.status, "%q: %s", q, a.raw)
	}
	a = s.as(t, "", "GET", "/timesheets/upload/checkpoint?source=harvest", nil)
	assert.Equal(t, http.StatusBadRequest, a.status, "no client, no keys: %s", a.raw)
}

func TestPruneDeletesWhatTheSourceNoLongerHas(t *testing.T) {
	s := newServer(t, 0)
	day := func(extID, date string) string {
		return fmt.Sprintf(`{"user_id":"c-1","date":%q,"project":"P","hours":1,"source":"harvest","external_id":%q}`, date, extID)
	}
	up := s.as(t, "importer", "POST", "/timesheets/upload", "["+strings.Join([]string{
		day("a", "2026-01-01"), day("b", "2026-01-02"), day("c", "2026-01-03"), day("d", "2026-01-04"), day("e", "2026-02-01"),
	}, ",")+"]")
	require.Equal(t, http.StatusOK, up.status, up.raw)
	ids := map[string]float64{}
	for i, k := range []string{"a", "b", "c", "d", "e"} {
		ids[k] = results(t, up)[i]["id"].(float64)
	}
	require.Equal(t, http.StatusOK, s.as(t, "approver", "POST", fmt.Sprintf("/timesheets/%d/approve", int(ids["c"])), "").status)
	// Another client's entry of the same source and window.
	require.Equal(t, http.StatusOK, s.as(t, "other", "POST", "/timesheets/upload", "["+day("z", "2026-01-02")+"]").status)

	req := `{"source":"harvest","from":"2026-01-01","to":"2026-01-31","external_ids":["a","d"]}`
	dry := s.as(t, "importer", "POST", "/timesheets/upload/prune?dry_run=true", req)
	require.Equal(t, http.StatusOK, dry.status, dry.raw)
	assert.Equal(t, []any{float64(1), float64(1), true, true}, counts(dry, "deleted", "conflicts", "complete", "dry_run"))
	require.Equal(t, 6, s.count(t), "a dry run deletes nothing: five of the importer, one of the other")

	a := s.as(t, "importer", "POST", "/timesheets/upload/prune", req)
	require.Equal(t, http.StatusOK, a.status, a.raw)
	rs := results(t, a)
	require.Len(t, rs, 2)
	assert.Equal(t, map[string]any{"id": ids["b"], "external_id": "b", "status": "deleted"}, rs[0])
	assert.Equal(t, "conflict", rs[1]["status"])
	assert.Equal(t, "locked", rs[1]["reason"])
	assert.Equal(t, "c", rs[1]["external_id"])
	assert.NotContains(t, a.raw, "caller-of-approver")
	assert.Equal(t, 5, s.count(t), "b deleted; a and d kept; c approved; e outside the window; z another's")

	for body, status := range map[string]int{
		`{"source":"harvest","from":"2026-01-01","to":"2026-01-31"}`:                                                          400, // no external_ids
		`{"source":"harvest","from":"2026-01-31","to":"2026-01-01","external_ids":[]}`:                                        400,
		`{"source":"harvest","from":"2026-01-01","to":"2027-06-01","external_ids":[]}`:                                        400, // more than 366 days
		`{"source":"","from":"2026-01-01","to":"2026-01-31","external_ids":[]}`:                                               400,
		`{"source":"harvest","from":"01/01/2026","to":"2026-01-31","external_ids":[]}`:                                        400,
		`{"source":"harvest","from":"2026-01-01","to":"2026-01-31","external_ids":[""]}`:                                      400,
		`{"source":"harvest","from":"2026-01-01","to":"2026-01-31","external_ids":[],"x":1}`:                                  400,
		`{"source":"harvest","from":"2026-01-01","to":"2026-01-31","external_ids":["` + strings.Repeat(`x","`, 5000) + `y"]}`: 413,
	} {
		a := s.as(t, "importer", "POST", "/timesheets/upload/prune", body)
		assert.Equal(t, status, a.status, "%.80s: %s", body, a.raw)
	}
	assert.Equal(t, 5, s.count(t), "refused prunes delete nothing")
}
