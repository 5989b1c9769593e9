// Command load is the loopback load run of `make bench`: the seed's request,
// POST /timesheets/upload with one entry, against the real api binary, each
// request an entry of its own (source "load", a fresh external_id), beside
// the same request with ?dry_run=true, which the API authenticates,
// authorizes, decodes and validates alike and does not store. Both run on
// the same process one after the other, so store/dry_run is the storage's
// cost measured in one run.
//
// It starts the binary (-api) with --dev, whose client-credentials token
// (the importer client, batch:upload) it gets from the development issuer,
// on SQLite in a temporary directory or on a PostgreSQL server of its own
// (pkg/store/pgtest). It only ever talks to loopback: a target that is not
// an IP address in 127.0.0.0/8 or ::1 is refused.
//
// Each run is bounded by -duration and -max-requests; it reports req/s,
// the median and 99th percentile latency, and errors by status.
//
//	go build -o /tmp/api ./cmd/api && go run ./hack/load -api /tmp/api -engines sqlite,postgres -conns 1,8,32 -duration 5s
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/abc-inc/timesheets/pkg/store/pgtest"
)

// audience is the API identifier of the development issuer (cmd/api's devAudience).
const audience = "https://timesheets.abc-inc.example/"

type config struct {
	api         string
	target      string
	token       string
	engines     []string
	conns       []int
	modes       []string
	duration    time.Duration
	warmup      time.Duration
	maxRequests int
	shape       string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	var c config
	var engines, conns, modes string
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.StringVar(&c.api, "api", "", "api binary to start with --dev, once per engine")
	fs.StringVar(&c.target, "target", "", "instead of -api: base URL of a running API on loopback (with -token); -engines then only labels it")
	fs.StringVar(&c.token, "token", "", "with -target: a bearer token holding batch:upload")
	fs.StringVar(&engines, "engines", "sqlite", "comma-separated: sqlite (a temporary file), postgres (a temporary server)")
	fs.StringVar(&conns, "conns", "1,8,32", "comma-separated connection counts, one run each")
	fs.StringVar(&modes, "modes", "dry_run,store", "comma-separated: store (POST /timesheets/upload), dry_run (the same with ?dry_run=true)")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "length of each measured run")
	fs.DurationVar(&c.warmup, "warmup", 500*time.Millisecond, "unmeasured load before each run")
	fs.IntVar(&c.maxRequests, "max-requests", 1_000_000, "requests of one run at most (bounds memory too)")
	fs.StringVar(&c.shape, "body", "object", "object (one entry, the seed's body) or array (a batch of one, as the importer sends)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if (c.api == "") == (c.target == "") {
		return c, errors.New("give -api BINARY or -target URL (with -token)")
	}
	if c.target != "" && c.token == "" {
		return c, errors.New("-target needs -token")
	}
	if c.target != "" {
		if err := checkLoopback(c.target); err != nil {
			return c, err
		}
	}
	if c.shape != "object" && c.shape != "array" {
		return c, errors.New("-body: object or array")
	}
	c.engines, c.modes = strings.Split(engines, ","), strings.Split(modes, ",")
	for _, e := range c.engines {
		if e != "sqlite" && e != "postgres" {
			return c, fmt.Errorf("-engines: unknown engine %q", e)
		}
	}
	for _, m := range c.modes {
		if m != "store" && m != "dry_run" {
			return c, fmt.Errorf("-modes: unknown mode %q", m)
		}
	}
	for _, s := range strings.Split(conns, ",") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1024 {
			return c, fmt.Errorf("-conns: %q is not a count from 1 to 1024", s)
		}
		c.conns = append(c.conns, n)
	}
	if c.duration <= 0 || c.duration > 10*time.Minute || c.maxRequests < 1 {
		return c, errors.New("-duration must be more than 0 and at most 10m, -max-requests at least 1")
	}
	return c, nil
}

func run(ctx context.Context, args []string) error {
	c, err := parseFlags(args)
	if err != nil {
		return err
	}
	var results []result
	for _, engine := range c.engines {
		rs, err := runEngine(ctx, c, engine)
		results = append(results, rs...)
		if err != nil {
			if len(results) > 0 {
				report(os.Stdout, results)
			}
			return fmt.Errorf("%s: %w", engine, err)
		}
	}
	report(os.Stdout, results)
	return nil
}

