package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// pageShape says where the entries and the next page's link are in a JSON
// document: each is a list of alternative dotted paths through nested
// objects ("time_entries", "links.next"). With array, the document may also
// be the array of entries itself.
type pageShape struct {
	items [][]string
	next  [][]string
	array bool
}

// parsePaths reads alternative dotted paths separated by "|".
func parsePaths(spec string) [][]string {
	var out [][]string
	for _, alt := range strings.Split(spec, "|") {
		if alt = strings.TrimSpace(alt); alt != "" {
			out = append(out, strings.Split(alt, "."))
		}
	}
	return out
}

// filePage is the shape of JSON files and of http-json pages by default: an
// array, or an object with "items" or "data" and "next".
var filePage = pageShape{items: parsePaths("items|data"), next: parsePaths("next"), array: true}

// describe names the paths for messages: "items" or "data".
func describe(paths [][]string) string {
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = strconv.Quote(strings.Join(p, "."))
	}
	return strings.Join(q, " or ")
}

// readJSON streams the records of one JSON document: an array of objects, or
// an object whose "items" or "data" member is that array (a page of the
// tool's API). It returns the page's "next" member, if it has one. With
// whole, nothing but white space may follow the document.
func readJSON(ctx context.Context, r io.Reader, name string, whole bool, fn func(*Record) error) (next string, err error) {
	next, _, err = readPage(ctx, r, name, filePage, whole, fn)
	return next, err
}

// readPage streams the records of one JSON document of the given shape and
// returns its next link and how many elements its array of entries had.
func readPage(ctx context.Context, r io.Reader, name string, shape pageShape, whole bool, fn func(*Record) error) (next string, n int, err error) {
	lc := &lineCounter{r: r}
	dec := json.NewDecoder(lc)
	fail := func(err error) error {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: the JSON ends early, at byte %d", name, dec.InputOffset())
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("%s: malformed JSON at line %d: %v", name, lc.lineAt(se.Offset), se)
		}
		var pe *pageError
		if errors.As(err, &pe) {
			return fmt.Errorf("%s: %s", name, pe.msg)
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	tok, err := dec.Token()
	if errors.Is(err, io.EOF) {
		return "", 0, nil // an empty file
	}
	if err != nil {
		return "", 0, fail(err)
	}
	p := &pageWalker{ctx: ctx, dec: dec, lc: lc, name: name, shape: shape, fn: fn}
	switch {
	case tok == json.Delim('[') && shape.array:
		if p.n, err = readArray(ctx, dec, lc, name, fn); err != nil {
			return "", 0, fail(err)
		}
	case len(shape.items) == 0:
		return "", 0, fmt.Errorf("%s: expected a JSON array of entries", name)
	case tok == json.Delim('{'):
		if err := p.object(nil); err != nil {
			return "", 0, fail(err)
		}
		if p.found == nil {
			return "", 0, fmt.Errorf("%s: a JSON object must hold the entries in an %s array", name, describe(shape.items))
		}
	case shape.array:
		return "", 0, fmt.Errorf("%s: expected a JSON array of entries, or an object with %s", name, describe(shape.items))
	default:
		return "", 0, fmt.Errorf("%s: expected a JSON object with the entries in %s", name, describe(shape.items))
	}
	if whole {
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return "", 0, fmt.Errorf("%s: unexpected data after the JSON document (for one object per line, name the file .ndjson)", name)
		}
	}
	return p.next, p.n, nil
}

// pageError is a page that is valid JSON but not of the expected shape.
type pageError struct{ msg string }

func (e *pageError) Error() string { return e.msg }

// pageWalker walks the objects of a page down the paths of its shape,
// streaming the array of entries and skipping everything else.
type pageWalker struct {
	ctx   context.Context
	dec   *json.Decoder
	lc    *lineCounter
	name  string
	shape pageShape
	fn    func(*Record) error

	found []string // the path where the entries were found
	next  string
	n     int
}

