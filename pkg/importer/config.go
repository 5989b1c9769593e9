package importer

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// Config is one importer run.
type Config struct {
	// Source: a file, a directory, or the https:// URL of the tool's API.
	Source          string
	SourceName      string // default: derived from Source
	SourceTokenFile string // bearer token of an http-json API (the older way)
	Format          string // auto, csv, json, ndjson
	CSVComma        rune
	Mapping         Mapping
	UserType        string // for records without one; empty: the API's default

	// SourceKind is --source-kind (KindAuto when empty; see SourceOptions).
	SourceKind string
	// SourceCredentialsDir holds the tool's credentials (token, account-id,
	// workspace-id, user-id); DefaultSourceCredentialsDir for a connector
	// when empty.
	SourceCredentialsDir string
	// ItemsPath and NextPath locate an http-json page's entries and next
	// link (see SourceOptions).
	ItemsPath, NextPath string

	// APIURL is the Timesheets API's base URL.
	APIURL string
	// AllowHTTPAPI allows a plain http:// APIURL that is not loopback (an
	// in-cluster Service without TLS).
	AllowHTTPAPI bool
	// AllowHTTPIssuer allows a plain http:// TokenURL or Issuer that is not
	// loopback: a development issuer on a private network. The client
	// secret then crosses that network in clear.
	AllowHTTPIssuer bool
	TokenURL        string
	Issuer          string
	Audience        string
	AudienceParam   string // audience or resource
	Scopes          []string
	// CredentialsDir holds client-id and client-secret, or client-id and
	// private-key.pem (key-id optional) for private_key_jwt.
	CredentialsDir string
	// AssertionAudience overrides the aud of private_key_jwt assertions
	// (TokenConfig.AssertionAudience).
	AssertionAudience string
	// DPoP asks for a DPoP-bound token (RFC 9449) and proves the key on
	// every call: the key is CredentialsDir/dpop-key.pem, or one made for
	// the run with DPoPAlg.
	DPoP bool
	// DPoPAlg is the algorithm of the run's DPoP key (DefaultDPoPAlg when
	// empty): one the authorization server and the API both take.
	DPoPAlg string

	BatchSize      int
	InFlight       int
	Timeout        time.Duration // the whole run
	RequestTimeout time.Duration // one HTTP request
	MaxAttempts    int           // per request, including the first; negative: until the deadline
	DryRun         bool
	// Full reads everything a connector has, not only what changed since
	// the checkpoint (see sync.go).
	Full bool
	// Prune deletes this client's entries of the source in [From, To] that
	// the source no longer has. From and To are days (UTC), zero when
	// unbounded; they also bound what is read. Window, if set, is the
	// window ending today: From and To are derived from it.
	Prune    bool
	From, To time.Time
	Window   time.Duration
	// Overlap is how far before the checkpoint an incremental run reads
	// (default DefaultOverlap).
	Overlap time.Duration
	// Now is the clock of Window (tests); default time.Now.
	Now              func() time.Time
	ProgressInterval time.Duration
	ReportLimit      int // rejected entries logged one by one; the rest are counted

	PushgatewayURL string
	PushJob        string

	Logger *slog.Logger
	// Redact, if set, is given every secret the run reads (client secret,
	// source token), so that the caller's output writers can hide them.
	Redact    func(secret string)
	UserAgent string
	// HTTPClient, if set, is used for every request (tests); its Timeout is
	// left alone.
	HTTPClient *http.Client
	// Backoff, if set, overrides the retry timing (tests).
	Backoff *Backoff
}