// runEngine runs every connection count and mode against one API process.
func runEngine(ctx context.Context, c config, engine string) ([]result, error) {
	target, token := c.target, c.token
	if c.api != "" {
		api, err := startAPI(ctx, c.api, engine)
		if err != nil {
			return nil, err
		}
		defer api.close()
		target, token = api.url, api.token
	}
	if err := checkLoopback(target); err != nil {
		return nil, err
	}
	var out []result
	for _, n := range c.conns {
		for _, mode := range c.modes {
			r, err := load(ctx, c, target, token, engine, mode, n)
			if err != nil {
				return out, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// checkLoopback refuses a target that is not an IP address on loopback:
// a load run is for this machine only.
func checkLoopback(target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("target %q: %w", target, err)
	}
	ip, err := netip.ParseAddr(u.Hostname())
	if err != nil || !ip.Unmap().IsLoopback() {
		return fmt.Errorf("target %q: only 127.0.0.0/8 or ::1, given as an address, may be loaded", target)
	}
	return nil
}

type apiProcess struct {
	url, token string
	cmd        *exec.Cmd
	done       chan struct{}
	dir        string
	pg         *pgtest.Server
}

// startAPI starts the binary with --dev on loopback ports of its choosing
// and a database of engine, and gets the importer client's token.
func startAPI(ctx context.Context, bin, engine string) (_ *apiProcess, err error) {
	p := &apiProcess{done: make(chan struct{})}
	if p.dir, err = os.MkdirTemp("", "timesheets-load-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	dbURL := "sqlite://" + filepath.Join(p.dir, "ts.db")
	if engine == "postgres" {
		if p.pg, err = pgtest.NewServer(); err != nil {
			return nil, err
		}
		dbURL = p.pg.URL()
	}
	creds := filepath.Join(p.dir, "dev-credentials")
	p.cmd = exec.Command(bin, "--dev", "--dev-issuer-address", "127.0.0.1:0", "--dev-credentials-dir", creds,
		"--listen-address", "127.0.0.1:0", "--health-probe-bind-address", "127.0.0.1:0", "--metrics-bind-address", "127.0.0.1:0",
		"--database-url", dbURL, "--log-level", "info")
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(p.dir, "api.log"))
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	// The log names the bound addresses ("serving") and the token URL
	// (--dev's warning); the rest is kept in api.log, shown on failure.
	found := make(chan map[string]string, 1)
	go func() {
		defer close(p.done)
		defer logFile.Close()
		addrs := map[string]string{}
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(logFile, sc.Text())
			var rec struct {
				Msg, Server, Address string
				TokenURL             string `json:"token_url"`
			}
			if addrs == nil || json.Unmarshal(sc.Bytes(), &rec) != nil {
				continue
			}
			switch {
			case rec.Msg == "serving":
				addrs[rec.Server] = rec.Address
			case rec.TokenURL != "":
				addrs["token"] = rec.TokenURL
			}
			if addrs["api"] != "" && addrs["probes"] != "" && addrs["token"] != "" {
				found <- addrs
				addrs = nil
			}
		}
		_ = p.cmd.Wait()
	}()
	var addrs map[string]string
	select {
	case addrs = <-found:
	case <-p.done:
		return nil, fmt.Errorf("the api exited:\n%s", p.log())
	case <-time.After(60 * time.Second):
		return nil, fmt.Errorf("the api named no addresses within 60s:\n%s", p.log())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.url = "http://" + addrs["api"]
	if err := checkLoopback(p.url); err != nil {
		return nil, err
	}
	if err := waitReady(ctx, "http://"+addrs["probes"]+"/readyz"); err != nil {
		return nil, fmt.Errorf("%w:\n%s", err, p.log())
	}
	if p.token, err = clientToken(ctx, addrs["token"], filepath.Join(creds, "importer")); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *apiProcess) log() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "api.log"))
	return string(b)
}

func (p *apiProcess) close() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	if p.pg != nil {
		_ = p.pg.Close()
	}
	_ = os.RemoveAll(p.dir)
}