// object reads the members of an object whose '{' was just read, and its '}'.
func (p *pageWalker) object(path []string) error {
	for p.dec.More() {
		tok, err := p.dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		kp := append(path[:len(path):len(path)], key)
		switch {
		case hasPath(p.shape.items, kp):
			t, err := p.dec.Token()
			if err != nil {
				return err
			}
			if t == nil {
				continue // "items": null
			}
			if t != json.Delim('[') {
				return &pageError{fmt.Sprintf("%q must be an array of entries", strings.Join(kp, "."))}
			}
			if p.found != nil {
				return &pageError{fmt.Sprintf("the page has both %s and %s; it must have one", strings.Join(p.found, "."), strings.Join(kp, "."))}
			}
			p.found = kp
			if p.n, err = readArray(p.ctx, p.dec, p.lc, p.name, p.fn); err != nil {
				return err
			}
		case hasPath(p.shape.next, kp):
			var v any
			if err := p.dec.Decode(&v); err != nil {
				return err
			}
			switch v := v.(type) {
			case string:
				if p.next == "" {
					p.next = v
				}
			case nil:
			default:
				return &pageError{fmt.Sprintf("%q must be a URL string or null", strings.Join(kp, "."))}
			}
		case isPrefix(p.shape.items, kp) || isPrefix(p.shape.next, kp):
			t, err := p.dec.Token()
			if err != nil {
				return err
			}
			switch t {
			case json.Delim('{'):
				if err := p.object(kp); err != nil {
					return err
				}
			case json.Delim('['):
				if err := skipRest(p.dec); err != nil {
					return err
				}
			}
		default:
			var skip json.RawMessage
			if err := p.dec.Decode(&skip); err != nil {
				return err
			}
		}
	}
	_, err := p.dec.Token() // '}'
	return err
}

// skipRest skips the rest of an array or object whose opening delimiter was
// just read.
func skipRest(dec *json.Decoder) error {
	for depth := 1; depth > 0; {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

func hasPath(paths [][]string, p []string) bool {
	for _, q := range paths {
		if slices.Equal(q, p) {
			return true
		}
	}
	return false
}

func isPrefix(paths [][]string, p []string) bool {
	for _, q := range paths {
		if len(q) > len(p) && slices.Equal(q[:len(p)], p) {
			return true
		}
	}
	return false
}

// readArray reads the elements of an array whose '[' was just read, and its
// ']', and returns how many there were.
func readArray(ctx context.Context, dec *json.Decoder, lc *lineCounter, name string, fn func(*Record) error) (int, error) {
	var raw json.RawMessage
	fields := jsonFields{}
	rec := Record{Loc: Location{Source: name}}
	n := 0
	for ; dec.More(); n++ {
		if (n+1)%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return n, err
			}
		}
		if err := dec.Decode(&raw); err != nil {
			return n, err
		}
		rec.Loc.Record = n + 1
		rec.Loc.Line = lc.lineAt(dec.InputOffset()) - bytes.Count(raw, newline)
		objectRecord(&rec, raw, fields)
		if err := fn(&rec); err != nil {
			return n, err
		}
	}
	_, err := dec.Token() // ']'
	return n, err
}

var newline = []byte{'\n'}

// objectRecord fills rec from one encoded JSON value, which should be an object.
func objectRecord(rec *Record, raw []byte, fields jsonFields) {
	clear(fields)
	rec.Fields, rec.Err = nil, nil
	if len(raw) == 0 || raw[0] != '{' {
		rec.Err = errors.New("the record is not a JSON object")
		return
	}
	if err := json.Unmarshal(raw, &fields); err != nil {
		rec.Err = fmt.Errorf("malformed JSON: %w", err)
		return
	}
	rec.Fields = fields
}

// lineCounter counts lines in what a json.Decoder reads, so that a byte
// offset of the decoder can be turned into a line number. The decoder reads
// ahead, so the offsets of newlines not yet passed are kept; queries must not
// go backwards.
type lineCounter struct {
	r      io.Reader
	off    int64
	ahead  []int64 // offsets of newlines at or after the last query
	passed int     // newlines before the last query
}

func (c *lineCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i := 0; i < n; {
		j := bytes.IndexByte(p[i:n], '\n')
		if j < 0 {
			break
		}
		c.ahead = append(c.ahead, c.off+int64(i+j))
		i += j + 1
	}
	c.off += int64(n)
	return n, err
}

// lineAt returns the 1-based line of byte offset off.
func (c *lineCounter) lineAt(off int64) int {
	i := 0
	for i < len(c.ahead) && c.ahead[i] < off {
		i++
	}
	c.passed += i
	c.ahead = c.ahead[i:]
	return c.passed + 1
}
