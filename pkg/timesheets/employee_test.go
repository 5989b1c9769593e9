package timesheets_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// Callers as the handlers see them: employees of one app (one client id),
// restricted to their own entries; a manager (an employee id, all entries);
// a machine client; and a user token whose employee claim names nobody.
var (
	emp007   = identity{caller: "iss#sub:u-007", client: "iss#client:spa", employee: "007", restricted: true}
	emp008   = identity{caller: "iss#sub:u-008", client: "iss#client:spa", employee: "008", restricted: true}
	manager  = identity{caller: "iss#sub:u-m1", client: "iss#client:spa", employee: "m1"}
	manager2 = identity{caller: "iss#sub:u-m2", client: "iss#client:spa", employee: "m2"}
	machine  = identity{caller: "iss#client:importer", client: "iss#client:importer"}
	nobody   = identity{caller: "iss#sub:u-x", client: "iss#client:spa", restricted: true}
)

func day(user string, d int) string {
	return fmt.Sprintf(`{"user_id":%q,"date":"2021-04-%02dT08:00:00Z","project":"P","hours":1}`, user, d)
}

// seed stores entries of users straight in the store, returning their ids.
func (s *server) seed(t *testing.T, users ...string) []int64 {
	t.Helper()
	var ids []int64
	for i, u := range users {
		e, err := timesheets.DecodeEntry([]byte(day(u, i+1)))
		require.NoError(t, err)
		e.CreatedBy = "iss#client:loader"
		res, err := s.store.Create(context.Background(), []timesheets.Entry{e})
		require.NoError(t, err)
		ids = append(ids, res[0].ID)
	}
	return ids
}

func (s *server) count(t *testing.T) int {
	t.Helper()
	all, err := s.store.List(context.Background(), timesheets.Filter{Limit: timesheets.MaxPageSize})
	require.NoError(t, err)
	return len(all)
}

func listedUsers(t *testing.T, a answer) []string {
	t.Helper()
	require.Equal(t, http.StatusOK, a.status, a.raw)
	users := []string{}
	for _, it := range a.body["items"].([]any) {
		users = append(users, it.(map[string]any)["user_id"].(string))
	}
	return users
}

// TestEmployeeCreatesOnlyOwnEntries: a restricted caller's entry for
// another user_id is refused (403 alone, a user_id field error in a batch,
// where its neighbours are stored); managers and machines create any.
func TestEmployeeCreatesOnlyOwnEntries(t *testing.T) {
	s := newServer(t, 0)

	a := s.send(t, emp007, "POST", "/timesheets", day("007", 1))
	require.Equal(t, http.StatusCreated, a.status, a.raw)
	require.Equal(t, "iss#sub:u-007", a.body["timesheet"].(map[string]any)["created_by"])

	for _, path := range []string{"/timesheets", "/timesheets/upload"} {
		a = s.send(t, emp007, "POST", path, day("008", 2))
		require.Equal(t, http.StatusForbidden, a.status, a.raw)
		require.Equal(t, "not_own_entry", a.body["error"])
		require.Equal(t, "user_id", a.body["fields"].([]any)[0].(map[string]any)["field"])
		require.NotContains(t, a.raw, "008", "the answer does not echo whom the entry was for")
	}
	require.Equal(t, 1, s.count(t))

	a = s.send(t, emp007, "POST", "/timesheets/upload", "["+day("007", 3)+","+day("008", 4)+","+day("007", 5)+"]")
	require.Equal(t, http.StatusOK, a.status, a.raw)
	rs := results(t, a)
	require.Equal(t, []any{"created", "rejected", "created"}, []any{rs[0]["status"], rs[1]["status"], rs[2]["status"]})
	require.Equal(t, "user_id", rs[1]["errors"].([]any)[0].(map[string]any)["field"])
	require.Equal(t, 3, s.count(t))

	a = s.send(t, emp007, "POST", "/timesheets/upload?all_or_nothing=true", "["+day("007", 6)+","+day("008", 7)+"]")
	require.Equal(t, http.StatusBadRequest, a.status, a.raw)
	require.Equal(t, 3, s.count(t), "all_or_nothing: another's entry stores none")

	// A claim that names nobody matches no user_id.
	a = s.send(t, nobody, "POST", "/timesheets", day("007", 8))
	require.Equal(t, http.StatusForbidden, a.status, a.raw)
	a = s.send(t, nobody, "POST", "/timesheets/upload", "["+day("007", 8)+"]")
	require.Equal(t, "rejected", results(t, a)[0]["status"])

	for _, who := range []identity{manager, machine} {
		a = s.send(t, who, "POST", "/timesheets", day("008", 9))
		require.Equal(t, http.StatusCreated, a.status, a.raw)
		a = s.send(t, who, "POST", "/timesheets/upload", "["+day("008", 10)+"]")
		require.Equal(t, "created", results(t, a)[0]["status"], a.raw)
	}
	require.Equal(t, 7, s.count(t))
}

