// Command importer is the Timesheets CronJob: it reads the entries that
// contractors keep in an external tool (files or the tool's HTTP API) and
// uploads them to the Timesheets API as a machine-to-machine client holding
// only the batch:upload scope (OAuth 2.0 client-credentials grant).
//
// Exit status: 0 when every entry is stored (created or already present), 1
// when entries were rejected or could not be uploaded, 2 for a configuration
// mistake (the message says what to fix).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/abc-inc/timesheets/pkg/importer"
	"github.com/abc-inc/timesheets/pkg/tracing"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// run is the whole command: flags in, exit status out. Secrets never reach
// stdout or stderr: both go through a Redactor that learns them as they are read.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	out := &importer.Redactor{W: stdout}
	errw := &importer.Redactor{W: stderr}
	cfg, logLevel, err := parseFlags(args, errw)
	if errors.Is(err, flag.ErrHelp) {
		return importer.ExitOK
	}
	if err != nil {
		fmt.Fprintln(errw, "importer:", err)
		return importer.ExitConfig
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(errw, &slog.HandlerOptions{Level: logLevel}))
	cfg.Redact = func(secret string) { out.Add(secret); errw.Add(secret) }
	cfg.UserAgent = "timesheets-importer"

	shutdownTracing, err := tracing.Setup(ctx, "timesheets-importer")
	if err != nil {
		fmt.Fprintln(errw, "importer: tracing:", err)
		return importer.ExitConfig
	}
	s := importer.Run(ctx, cfg)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	if err := shutdownTracing(sctx); err != nil { // the run's spans are still buffered
		cfg.Logger.Warn("flushing traces failed", "error", err.Error())
	}
	cancel()
	fmt.Fprintln(out, s.Line())
	if s.Err != nil {
		fmt.Fprintln(errw, "importer:", s.Err)
	}
	return s.ExitCode()
}

