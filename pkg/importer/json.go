package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// readJSON streams the records of one JSON document: an array of objects, or
// an object whose "items" or "data" member is that array (a page of the
// tool's API). It returns the page's "next" member, if it has one. With
// whole, nothing but white space may follow the document.
func readJSON(ctx context.Context, r io.Reader, name string, whole bool, fn func(*Record) error) (next string, err error) {
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
		return fmt.Errorf("%s: %w", name, err)
	}
	tok, err := dec.Token()
	if errors.Is(err, io.EOF) {
		return "", nil // an empty file
	}
	if err != nil {
		return "", fail(err)
	}
	switch tok {
	case json.Delim('['):
		if err := readArray(ctx, dec, lc, name, fn); err != nil {
			return "", fail(err)
		}
	case json.Delim('{'):
		found := false
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return "", fail(err)
			}
			switch key {
			case "items", "data":
				t, err := dec.Token()
				if err != nil {
					return "", fail(err)
				}
				if t == nil {
					continue // "items": null
				}
				if t != json.Delim('[') {
					return "", fmt.Errorf("%s: %q must be an array of entries", name, key)
				}
				if found {
					return "", fmt.Errorf("%s: the page has both items and data; it must have one", name)
				}
				found = true
				if err := readArray(ctx, dec, lc, name, fn); err != nil {
					return "", fail(err)
				}
			case "next":
				var v any
				if err := dec.Decode(&v); err != nil {
					return "", fail(err)
				}
				switch v := v.(type) {
				case string:
					next = v
				case nil:
				default:
					return "", fmt.Errorf("%s: \"next\" must be a URL string or null", name)
				}
			default:
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					return "", fail(err)
				}
			}
		}
		if _, err := dec.Token(); err != nil { // '}'
			return "", fail(err)
		}
		if !found {
			return "", fmt.Errorf("%s: a JSON object must hold the entries in an \"items\" or \"data\" array", name)
		}
	default:
		return "", fmt.Errorf("%s: expected a JSON array of entries, or an object with \"items\" or \"data\"", name)
	}
	if whole {
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("%s: unexpected data after the JSON document (for one object per line, name the file .ndjson)", name)
		}
	}
	return next, nil
}

// readArray reads the elements of an array whose '[' was just read, and its ']'.
func readArray(ctx context.Context, dec *json.Decoder, lc *lineCounter, name string, fn func(*Record) error) error {
	var raw json.RawMessage
	fields := jsonFields{}
	rec := Record{Loc: Location{Source: name}}
	for n := 1; dec.More(); n++ {
		if n%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		rec.Loc.Record = n
		rec.Loc.Line = lc.lineAt(dec.InputOffset()) - bytes.Count(raw, newline)
		objectRecord(&rec, raw, fields)
		if err := fn(&rec); err != nil {
			return err
		}
	}
	_, err := dec.Token() // ']'
	return err
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
