package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/abc-inc/timesheets/pkg/apitest"
	"github.com/abc-inc/timesheets/pkg/importer"
	"github.com/abc-inc/timesheets/pkg/importer/toolfake"
)

// binary is the importer built for the subprocess tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "importer-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "importer")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the importer:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// writeCSV writes n rows with tool ids and returns the file's path and size.
func writeCSV(t *testing.T, n int) (string, int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "entries.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<16)
	fmt.Fprintln(w, "id,employee,date,project,duration")
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		fmt.Fprintf(w, "T-%d,c-%d,%s,Project %d,%d.5\n", i, i%97, day.AddDate(0, 0, i%3000).Format(time.RFC3339), i%13, 1+i%8)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	f.Close()
	return path, st.Size()
}

// args are the flags of a run against api with a client's credentials.
func args(t *testing.T, api *apitest.API, client, source string, extra ...string) []string {
	return append([]string{
		"--source", source, "--source-name", "contractor-tool", "--map", "user_id=employee,hours=duration",
		"--api-url", api.URL, "--token-url", api.TokenURL, "--audience", apitest.Audience,
		"--credentials-dir", api.Credentials(t, client), "--log-level", "debug",
	}, extra...)
}

func runInProcess(t *testing.T, args []string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code = run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestImport(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	path, _ := writeCSV(t, 1200)
	code, stdout, stderr := runInProcess(t, args(t, api, apitest.ImporterClient, path))
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.HasPrefix(stdout, "read=1200 created=1200 duplicates=0 updated=0 deleted=0 conflicts=0 rejected=0 failed=0 retries=0 seconds=") || strings.Count(stdout, "\n") != 1 {
		t.Fatalf("stdout %q: want one summary line", stdout)
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if !strings.HasPrefix(line, "{") {
			t.Fatalf("stderr line is not a JSON log record: %q", line)
		}
	}
	if !strings.Contains(stderr, `"msg":"import finished"`) {
		t.Fatalf("no final log record:\n%s", stderr)
	}
	secret := api.Client(t, apitest.ImporterClient).Secret
	if strings.Contains(stdout+stderr, secret) {
		t.Fatal("the client secret was printed")
	}

	code, stdout, _ = runInProcess(t, args(t, api, apitest.ImporterClient, path))
	if code != 0 || !strings.HasPrefix(stdout, "read=1200 created=0 duplicates=1200 ") {
		t.Fatalf("second run: exit %d, %s", code, stdout)
	}
}

// TestPrivateKeyJWT: the command with a private_key_jwt client's Secret
// layout, given the token endpoint (behind apitest's proxy) and the
// assertion's aud; the key is never printed.
func TestPrivateKeyJWT(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	path, _ := writeCSV(t, 50)
	a := args(t, api, apitest.ImporterKeyClient, path, "--assertion-audience", api.Issuer.Issuer())
	code, stdout, stderr := runInProcess(t, a)
	if code != 0 || !strings.HasPrefix(stdout, "read=50 created=50 ") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	key, err := os.ReadFile(filepath.Join(a[slices.Index(a, "--credentials-dir")+1], importer.PrivateKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(key)), "\n")[1:] {
		if !strings.HasPrefix(line, "-----") && strings.Contains(stdout+stderr, line) {
			t.Fatal("the private key was printed")
		}
	}
}

func TestExitCodesAndMessages(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	path, _ := writeCSV(t, 20)

	t.Run("wrong secret", func(t *testing.T) {
		a := args(t, api, apitest.ImporterClient, path)
		dir := a[len(a)-3]
		const secret = "WRONG-secret-value-3e9d27"
		if err := os.WriteFile(filepath.Join(dir, "client-secret"), []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := runInProcess(t, a)
		if code != importer.ExitFailed || !strings.Contains(stderr, "importer: the authorization server refused the token request") ||
			!strings.Contains(stderr, "invalid_client") || !strings.Contains(stderr, "check the client id and secret") {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		if strings.Contains(stdout+stderr, secret) {
			t.Fatal("the secret was printed")
		}
	})
	t.Run("missing scope", func(t *testing.T) {
		code, _, stderr := runInProcess(t, args(t, api, apitest.ReaderClient, path))
		if code != importer.ExitFailed || !strings.Contains(stderr, `lacks the scope "batch:upload"`) {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
	})
	t.Run("credentials dir missing", func(t *testing.T) {
		a := append(args(t, api, apitest.ImporterClient, path), "--credentials-dir", filepath.Join(t.TempDir(), "absent"))
		code, _, stderr := runInProcess(t, a)
		if code != importer.ExitConfig || !strings.Contains(stderr, "client-id does not exist; mount the importer's Secret") {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
	})
	t.Run("bad rows", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.csv")
		os.WriteFile(bad, []byte("id,employee,date,project,duration\nB1,c-1,2024-01-01T00:00:00Z,P,1\nB2,c-1,2024-01-01T00:00:00Z,P,99\n"), 0o644)
		code, stdout, stderr := runInProcess(t, args(t, api, apitest.ImporterClient, bad))
		if code != importer.ExitFailed || !strings.Contains(stdout, "created=1 duplicates=0 updated=0 deleted=0 conflicts=0 rejected=1") ||
			!strings.Contains(stderr, bad+`:3 (record 2)`) || !strings.Contains(stderr, "hours: 99 is out of range") {
			t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
		}
	})
	t.Run("dry run", func(t *testing.T) {
		before := api.TokenRequests()
		code, stdout, _ := runInProcess(t, []string{"--source", path, "--map", "user_id=employee,hours=duration", "--dry-run",
			"--credentials-dir", filepath.Join(t.TempDir(), "absent")})
		if code != 0 || !strings.HasPrefix(stdout, "dry run: read=20 valid=20 rejected=0 batches=1") || api.TokenRequests() != before {
			t.Fatalf("exit %d, %s", code, stdout)
		}
	})
	for name, a := range map[string][]string{
		"unknown flag":     {"--nope"},
		"positional":       {"--source", path, "extra"},
		"bad map":          {"--source", path, "--map", "nobody=x", "--dry-run"},
		"bad delimiter":    {"--source", path, "--csv-delimiter", ";;", "--dry-run"},
		"bad log level":    {"--source", path, "--log-level", "loud", "--dry-run"},
		"no api url":       {"--source", path, "--token-url", api.TokenURL},
		"bad batch size":   {"--source", path, "--batch-size", "0", "--dry-run"},
		"bad format":       {"--source", path, "--format", "xml", "--dry-run"},
		"bad user type":    {"--source", path, "--user-type", "robot", "--dry-run"},
		"audience param":   {"--source", path, "--api-url", api.URL, "--token-url", api.TokenURL, "--audience-param", "x"},
		"plain http token": {"--source", path, "--api-url", api.URL, "--token-url", "http://auth.example.com/oauth/token"},
	} {
		t.Run(name, func(t *testing.T) {
			if code, _, stderr := runInProcess(t, a); code != importer.ExitConfig || !strings.Contains(stderr, "importer: ") {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
		})
	}
	t.Run("help", func(t *testing.T) {
		if code, _, stderr := runInProcess(t, []string{"-h"}); code != 0 || !strings.Contains(stderr, "--credentials-dir") && !strings.Contains(stderr, "-credentials-dir") {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
	})
}

// TestSIGTERMThenRerun kills the real binary half-way with SIGTERM, as
// Kubernetes does, then runs it again: every entry ends up stored once.
func TestSIGTERMThenRerun(t *testing.T) {
	api := apitest.Start(t, apitest.Options{})
	const n = 20_000
	path, _ := writeCSV(t, n)
	a := args(t, api, apitest.ImporterClient, path)

	cmd := exec.Command(binary, a...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for api.UploadRequests() < 4 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if cmd.ProcessState.ExitCode() != importer.ExitFailed {
		t.Fatalf("killed run: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	api.WaitIdle(t) // the batch in flight at SIGTERM may still commit
	stored := api.Count(t)
	t.Logf("SIGTERM after %d uploads began: %s; %d entries stored", api.UploadRequests(), strings.TrimSpace(stdout.String()), stored)
	if stored >= n || !strings.Contains(stderr.String(), "interrupted") {
		t.Fatalf("%d of %d stored; stderr:\n%s", stored, n, stderr.String())
	}

	cmd = exec.Command(binary, a...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, out)
	}
	want := fmt.Sprintf("read=%d created=%d duplicates=%d updated=0 deleted=0 conflicts=0 rejected=0 failed=0", n, n-stored, stored)
	if !strings.HasPrefix(string(out), want) {
		t.Fatalf("rerun: %s\nwant %s", out, want)
	}
	entries := api.Entries(t)
	seen := map[string]bool{}
	for _, e := range entries {
		if seen[e.ExternalID] {
			t.Fatalf("%s stored twice", e.ExternalID)
		}
		seen[e.ExternalID] = true
	}
	if len(entries) != n {
		t.Fatalf("%d entries stored, want %d", len(entries), n)
	}
}

// TestPeakRSS imports 200,000 rows with the real binary and reports its peak
// resident memory and its rate: from a CSV file, and from Harvest's API
// (the fake of pkg/importer/toolfake: 100 pages of 2000, cursor links).
func TestPeakRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("200,000 rows")
	}
	const n = 200_000
	t.Run("csv", func(t *testing.T) {
		api := apitest.Start(t, apitest.Options{})
		path, size := writeCSV(t, n)
		peak, el, out, stderr := peakRSS(t, args(t, api, apitest.ImporterClient, path, "--log-level", "info", "--progress-interval", "5s"))
		t.Logf("%d rows (%.1f MiB CSV) in %.1fs (%.0f entries/s, API in the test process): importer peak RSS %.1f MiB; %s",
			n, float64(size)/(1<<20), el.Seconds(), n/el.Seconds(), float64(peak)/(1<<20), strings.TrimSpace(out))
		checkRun(t, n, peak, el, out, stderr)
	})
	t.Run("harvest", func(t *testing.T) {
		api := apitest.Start(t, apitest.Options{})
		h := toolfake.NewHarvest(t)
		h.StartClockAt(time.Now().Add(-n * time.Second))
		for i := range n {
			h.Put(toolfake.Entry{User: fmt.Sprintf("c-%d", i%97), Project: fmt.Sprintf("Project %d", i%13),
				Day: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i%3000).Format(time.DateOnly), Hours: float64(1 + i%8)})
		}
		peak, el, out, stderr := peakRSS(t, syncArgs(t, api, importer.KindHarvest, h.BaseURL(), h.CredentialsDir(t), "--from", "2024-01-01",
			"--progress-interval", "5s"))
		t.Logf("%d Harvest entries (%d pages) in %.1fs (%.0f entries/s, API and Harvest in the test process): importer peak RSS %.1f MiB; %s",
			n, len(h.Requests()), el.Seconds(), n/el.Seconds(), float64(peak)/(1<<20), strings.TrimSpace(out))
		checkRun(t, n, peak, el, out, stderr)
	})
}

// peakRSS runs the importer binary and samples its peak resident memory.
func peakRSS(t *testing.T, args []string) (peak int64, el time.Duration, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// VmHWM is the peak RSS of the process's own memory. (getrusage's
	// ru_maxrss is no good here: Linux counts the parent's RSS into the
	// child's, as the child shares the parent's memory until exec.)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%v\n%s%s", err, out.String(), errb.String())
			}
			waiting = false
		case <-tick.C:
			if kib, ok := vmHWM(cmd.Process.Pid); ok {
				peak = max(peak, kib<<10)
			}
		}
	}
	if peak == 0 {
		t.Skip("no /proc/PID/status VmHWM on this platform")
	}
	return peak, time.Since(start), out.String(), errb.String()
}

// checkRun checks a run of n new entries and its memory.
func checkRun(t *testing.T, n int, peak int64, el time.Duration, out, stderr string) {
	t.Helper()
	if !strings.HasPrefix(out, fmt.Sprintf("read=%d created=%d ", n, n)) {
		t.Fatalf("summary %s", out)
	}
	if progress := strings.Count(stderr, `"msg":"progress"`); el > 6*time.Second && progress == 0 {
		t.Errorf("no progress lines in a %.0fs run", el.Seconds())
	}
	// A Go program's baseline is ~10 MiB; the batches in flight a few more.
	// Loading the input (and the entries) would take several times its size.
	if peak > 64<<20 {
		t.Fatalf("peak RSS %.1f MiB", float64(peak)/(1<<20))
	}
}

// vmHWM reads a process's peak resident set size in KiB from /proc.
func vmHWM(pid int) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kib int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kib); err == nil {
				return kib, true
			}
		}
	}
	return 0, false
}