func waitReady(ctx context.Context, url string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within 60s", url)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// clientToken gets an access token with the client-credentials grant
// (RFC 6749 section 4.4) for the client whose credentials are in dir.
func clientToken(ctx context.Context, tokenURL, dir string) (string, error) {
	if err := checkLoopback(tokenURL); err != nil {
		return "", err
	}
	read := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		return strings.TrimSpace(string(b)), err
	}
	id, err := read("client-id")
	if err != nil {
		return "", err
	}
	secret, err := read("client-secret")
	if err != nil {
		return "", err
	}
	form := url.Values{"grant_type": {"client_credentials"}, "audience": {audience}, "client_id": {id}, "client_secret": {secret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
		return "", fmt.Errorf("token from %s: status %d, %v", tokenURL, resp.StatusCode, err)
	}
	return tr.AccessToken, nil
}

// result is one run's figures.
type result struct {
	engine, mode string
	conns        int
	requests     int
	elapsed      time.Duration
	p50, p99     time.Duration
	errors       map[string]int // by status, or "transport"
}

func (r result) rate() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// load sends requests on conns connections for c.warmup, then measures
// them for c.duration (or c.maxRequests).
func load(ctx context.Context, c config, target, token, engine, mode string, conns int) (result, error) {
	path := target + "/timesheets/upload"
	want := http.StatusCreated
	if c.shape == "array" {
		want = http.StatusOK
	}
	if mode == "dry_run" {
		path += "?dry_run=true"
		want = http.StatusOK
	}
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	run := strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + mode + "-" + strconv.Itoa(conns)
	var seq, budget atomic.Int64
	budget.Store(int64(c.maxRequests))
	var measuring atomic.Bool
	stop := make(chan struct{})

	type worker struct {
		lat    []time.Duration
		errors map[string]int
	}
	workers := make([]worker, conns)
	var wg sync.WaitGroup
	for w := range workers {
		workers[w].errors = map[string]int{}
		wg.Add(1)
		go func(wk *worker) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				measured := measuring.Load()
				if measured && budget.Add(-1) < 0 {
					return
				}
				e := fmt.Sprintf(`{"user_id":"007","date":"2017-05-10T17:40:20.095Z","project":"StoreZero","hours":5,"source":"load","external_id":"%s-%d"}`, run, seq.Add(1))
				if c.shape == "array" {
					e = "[" + e + "]"
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, path, strings.NewReader(e))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				start := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				d := time.Since(start)
				if !measured {
					continue
				}
				switch {
				case err != nil:
					wk.errors["transport"]++
				case resp.StatusCode != want:
					wk.errors[strconv.Itoa(resp.StatusCode)]++
				}
				wk.lat = append(wk.lat, d)
			}
		}(&workers[w])
	}
	select {
	case <-time.After(c.warmup):
	case <-ctx.Done():
	}
	measuring.Store(true)
	start := time.Now()
	timer := time.NewTimer(c.duration)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-timer.C:
	case <-finished: // the request budget is spent
	case <-ctx.Done():
	}
	close(stop)
	<-finished
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return result{}, err
	}

	r := result{engine: engine, mode: mode, conns: conns, elapsed: elapsed, errors: map[string]int{}}
	var lat []time.Duration
	for _, wk := range workers {
		lat = append(lat, wk.lat...)
		for k, v := range wk.errors {
			r.errors[k] += v
		}
	}
	r.requests = len(lat)
	if len(lat) > 0 {
		slices.Sort(lat)
		r.p50, r.p99 = lat[len(lat)*50/100], lat[min(len(lat)-1, len(lat)*99/100)]
	}
	fmt.Fprintf(os.Stderr, "load: %s %s %d conns: %d requests in %v, %.0f req/s, p50 %v, p99 %v, errors %v\n",
		engine, mode, conns, r.requests, elapsed.Round(time.Millisecond), r.rate(), r.p50, r.p99, r.errors)
	return r, nil
}

// report prints engine x connections: each mode's figures and the ratio
// store/dry_run of their throughputs.
func report(w io.Writer, results []result) {
	type key struct {
		engine string
		conns  int
	}
	byKey := map[key]map[string]result{}
	var order []key
	for _, r := range results {
		k := key{r.engine, r.conns}
		if byKey[k] == nil {
			byKey[k] = map[string]result{}
			order = append(order, k)
		}
		byKey[k][r.mode] = r
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "engine\tconns\tstore req/s\tp50 ms\tp99 ms\tdry_run req/s\tp50 ms\tp99 ms\tstore/dry_run\terrors\t")
	for _, k := range order {
		row := []string{k.engine, strconv.Itoa(k.conns)}
		var errs []string
		for _, mode := range []string{"store", "dry_run"} {
			r, ok := byKey[k][mode]
			if !ok {
				row = append(row, "-", "-", "-")
				continue
			}
			row = append(row, fmt.Sprintf("%.0f", r.rate()), ms(r.p50), ms(r.p99))
			for status, n := range r.errors {
				errs = append(errs, fmt.Sprintf("%s %s:%d", mode, status, n))
			}
		}
		s, d := byKey[k]["store"], byKey[k]["dry_run"]
		if s.requests > 0 && d.requests > 0 {
			row = append(row, fmt.Sprintf("%.2f", s.rate()/d.rate()))
		} else {
			row = append(row, "-")
		}
		slices.Sort(errs)
		if len(errs) == 0 {
			errs = []string{"0"}
		}
		row = append(row, strings.Join(errs, " "))
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	_ = tw.Flush()
}
