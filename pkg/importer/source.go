package importer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/abc-inc/timesheets/pkg/loopback"
)

// Source yields the records of the external tool.
type Source interface {
	// Name is the default source name of its entries.
	Name() string
	// Each calls fn with every record in order and stops at the first error
	// fn returns. The record is only valid during the call.
	Each(ctx context.Context, fn func(*Record) error) error
}

// IncrementalSource is a Source that can be asked for only what changed:
// with SourceOptions.Since set, a source whose Incremental is true yields
// only the entries the tool changed at or after it (give an overlap: tools
// keep their modification times in whole seconds). Deletions are not
// yielded; find them by pruning a window.
type IncrementalSource interface {
	Source
	Incremental() bool
}

// WindowedSource is a Source that honours SourceOptions.From and To: when
// Windowed is true it yields only the entries whose day is within them, so
// that what it yields for a window is all the tool has in it.
type WindowedSource interface {
	Source
	Windowed() bool
}

// RangeSetter is a Source that takes SourceOptions.Since, From and To after
// it is opened: SetRange replaces them (call it before Each). Every
// connector is one; the run learns Since from the API's checkpoint once it
// knows that the source is incremental.
type RangeSetter interface {
	SetRange(since, from, to time.Time) error
}

// Source kinds (--source-kind).
const (
	KindAuto     = "auto" // by --source: a file's extension, or the URL's host
	KindCSV      = FormatCSV
	KindJSON     = FormatJSON
	KindNDJSON   = FormatNDJSON
	KindHTTPJSON = "http-json" // generic JSON pages
	KindHarvest  = "harvest"   // Harvest API v2
	KindTempo    = "tempo"     // Tempo Cloud REST API v4
	KindToggl    = "toggl"     // Toggl Track API v9
	KindClockify = "clockify"  // Clockify API v1
)

// kinds lists the --source-kind values for messages.
var kinds = []string{KindAuto, KindCSV, KindJSON, KindNDJSON, KindHTTPJSON, KindHarvest, KindTempo, KindToggl, KindClockify}

// File formats.
const (
	FormatAuto   = "auto"
	FormatCSV    = "csv"
	FormatJSON   = "json"   // an array of objects, or an object with "items" or "data"
	FormatNDJSON = "ndjson" // one object per line
)

// formatOf tells a file's format by its extension.
func formatOf(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return FormatCSV
	case ".json":
		return FormatJSON
	case ".ndjson", ".jsonl":
		return FormatNDJSON
	}
	return ""
}

// SourceOptions configure OpenSource.
type SourceOptions struct {
	// Kind is a Kind* constant; empty or KindAuto infers it from the
	// source: a file's extension (or Format), or the public API host of a
	// tool the importer knows (api.harvestapp.com is Harvest), any other
	// URL being http-json.
	Kind     string
	Format   string // FormatAuto (by extension) or one format for every file
	CSVComma rune
	Mapping  Mapping // CSV headers are checked against it
	// TokenFile holds the bearer token of an http-json API (optional; the
	// older way, before CredentialsDir).
	TokenFile string
	// CredentialsDir holds the tool's credentials, one file each (token,
	// account-id, workspace-id, user-id; see Source*File). Connectors read
	// it, DefaultSourceCredentialsDir when empty; http-json reads its token
	// there when it is given.
	CredentialsDir string
	// ItemsPath and NextPath say where an http-json page has its entries
	// and its next link: dotted paths through nested objects, alternatives
	// separated by "|" ("time_entries", "links.next"). Empty: an array, or
	// "items" or "data"; and "next" (a Link header rel="next" always counts).
	ItemsPath, NextPath string
	// UserType is the user type connectors give their entries: empty is
	// Contractor (the tools are the contractors').
	UserType string

	// Since asks a connector for only the entries the tool changed at or
	// after it (see IncrementalSource); zero: everything.
	Since time.Time
	// From and To bound the entries' days, both inclusive (see
	// WindowedSource); the date each has in its own location counts. Zero:
	// unbounded.
	From, To time.Time

	HTTPClient *http.Client
	Backoff    *Backoff
	UserAgent  string
	Logger     *slog.Logger // skipped records are logged (debug) and counted (info)
}

// SourceOptions are the options OpenSource takes for c's source, before the
// run adds its HTTP client, backoff, and the incremental and window bounds.
func (c Config) SourceOptions() SourceOptions {
	return SourceOptions{
		Kind: c.SourceKind, Format: c.Format, CSVComma: c.CSVComma, Mapping: c.Mapping,
		TokenFile: c.SourceTokenFile, CredentialsDir: c.SourceCredentialsDir,
		ItemsPath: c.ItemsPath, NextPath: c.NextPath, UserType: c.UserType,
		UserAgent: c.UserAgent, Logger: c.Logger,
	}
}