// TestEmployeeSeesOnlyOwnEntries: a restricted caller lists, reads and
// deletes its own entries only; another's id answers exactly as a missing
// one. Managers and machines see all.
func TestEmployeeSeesOnlyOwnEntries(t *testing.T) {
	s := newServer(t, 0)
	ids := s.seed(t, "007", "008", "007")
	own, other := ids[0], ids[1]
	missing := ids[2] + 100

	require.Equal(t, []string{"007", "007"}, listedUsers(t, s.send(t, emp007, "GET", "/timesheets", "")))
	require.Equal(t, []string{"007", "007"}, listedUsers(t, s.send(t, emp007, "GET", "/timesheets?user_id=007", "")))
	require.Equal(t, []string{}, listedUsers(t, s.send(t, emp007, "GET", "/timesheets?user_id=008", "")))
	require.Equal(t, []string{}, listedUsers(t, s.send(t, nobody, "GET", "/timesheets", "")))
	page := s.send(t, emp007, "GET", "/timesheets?limit=1", "")
	require.Equal(t, []string{"007"}, listedUsers(t, page))
	next := s.send(t, emp007, "GET", "/timesheets?limit=1&cursor="+page.body["next_cursor"].(string), "")
	require.Equal(t, []string{"007"}, listedUsers(t, next))
	require.Nil(t, next.body["next_cursor"], "the second page of two own entries is the last")

	for _, who := range []identity{manager, machine} {
		require.Equal(t, []string{"007", "008", "007"}, listedUsers(t, s.send(t, who, "GET", "/timesheets", "")))
		require.Equal(t, []string{"008"}, listedUsers(t, s.send(t, who, "GET", "/timesheets?user_id=008", "")))
	}

	a := s.send(t, emp007, "GET", fmt.Sprintf("/timesheets/%d", own), "")
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.Equal(t, "007", a.body["user_id"])
	notFound := s.send(t, emp007, "GET", fmt.Sprintf("/timesheets/%d", missing), "")
	require.Equal(t, http.StatusNotFound, notFound.status)
	for _, tc := range []struct {
		who    identity
		method string
		path   string
	}{
		{emp007, "GET", fmt.Sprintf("/timesheets/%d", other)},
		{emp007, "DELETE", fmt.Sprintf("/timesheets/%d", other)},
		{nobody, "GET", fmt.Sprintf("/timesheets/%d", own)},
		{nobody, "DELETE", fmt.Sprintf("/timesheets/%d", own)},
	} {
		a := s.send(t, tc.who, tc.method, tc.path, "")
		require.Equal(t, http.StatusNotFound, a.status, "%s %s: %s", tc.method, tc.path, a.raw)
		require.Equal(t, notFound.raw, a.raw, "another's entry answers as a missing one")
	}
	require.Equal(t, 3, s.count(t), "nothing deleted")

	require.Equal(t, http.StatusNoContent, s.send(t, emp007, "DELETE", fmt.Sprintf("/timesheets/%d", own), "").status)
	require.Equal(t, http.StatusNotFound, s.send(t, emp007, "GET", fmt.Sprintf("/timesheets/%d", own), "").status)
	require.Equal(t, http.StatusOK, s.send(t, manager, "GET", fmt.Sprintf("/timesheets/%d", other), "").status)
	require.Equal(t, http.StatusNoContent, s.send(t, manager, "DELETE", fmt.Sprintf("/timesheets/%d", other), "").status)
}

