//go:build linux

package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// maxPeakRSS is the bound of the memory test, well inside the chart's
// 256 MiB limit (resources.limits.memory).
const maxPeakRSS = 200 << 20

// TestMemoryBoundedUnderLargeUploads runs the real binary (no GOMEMLIMIT)
// and sends it eight uploads at once, each of about 8 MiB and 5,000
// entries, every entry rejected for a long bad value. Large uploads past
// the API's bound get 503 with Retry-After and are sent again, as the
// importer would. Meanwhile one-entry uploads are served as usual. The
// process must stay alive and serving, its peak RSS (VmHWM) under 200 MiB.
func TestMemoryBoundedUnderLargeUploads(t *testing.T) {
	is := newDevIssuer(t)
	bin, policyFile := buildAPI(t, is)
	p := startProcess(t, bin, policyFile, "sqlite://"+filepath.Join(t.TempDir(), "ts.db"))
	p.waitReady(t)
	importer := (&stack{issuer: is}).token(t, "importer")
	batch := badBatch(t)
	t.Logf("baseline VmHWM %d MiB", vmHWM(t, p.cmd.Process.Pid)>>20)

	const uploads = 8
	start := time.Now()
	var (
		wg       sync.WaitGroup
		busy     atomic.Int64
		done     = make(chan struct{})
		smallErr = make(chan error, 1)
		smalls   atomic.Int64
	)
	go func() { // one-entry uploads under load: never refused nor held back
		defer close(smallErr)
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			status, body, err := p.upload(importer, fmt.Sprintf(`{"user_id":"small","date":"2021-04-01T08:00:00Z","project":"P","hours":1,"source":"small","external_id":"%d"}`, i))
			if err != nil || status != http.StatusCreated {
				smallErr <- fmt.Errorf("one-entry upload %d under load: %d %v %v", i, status, body, err)
				return
			}
			smalls.Add(1)
		}
	}()
	for i := range uploads {
		wg.Go(func() {
			for attempt := 0; ; attempt++ {
				status, retryAfter, body, err := rawUpload(p.apiURL, importer, batch)
				if err != nil {
					t.Errorf("upload %d: %v", i, err)
					return
				}
				if status == http.StatusServiceUnavailable && retryAfter > 0 && attempt < 100 {
					busy.Add(1)
					time.Sleep(retryAfter) // the client's backoff, as the server asks
					continue
				}
				if status != http.StatusOK || !strings.Contains(body, fmt.Sprintf(`"rejected":%d`, strings.Count(batch, `"user_id"`))) {
					t.Errorf("upload %d: %d %.300s", i, status, body)
				}
				// About 190 bytes an entry; the value alone was 1.6 KiB, echoed twice.
				if len(body) > len(batch)/4 {
					t.Errorf("upload %d: a %d-byte answer to a %d-byte batch", i, len(body), len(batch))
				}
				return
			}
		})
	}
	wg.Wait()
	close(done)
	require.NoError(t, <-smallErr)
	require.False(t, t.Failed())

	// Alive and serving.
	resp, err := http.Get(p.probeURL + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	status, body, err := p.upload(importer, uploadBatch("after-load", 3))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status, body)

	peak := vmHWM(t, p.cmd.Process.Pid)
	t.Logf("peak RSS (VmHWM) %d MiB after %d uploads of %d bytes in %s (%d answers 503 first); %d one-entry uploads served meanwhile",
		peak>>20, uploads, len(batch), time.Since(start).Round(time.Millisecond), busy.Load(), smalls.Load())
	require.Less(t, peak, int64(maxPeakRSS), "peak RSS %d MiB", peak>>20)
}

// badBatch is an upload of about timesheets.MaxBatchBytes with 5,000
// entries, each with a date of about 1.6 KiB that is no date.
func badBatch(t *testing.T) string {
	t.Helper()
	const n = timesheets.MaxBatchEntries
	entry := func(i int, pad int) string {
		return fmt.Sprintf(`{"user_id":"u-%04d","date":"%s","project":"P","hours":1}`, i, strings.Repeat("D", pad))
	}
	overhead := len(entry(0, 0)) + 1 // with its comma
	pad := (timesheets.MaxBatchBytes-2)/n - overhead
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(entry(i, pad))
	}
	b.WriteByte(']')
	require.LessOrEqual(t, b.Len(), timesheets.MaxBatchBytes)
	require.Greater(t, b.Len(), timesheets.MaxBatchBytes-64<<10)
	return b.String()
}

// rawUpload posts a batch and returns the status, Retry-After and body.
func rawUpload(apiURL, token, batch string) (int, time.Duration, string, error) {
	req, err := http.NewRequest(http.MethodPost, apiURL+"/timesheets/upload", strings.NewReader(batch))
	if err != nil {
		return 0, 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", jsonType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	return resp.StatusCode, time.Duration(secs) * time.Second, string(b), err
}

// vmHWM reads a process's peak resident set size from /proc/PID/status
// (proc(5): "VmHWM: Peak resident set size", in kB).
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	require.NoError(t, sc.Err())
	t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}