func parseFlags(args []string, stderr io.Writer) (importer.Config, slog.Level, error) {
	var (
		c        importer.Config
		maps     listFlag
		scopes   listFlag
		comma    string
		logLevel string
		from, to string
		window   string
	)
	fs := flag.NewFlagSet("importer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: importer --source FILE|DIR|URL --api-url URL (--token-url URL | --issuer URL) --audience ID [flags]")
		fs.PrintDefaults()
	}

	fs.StringVar(&c.Source, "source", "", "where the entries are: a .csv, .json (array) or .ndjson/.jsonl file, a directory of them (read in name order), or the https:// URL of the tool's API: a connector's base URL (https://api.harvestapp.com/v2, https://api.tempo.io/4, https://api.track.toggl.com/api/v9, https://api.clockify.me/api/v1) or JSON pages (http-json)")
	fs.StringVar(&c.SourceKind, "source-kind", importer.KindAuto, "what --source is: auto (a file's extension, or a tool's public API host; any other URL is http-json), csv, json, ndjson, http-json, harvest (Harvest API v2), tempo (Tempo Cloud API v4), toggl (Toggl Track API v9) or clockify (Clockify API v1); give it for a connector behind another host (a proxy, a test)")
	fs.StringVar(&c.SourceCredentialsDir, "source-credentials-dir", "", "directory with the tool's credentials, one file each (the mounted Secret): token (every connector), account-id (Harvest), workspace-id (Toggl, Clockify), user-id (Clockify, optional); default for a connector "+importer.DefaultSourceCredentialsDir+"; for http-json, its bearer token")
	fs.StringVar(&c.ItemsPath, "items-path", "", "http-json: where a page's entries are, a dotted path (alternatives separated by |), e.g. time_entries or data.items (default: the page is an array, or has items or data)")
	fs.StringVar(&c.NextPath, "next-path", "", "http-json: where a page's next link is, a dotted path, e.g. links.next (default: next; a Link header rel=next always counts)")
	fs.StringVar(&c.SourceName, "source-name", "", "the entries' source name; with external_id it identifies an entry across runs, so keep it stable (default: derived from --source, e.g. the host or file name)")
	fs.StringVar(&c.SourceTokenFile, "source-token-file", "", "file holding a bearer token for an http-json --source (the older way; connectors read --source-credentials-dir)")
	fs.StringVar(&c.Format, "format", importer.FormatAuto, "file format: auto (by extension), csv, json or ndjson")
	fs.StringVar(&comma, "csv-delimiter", ",", "CSV field delimiter (one character, e.g. ';' or '\\t')")
	fs.Var(&maps, "map", "entry field from source field, as TARGET=SOURCE[|SOURCE...] (comma-separated or repeated), a JSON source field by dotted path to nested ones, e.g. user_id=employee,hours=duration or user_id=user.email; targets: user_type, user_id, date, year, week, project, hours, external_id, source_updated_at; default: the API's names, and external_id from external_id or id (a connector maps its tool's fields)")
	fs.StringVar(&c.UserType, "user-type", "", "user type of records without one: Employee or Contractor (default: the API's, Employee; Contractor for a connector)")

	fs.StringVar(&c.APIURL, "api-url", "", "base URL of the Timesheets API; entries go to POST {api-url}/timesheets/upload")
	fs.BoolVar(&c.AllowHTTPAPI, "allow-http-api", false, "allow a plain http:// --api-url that is not loopback (an in-cluster Service without TLS)")
	fs.BoolVar(&c.AllowHTTPIssuer, "allow-http-issuer", false, "allow a plain http:// --token-url or --issuer that is not loopback (a development issuer on a private network; the client secret or assertion crosses it in clear)")
	fs.StringVar(&c.TokenURL, "token-url", "", "the authorization server's token endpoint, e.g. https://TENANT.auth0.com/oauth/token")
	fs.StringVar(&c.Issuer, "issuer", "", "the authorization server's issuer URL, exactly as its tokens and discovery document name it (Auth0's ends in /), to discover the token endpoint (OIDC discovery) instead of --token-url")
	fs.StringVar(&c.Audience, "audience", "", "the API identifier the token is for, e.g. https://timesheets.abc-inc.example/")
	fs.StringVar(&c.AudienceParam, "audience-param", importer.AudienceParamAudience, "how --audience is sent: audience (Auth0) or resource (RFC 8707)")
	fs.Var(&scopes, "scope", "scopes to request, space-separated or repeated (default: none requested; the server grants the client's)")
	fs.StringVar(&c.CredentialsDir, "credentials-dir", importer.DefaultCredentialsDir, "directory with the files client-id and client-secret, or for private_key_jwt client-id, private-key.pem (RSA or P-256, PEM) and optionally key-id (the mounted Secret)")
	fs.BoolVar(&c.DPoP, "dpop", false, "ask for a DPoP-bound token (RFC 9449) and send every API call with Authorization: DPoP and a proof of the key; the key is dpop-key.pem in --credentials-dir, else one made for the run; a token that is not DPoP-bound is refused")
	fs.StringVar(&c.DPoPAlg, "dpop-alg", "", "--dpop: the algorithm of the key made for the run, one the authorization server and the API's policy both take: "+strings.Join(importer.DPoPAlgorithms, ", ")+" (default "+importer.DefaultDPoPAlg+")")
	fs.StringVar(&c.AssertionAudience, "assertion-audience", "", "private_key_jwt: the aud of the client assertion (default: --issuer, else --token-url); e.g. https://TENANT.auth0.com/ for Auth0 given --token-url")

	fs.IntVar(&c.BatchSize, "batch-size", importer.DefaultBatchSize, "entries per upload (at most 5000)")
	fs.IntVar(&c.InFlight, "max-in-flight", importer.DefaultInFlight, "uploads in flight at once while the next batch is read")
	fs.DurationVar(&c.Timeout, "timeout", importer.DefaultTimeout, "deadline of the whole run, retries included")
	fs.DurationVar(&c.RequestTimeout, "request-timeout", importer.DefaultRequestTimeout, "deadline of one HTTP request")
	fs.IntVar(&c.MaxAttempts, "max-attempts", importer.DefaultMaxAttempts, "tries per request on 429, 5xx and network errors, the first included (0: until --timeout)")
	fs.BoolVar(&c.DryRun, "dry-run", false, "read, map and validate everything and say what would be uploaded; no token is requested and no credentials are read")
	fs.BoolVar(&c.Full, "full", false, "read everything the tool has, not only what changed since the last run (a connector reads incrementally by default)")
	fs.BoolVar(&c.Prune, "prune", false, "delete this client's entries of the source in the window (--from/--to or --window) that the tool no longer has; approved entries are kept and reported as conflicts. Without it nothing is ever deleted")
	fs.StringVar(&from, "from", "", "first day to read (and, with --prune, to reconcile), such as 2026-01-01")
	fs.StringVar(&to, "to", "", "last day to read (and, with --prune, to reconcile), such as 2026-01-31")
	fs.StringVar(&window, "window", "", "the window ending today, in days (such as 35d): instead of --from and --to")
	fs.DurationVar(&c.Overlap, "overlap", importer.DefaultOverlap, "how far before the last stored modification time an incremental run reads again")
	fs.DurationVar(&c.ProgressInterval, "progress-interval", importer.DefaultProgressInterval, "how often to log progress")
	fs.IntVar(&c.ReportLimit, "report-limit", importer.DefaultReportLimit, "rejected entries logged one by one; further ones are only counted")

	fs.StringVar(&c.PushgatewayURL, "pushgateway-url", "", "Prometheus Pushgateway to push timesheets_importer_* metrics to at the end of the run")
	fs.StringVar(&c.PushJob, "push-job", importer.DefaultPushJob, "job name of the pushed metrics")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")

	if err := fs.Parse(args); err != nil {
		return c, 0, err
	}
	if fs.NArg() > 0 {
		return c, 0, fmt.Errorf("unexpected arguments %q; every setting is a flag (see -h)", fs.Args())
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
		return c, 0, fmt.Errorf("--log-level %q: use debug, info, warn or error", logLevel)
	}
	if c.BatchSize < 1 {
		return c, 0, fmt.Errorf("--batch-size %d: use 1 to 5000", c.BatchSize)
	}
	for _, d := range []struct {
		name, v string
		dst     *time.Time
	}{{"--from", from, &c.From}, {"--to", to, &c.To}} {
		if d.v == "" {
			continue
		}
		t, err := time.Parse(time.DateOnly, d.v)
		if err != nil {
			return c, 0, fmt.Errorf("%s %q: give a day such as 2026-01-05", d.name, d.v)
		}
		*d.dst = t
	}
	if window != "" {
		if from != "" || to != "" {
			return c, 0, errors.New("give either --window or --from and --to, not both")
		}
		n, err := strconv.Atoi(strings.TrimSuffix(window, "d"))
		if err != nil || !strings.HasSuffix(window, "d") || n < 1 || n > 3660 {
			return c, 0, fmt.Errorf("--window %q: give a number of days such as 35d", window)
		}
		c.Window = time.Duration(n) * 24 * time.Hour
	}
	if c.InFlight < 1 {
		return c, 0, fmt.Errorf("--max-in-flight %d: use 1 or more", c.InFlight)
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = -1 // Config's zero is the default
	}
	if comma == `\t` {
		comma = "\t"
	}
	r, size := utf8.DecodeRuneInString(comma)
	if size == 0 || size != len(comma) || r == '"' || r == '\n' || r == '\r' {
		return c, 0, fmt.Errorf("--csv-delimiter %q: use one character other than a quote or newline", comma)
	}
	c.CSVComma = r
	m, err := importer.ParseMapping(maps)
	if err != nil {
		return c, 0, err
	}
	c.Mapping = m
	for _, s := range scopes {
		c.Scopes = append(c.Scopes, strings.Fields(s)...)
	}
	return c, lvl, nil
}
