package importer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

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
	Format   string // FormatAuto (by extension) or one format for every file
	CSVComma rune
	Mapping  Mapping // CSV headers are checked against it
	// TokenFile holds the bearer token of the tool's HTTP API (optional).
	TokenFile  string
	HTTPClient *http.Client
	Backoff    *Backoff
	UserAgent  string
}

// OpenSource checks a --source and returns it: an http(s) URL of the tool's
// API, a file, or a directory of files read in name order. Mistakes in the
// options are ConfigErrors.
func OpenSource(spec string, o SourceOptions) (Source, error) {
	if o.Format == "" {
		o.Format = FormatAuto
	}
	if o.CSVComma == 0 {
		o.CSVComma = ','
	}
	switch o.Format {
	case FormatAuto, FormatCSV, FormatJSON, FormatNDJSON:
	default:
		return nil, ConfigError{fmt.Errorf("--format %q: use auto, csv, json or ndjson", o.Format)}
	}
	if strings.HasPrefix(spec, "https://") || strings.HasPrefix(spec, "http://") {
		return openHTTPSource(spec, o)
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
