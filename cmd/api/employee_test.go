package main

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/apis/auth/v1alpha1"
	"github.com/abc-inc/timesheets/pkg/devissuer"
	"github.com/abc-inc/timesheets/pkg/policy"
)

// TestEmployeesOwnEntries runs the "each employee's own entries"
// through the served stack: a policy naming the employee claim and the
// all-entries scope, user tokens as the development issuer mints them
// (alice an employee, bob her manager) beside the machine clients.
func TestEmployeesOwnEntries(t *testing.T) {
	is := newDevIssuer(t)
	spec := policy.Sample(is.Issuer(), devAudience)
	spec.Identity = &v1alpha1.Identity{EmployeeClaim: devissuer.EmployeeClaim, AllEntriesScope: "read:all-timesheets"}
	s := newStackPolicy(t, true, "sqlite://"+filepath.Join(t.TempDir(), "ts.db"), is, spec)

	users := map[string]devissuer.User{}
	for _, u := range devissuer.BuiltinUsers() {
		users[u.Name] = u
	}
	userToken := func(name string, scopes ...string) string {
		u := users[name]
		u.Scopes = scopes
		tok, err := is.Mint(is.UserClaims(u, devAudience))
		require.NoError(t, err)
		return tok
	}
	// alice holds every route's scope but not read:all-timesheets.
	alice := userToken("alice", "create:timesheets", "batch:upload", "read:timesheets", "delete:timesheets", "approve:timesheets")
	bob := userToken("bob", "read:timesheets", "read:all-timesheets", "approve:timesheets")
	aliceID, bobID := users["alice"].EmployeeID, users["bob"].EmployeeID
	importer, admin := s.token(t, "importer"), s.token(t, "admin")

	entryFor := func(user string, day int) string {
		return fmt.Sprintf(`{"user_id":%q,"date":"2021-04-%02dT08:00:00Z","project":"P","hours":1}`, user, day)
	}
	seeded := s.do(t, "POST", "/timesheets/upload", importer, jsonType,
		"["+entryFor(aliceID, 1)+","+entryFor(bobID, 2)+","+entryFor("X-9", 3)+"]")
	require.Equal(t, 200, seeded.status, seeded.raw)
	var ids []int64
	for _, r := range seeded.body["results"].([]any) {
		ids = append(ids, int64(r.(map[string]any)["id"].(float64)))
	}
	aliceByImporter, bobByImporter, others := ids[0], ids[1], ids[2]
	path := func(id int64) string { return fmt.Sprintf("/timesheets/%d", id) }
	listed := func(token, query string) []string {
		t.Helper()
		r := s.do(t, "GET", "/timesheets"+query, token, "", "")
		require.Equal(t, 200, r.status, r.raw)
		var out []string
		for _, it := range r.body["items"].([]any) {
			out = append(out, it.(map[string]any)["user_id"].(string))
		}
		return out
	}

	t.Run("an employee creates and uploads only her own", func(t *testing.T) {
		r := s.do(t, "POST", "/timesheets", alice, jsonType, entryFor(aliceID, 4))
		require.Equal(t, 201, r.status, r.raw)
		require.Equal(t, is.Issuer()+"#sub:"+users["alice"].Subject, r.body["timesheet"].(map[string]any)["created_by"])
		r = s.do(t, "POST", "/timesheets", alice, jsonType, entryFor("X-9", 5))
		require.Equal(t, 403, r.status, r.raw)
		require.Equal(t, "not_own_entry", r.body["error"])
		require.Empty(t, r.header.Get("WWW-Authenticate"), "the token is fine; the entry is not hers")

		r = s.do(t, "POST", "/timesheets/upload", alice, jsonType, "["+entryFor("X-9", 6)+","+entryFor(aliceID, 7)+"]")
		require.Equal(t, 200, r.status, r.raw)
		rs := r.body["results"].([]any)
		require.Equal(t, "rejected", rs[0].(map[string]any)["status"])
		require.Contains(t, r.raw, `"field":"user_id"`)
		require.Equal(t, "created", rs[1].(map[string]any)["status"])
	})
	t.Run("an employee lists, reads and deletes only her own", func(t *testing.T) {
		require.Equal(t, []string{aliceID, aliceID, aliceID}, listed(alice, ""))
		require.Empty(t, listed(alice, "?user_id=X-9"))
		missing := s.do(t, "GET", path(999999), alice, "", "")
		require.Equal(t, 404, missing.status)
		for _, method := range []string{"GET", "DELETE"} {
			r := s.do(t, method, path(others), alice, "", "")
			require.Equal(t, 404, r.status, r.raw)
			require.Equal(t, missing.raw, r.raw, "another's entry answers as a missing one")
		}
		require.Equal(t, 200, s.do(t, "GET", path(others), admin, "", "").status, "not deleted")
		require.Equal(t, 200, s.do(t, "GET", path(aliceByImporter), alice, "", "").status)
	})
	t.Run("nobody approves their own", func(t *testing.T) {
		mine := s.do(t, "POST", "/timesheets", alice, jsonType, entryFor(aliceID, 8))
		require.Equal(t, 201, mine.status, mine.raw)
		for _, p := range []string{path(aliceByImporter), mine.header.Get("Location")} {
			r := s.do(t, "POST", p+"/approve", alice, "", "")
			require.Equal(t, 409, r.status, r.raw)
			require.Equal(t, "own_entry", r.body["error"])
		}
		require.Equal(t, 404, s.do(t, "POST", path(others)+"/approve", alice, "", "").status)
		r := s.do(t, "POST", path(bobByImporter)+"/approve", bob, "", "")
		require.Equal(t, 409, r.status, "a manager's own hours: %s", r.raw)
		require.Equal(t, "own_entry", r.body["error"])

		r = s.do(t, "POST", path(aliceByImporter)+"/approve", bob, "", "")
		require.Equal(t, 200, r.status, r.raw)
		require.Equal(t, is.Issuer()+"#sub:"+users["bob"].Subject, r.body["approved_by"])
		require.Equal(t, 200, s.do(t, "POST", path(bobByImporter)+"/approve", admin, "", "").status)
	})
	t.Run("a manager and machine clients see all", func(t *testing.T) {
		for _, tok := range []string{bob, admin} {
			got := listed(tok, "")
			require.Subset(t, got, []string{aliceID, bobID, "X-9"})
			require.Equal(t, []string{"X-9"}, listed(tok, "?user_id=X-9"))
			require.Equal(t, 200, s.do(t, "GET", path(others), tok, "", "").status)
		}
		require.Equal(t, 201, s.do(t, "POST", "/timesheets/upload", importer, jsonType, entryFor("X-9", 9)).status, "the importer uploads for anyone")
	})
	t.Run("an employee claim naming nobody sees nothing", func(t *testing.T) {
		c := is.UserClaims(users["carol"], devAudience)
		c["scope"] = "read:timesheets create:timesheets"
		c["permissions"] = []string{"read:timesheets", "create:timesheets"}
		c[devissuer.EmployeeClaim] = 3001 // not a string
		tok, err := is.Mint(c)
		require.NoError(t, err)
		require.Empty(t, listed(tok, ""))
		require.Equal(t, 404, s.do(t, "GET", path(aliceByImporter), tok, "", "").status)
		require.Equal(t, 403, s.do(t, "POST", "/timesheets", tok, jsonType, entryFor("3001", 10)).status)
	})
	t.Run("an employee deletes her own pending entries, not approved ones", func(t *testing.T) {
		locked := s.do(t, "DELETE", path(aliceByImporter), alice, "", "")
		require.Equal(t, 409, locked.status, locked.raw)
		require.Equal(t, "locked", locked.body["error"])
		pending := s.do(t, "POST", "/timesheets", alice, jsonType, entryFor(aliceID, 11))
		require.Equal(t, 201, pending.status, pending.raw)
		require.Len(t, listed(alice, ""), 5)
		require.Equal(t, 204, s.do(t, "DELETE", pending.header.Get("Location"), alice, "", "").status)
		require.Len(t, listed(alice, ""), 4, "the new one is gone")
		require.Equal(t, 404, s.do(t, "GET", pending.header.Get("Location"), admin, "", "").status)
	})
}