// OpenSource checks a --source and returns it: the https URL of the tool's
// API (a connector's base URL, or http-json pages), a file, or a directory
// of files read in name order. Mistakes in the options are ConfigErrors
// that say what to fix, and so are missing credentials.
func OpenSource(spec string, o SourceOptions) (Source, error) {
	if o.Format == "" {
		o.Format = FormatAuto
	}
	if o.Kind == "" {
		o.Kind = KindAuto
	}
	if o.CSVComma == 0 {
		o.CSVComma = ','
	}
	switch o.Format {
	case FormatAuto, FormatCSV, FormatJSON, FormatNDJSON:
	default:
		return nil, ConfigError{fmt.Errorf("--format %q: use auto, csv, json or ndjson", o.Format)}
	}
	if !slices.Contains(kinds, o.Kind) {
		return nil, ConfigError{fmt.Errorf("--source-kind %q: use %s", o.Kind, strings.Join(kinds, ", "))}
	}
	isURL := strings.HasPrefix(spec, "https://") || strings.HasPrefix(spec, "http://")
	switch o.Kind {
	case KindAuto:
	case KindCSV, KindJSON, KindNDJSON:
		if isURL {
			return nil, ConfigError{fmt.Errorf("--source-kind %s reads files, but --source is a URL; for a tool's API use --source-kind http-json or its connector (%s, %s, %s, %s)", o.Kind, KindHarvest, KindTempo, KindToggl, KindClockify)}
		}
		if o.Format != FormatAuto && o.Format != o.Kind {
			return nil, ConfigError{fmt.Errorf("--source-kind %s and --format %s disagree; give one of them", o.Kind, o.Format)}
		}
		o.Format = o.Kind
	default:
		if !isURL {
			example := "the tool's https:// API URL"
			if c := connectors[o.Kind]; c != nil {
				example = c.title + "'s https:// API base URL, e.g. " + c.example
			}
			return nil, ConfigError{fmt.Errorf("--source-kind %s reads a tool's API: give --source as %s, not %q", o.Kind, example, spec)}
		}
	}
	if isURL {
		if o.Format != FormatAuto {
			return nil, ConfigError{fmt.Errorf("--format %s is for files; an API's pages are JSON", o.Format)}
		}
		return openHTTPSource(spec, o)
	}
	if o.ItemsPath != "" || o.NextPath != "" {
		return nil, ConfigError{errors.New("--items-path and --next-path are for an http-json --source")}
	}
	if o.TokenFile != "" {
		return nil, ConfigError{errors.New("--source-token-file is for an http(s) --source only")}
	}
	if spec == "" {
		return nil, ConfigError{errors.New("--source is required: a CSV, JSON or NDJSON file, a directory of them, or the https:// URL of the tool's API")}
	}
	st, err := os.Stat(spec)
	if err != nil {
		return nil, ConfigError{fmt.Errorf("--source: %w", err)}
	}
	if st.IsDir() {
		return &dirSource{dir: spec, opts: o}, nil
	}
	f := &fileSource{path: spec, format: o.Format, opts: o}
	if f.format == FormatAuto {
		if f.format = formatOf(spec); f.format == "" {
			return nil, ConfigError{fmt.Errorf("--source %s: cannot tell the format from the extension; name it .csv, .json, .ndjson or .jsonl, or give --format", spec)}
		}
	}
	return f, nil
}

var nameJunk = regexp.MustCompile(`[^a-z0-9._-]+`)

// sourceName turns a file, directory or host name into a source name: lower
// case letters, digits, '.', '_' and '-', at most 64 characters.
func sourceName(s string) string {
	s = nameJunk.ReplaceAllString(strings.ToLower(s), "-")
	s = strings.Trim(s, "-.")
	if len(s) > 64 {
		s = strings.TrimRight(s[:64], "-.")
	}
	if s == "" {
		return "import"
	}
	return s
}

// fileSource is one file.
type fileSource struct {
	path, format string
	opts         SourceOptions
}

func (f *fileSource) Name() string {
	base := filepath.Base(f.path)
	return sourceName(strings.TrimSuffix(base, filepath.Ext(base)))
}

func (f *fileSource) Each(ctx context.Context, fn func(*Record) error) error {
	return readFile(ctx, f.path, f.format, f.opts, fn)
}

func readFile(ctx context.Context, path, format string, o SourceOptions, fn func(*Record) error) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	switch format {
	case FormatCSV:
		return readCSV(ctx, file, path, o.CSVComma, o.Mapping.checkHeader, fn)
	case FormatNDJSON:
		return readNDJSON(ctx, file, path, fn)
	default:
		_, err := readJSON(ctx, file, path, true, fn)
		return err
	}
}

// dirSource is the files of a directory with a known extension, in name
// order. Hidden entries (such as the ..data links of a mounted ConfigMap) and
// subdirectories are skipped.
type dirSource struct {
	dir  string
	opts SourceOptions
}

func (d *dirSource) Name() string {
	abs, err := filepath.Abs(d.dir)
	if err != nil {
		abs = d.dir
	}
	return sourceName(filepath.Base(abs))
}

// Files lists the files the source reads, in order.
func (d *dirSource) Files() ([]string, error) {
	entries, err := os.ReadDir(d.dir) // sorted by name
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		if d.opts.Format == FormatAuto && formatOf(name) == "" {
			continue
		}
		p := filepath.Join(d.dir, name)
		st, err := os.Stat(p) // follows symlinks
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // a dangling link
			}
			return nil, err
		}
		if st.Mode().IsRegular() {
			files = append(files, p)
		}
	}
	return files, nil
}

func (d *dirSource) Each(ctx context.Context, fn func(*Record) error) error {
	files, err := d.Files()
	if err != nil {
		return err
	}
	for _, p := range files {
		format := d.opts.Format
		if format == FormatAuto {
			format = formatOf(p)
		}
		if err := readFile(ctx, p, format, d.opts, fn); err != nil {
			return err
		}
	}
	return nil
}

// checkURL accepts https URLs, and http URLs to a loopback address (tests,
// a local try-out) or, with allowHTTP, anywhere.
func checkURL(flag, raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return ConfigError{fmt.Errorf("%s %q: use an absolute https:// URL", flag, raw)}
	}
	if u.User != nil {
		return ConfigError{fmt.Errorf("%s: put no credentials in the URL", flag)}
	}
	if u.Scheme == "http" && !allowHTTP && !loopback.Host(u.Hostname()) {
		return ConfigError{fmt.Errorf("%s %q: plain http:// is only allowed to a loopback address; use https://", flag, raw)}
	}
	return nil
}