// Defaults.
const (
	DefaultBatchSize        = 500
	DefaultInFlight         = 2
	DefaultTimeout          = 10 * time.Minute
	DefaultRequestTimeout   = time.Minute
	DefaultProgressInterval = 10 * time.Second
	DefaultReportLimit      = 1000
	DefaultPushJob          = "timesheets-importer"
)

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.InFlight == 0 {
		c.InFlight = DefaultInFlight
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	if c.ReportLimit == 0 {
		c.ReportLimit = DefaultReportLimit
	}
	if c.PushJob == "" {
		c.PushJob = DefaultPushJob
	}
	if c.AudienceParam == "" {
		c.AudienceParam = AudienceParamAudience
	}
	if c.CredentialsDir == "" {
		c.CredentialsDir = DefaultCredentialsDir
	}
	if c.Format == "" {
		c.Format = FormatAuto
	}
	if c.Mapping.isZero() {
		c.Mapping = DefaultMapping()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Overlap == 0 {
		c.Overlap = DefaultOverlap
	}
	if c.Window > 0 && c.From.IsZero() && c.To.IsZero() {
		now := time.Now
		if c.Now != nil {
			now = c.Now
		}
		today := timesheets.Day(now())
		c.To, c.From = today, today.Add(-c.Window)
	}
	if !c.From.IsZero() {
		c.From = timesheets.Day(c.From)
	}
	if !c.To.IsZero() {
		c.To = timesheets.Day(c.To)
	}
	return c
}

// validate checks what can be checked without reading anything.
func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Source == "" {
		bad("--source is required: a CSV, JSON or NDJSON file, a directory of them, or the https:// URL of the tool's API")
	}
	if c.BatchSize < 1 || c.BatchSize > timesheets.MaxBatchEntries {
		bad("--batch-size %d: use 1 to %d (the API's limit)", c.BatchSize, timesheets.MaxBatchEntries)
	}
	if c.InFlight < 1 || c.InFlight > 16 {
		bad("--max-in-flight %d: use 1 to 16", c.InFlight)
	}
	if c.Timeout < 0 || c.RequestTimeout < 0 || c.ProgressInterval < 0 {
		bad("durations must not be negative")
	}
	switch c.UserType {
	case "", timesheets.UserTypeEmployee, timesheets.UserTypeContractor:
	default:
		bad("--user-type %q: use %s or %s", c.UserType, timesheets.UserTypeEmployee, timesheets.UserTypeContractor)
	}
	if c.SourceName != "" && (len(c.SourceName) > 64 || strings.ContainsFunc(c.SourceName, func(r rune) bool { return r < 0x20 || r == 0x7f })) {
		bad("--source-name %q: use at most 64 characters and no control characters", c.SourceName)
	}
	switch {
	case c.Window < 0 || c.Overlap < 0:
		bad("--window and --overlap must not be negative")
	case c.Window > 0 && c.Window < 24*time.Hour:
		bad("--window %s: give whole days, such as 35d", c.Window)
	case !c.From.IsZero() && !c.To.IsZero() && c.To.Before(c.From):
		bad("--to %s is before --from %s", c.To.Format(time.DateOnly), c.From.Format(time.DateOnly))
	case c.Prune && (c.From.IsZero() || c.To.IsZero()):
		bad("--prune needs a window: give --from and --to (days such as 2026-01-01), or --window (such as 35d)")
	case c.Prune && c.Full:
		bad("--prune reads its whole window anyway; leave out --full")
	}
	if c.DPoPAlg != "" && !slices.Contains(DPoPAlgorithms, c.DPoPAlg) {
		bad("--dpop-alg %q: use one of %s", c.DPoPAlg, strings.Join(DPoPAlgorithms, ", "))
	}
	if c.PushgatewayURL != "" {
		if err := checkURL("--pushgateway-url", c.PushgatewayURL, true); err != nil {
			errs = append(errs, err)
		}
	}
	if !c.DryRun {
		if c.APIURL == "" {
			bad("--api-url is required: the Timesheets API's base URL, e.g. https://timesheets.example.com")
		} else if err := checkURL("--api-url", c.APIURL, c.AllowHTTPAPI); err != nil {
			errs = append(errs, err)
		}
		switch {
		case c.TokenURL == "" && c.Issuer == "":
			bad("give --token-url (the token endpoint) or --issuer (to discover it)")
		case c.TokenURL != "" && c.Issuer != "":
			bad("give either --token-url or --issuer, not both")
		case c.TokenURL != "":
			if err := checkURL("--token-url", c.TokenURL, c.AllowHTTPIssuer); err != nil {
				errs = append(errs, err)
			}
		default:
			if err := checkURL("--issuer", c.Issuer, c.AllowHTTPIssuer); err != nil {
				errs = append(errs, err)
			}
		}
		switch c.AudienceParam {
		case AudienceParamAudience, AudienceParamResource:
		default:
			bad("--audience-param %q: use audience (Auth0) or resource (RFC 8707)", c.AudienceParam)
		}
	}
	if len(errs) > 0 {
		return ConfigError{errors.Join(errs...)}
	}
	return nil
}
