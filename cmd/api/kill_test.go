package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/store/pgtest"
)

// TestKillUnderLoad SIGKILLs the binary while 16 clients upload single
// entries (each request its own entry, grouped into shared transactions by
// the store), restarts it on the same database, and finds every
// acknowledged entry stored once and complete, and nothing stored that no
// client sent. On SQLite (WAL, synchronous=NORMAL: a process crash loses
// no commit) and on PostgreSQL.
func TestKillUnderLoad(t *testing.T) {
	for _, tc := range []struct {
		name  string
		dbURL func(t testing.TB) string
	}{
		{"sqlite", func(t testing.TB) string { return "sqlite://" + filepath.Join(t.TempDir(), "timesheets.db") }},
		{"postgres", pgtest.Database},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dbURL := tc.dbURL(t)
			is := newDevIssuer(t)
			bin, policyFile := buildAPI(t, is)
			minter := &stack{issuer: is}
			importer, admin := minter.token(t, "importer"), minter.token(t, "admin")
			p := startProcess(t, bin, policyFile, dbURL)
			p.waitReady(t)

			const (
				clients = 16
				rounds  = 3
				before  = 1000 // acknowledged entries of a round before its kill
			)
			var acked sync.Map // external id -> id, of all rounds
			for round := range rounds {
				var (
					nAcked  atomic.Int64
					failed  atomic.Int64 // requests the kill cut off
					stopped = make(chan struct{})
					killed  atomic.Bool
					wg      sync.WaitGroup
				)
				for c := range clients {
					wg.Go(func() {
						for i := 0; ; i++ {
							extID := fmt.Sprintf("%d-%d-%d", round, c, i)
							status, body, err := p.upload(importer, killEntry(extID))
							if err != nil {
								failed.Add(1)
								return
							}
							if status != http.StatusCreated || body["id"] == nil {
								if !killed.Load() {
									t.Errorf("upload %s: %d %v", extID, status, body)
								}
								return
							}
							acked.Store(extID, int64(body["id"].(float64)))
							if nAcked.Add(1) == before {
								close(stopped)
							}
						}
					})
				}
				<-stopped
				killed.Store(true)
				p.kill(t)
				wg.Wait()
				require.False(t, t.Failed())
				require.Positive(t, failed.Load(), "no request was in flight at the kill")

				p = startProcess(t, bin, policyFile, dbURL)
				p.waitReady(t)
				stored := p.listSource(t, admin, "kill")
				n := 0
				acked.Range(func(k, v any) bool {
					n++
					e, ok := stored[k.(string)]
					require.True(t, ok, "acknowledged entry %s (id %d) lost", k, v)
					require.Equal(t, v.(int64), e.ID, "entry %s", k)
					return true
				})
				for extID, e := range stored {
					require.Equal(t, killEntryFields(extID), e.fields(), "entry %s stored incomplete or not as sent", extID)
				}
				t.Logf("after round %d: %d acknowledged, %d stored (%d committed but not acknowledged), %d requests cut off by this kill",
					round, n, len(stored), len(stored)-n, failed.Load())
			}
		})
	}
}

// killEntry is the single entry a client of TestKillUnderLoad sends.
func killEntry(extID string) string {
	f := killEntryFields(extID)
	return fmt.Sprintf(`{"user_type":"Contractor","user_id":%q,"date":%q,"project":%q,"hours":%g,"source":"kill","external_id":%q}`,
		f.UserID, f.Date, f.Project, f.Hours, extID)
}

type killFields struct {
	UserID, Date, Project, ExternalID string
	Hours                             float64
}

// killEntryFields derives every field of an entry from its external id,
// so that a stored entry can be checked against what was sent.
func killEntryFields(extID string) killFields {
	var round, c, i int
	_, _ = fmt.Sscanf(extID, "%d-%d-%d", &round, &c, &i)
	return killFields{UserID: fmt.Sprintf("c-%d", c), Date: fmt.Sprintf("2021-05-%02dT08:00:00Z", i%28+1),
		Project: fmt.Sprintf("P-%d", i%10), ExternalID: extID, Hours: float64(i%8) + 0.5}
}

func (e listedEntry) fields() killFields {
	return killFields{UserID: e.UserID, Date: e.Date, Project: e.Project, ExternalID: e.ExternalID, Hours: e.Hours}
}

// listSource returns the entries of one source by external id, failing on
// a key stored twice.
func (p *process) listSource(t *testing.T, token, source string) map[string]listedEntry {
	t.Helper()
	out := map[string]listedEntry{}
	for _, e := range p.entriesOf(t, token, source) {
		_, dup := out[e.ExternalID]
		require.False(t, dup, "entry %s stored twice", e.ExternalID)
		out[e.ExternalID] = e
	}
	return out
}