// TestEmployeeKeysAreTheirOwn: employees of one app share its client id,
// yet one's (source, external_id) is a conflict for another, never a
// "duplicate" pointing to an entry the other may not see.
func TestEmployeeKeysAreTheirOwn(t *testing.T) {
	s := newServer(t, 0)
	a := s.send(t, emp007, "POST", "/timesheets/upload", "["+entry("007", "phone", "k1", 1)+"]")
	require.Equal(t, "created", results(t, a)[0]["status"], a.raw)
	id := results(t, a)[0]["id"]

	a = s.send(t, emp008, "POST", "/timesheets/upload", "["+entry("008", "phone", "k1", 1)+","+entry("008", "phone", "k2", 1)+"]")
	rs := results(t, a)
	require.Equal(t, "conflict", rs[0]["status"], a.raw)
	require.Equal(t, "not_owner", rs[0]["reason"], a.raw)
	require.NotContains(t, rs[0], "id")
	require.Equal(t, "created", rs[1]["status"])
	a = s.send(t, emp008, "POST", "/timesheets", entry("008", "phone", "k1", 1))
	require.Equal(t, http.StatusConflict, a.status, a.raw)

	a = s.send(t, emp007, "POST", "/timesheets/upload", "["+entry("007", "phone", "k1", 1)+"]")
	require.Equal(t, []map[string]any{{"index": float64(0), "status": "duplicate", "id": id, "revision": float64(1)}}, results(t, a), "the owner's retry stays idempotent")
	require.Equal(t, 2, s.count(t))
}

// TestNobodyApprovesTheirOwn: the creator of an entry, and the employee
// whose hours it holds, get 409 own_entry, and the entry stays pending;
// someone else approves it. A restricted caller cannot reach another's.
func TestNobodyApprovesTheirOwn(t *testing.T) {
	s := newServer(t, 0)
	created := s.send(t, machine, "POST", "/timesheets", day("m1", 1))
	require.Equal(t, http.StatusCreated, created.status, created.raw)
	byMachine := int64(created.body["id"].(float64))
	ids := s.seed(t, "007", "008")

	for _, tc := range []struct {
		name string
		who  identity
		id   int64
		want int
	}{
		{"its creator", machine, byMachine, http.StatusConflict},
		{"the employee whose hours they are, a manager", manager, byMachine, http.StatusConflict},
		{"the employee whose hours they are, restricted", emp007, ids[0], http.StatusConflict},
		{"a restricted caller, another's entry", emp007, ids[1], http.StatusNotFound},
		{"a claim naming nobody", nobody, ids[1], http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := s.send(t, tc.who, "POST", fmt.Sprintf("/timesheets/%d/approve", tc.id), "")
			require.Equal(t, tc.want, a.status, a.raw)
			if tc.want == http.StatusConflict {
				require.Equal(t, "own_entry", a.body["error"])
				require.Contains(t, a.body["message"], "someone else must approve it")
			}
			got, err := s.store.Get(context.Background(), tc.id)
			require.NoError(t, err)
			require.Equal(t, timesheets.StatusPending, got.Status)
		})
	}

	a := s.send(t, manager2, "POST", fmt.Sprintf("/timesheets/%d/approve", byMachine), "")
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.Equal(t, manager2.caller, a.body["approved_by"])
	a = s.send(t, machine, "POST", fmt.Sprintf("/timesheets/%d/approve", ids[1]), "")
	require.Equal(t, http.StatusOK, a.status, a.raw)
}
