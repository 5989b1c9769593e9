package importer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
)

// maxLineBytes bounds one NDJSON line.
const maxLineBytes = 1 << 20

// readNDJSON streams newline-delimited JSON: one object per line, blank
// lines ignored. A malformed line is handed on as a record with Err set.
func readNDJSON(ctx context.Context, r io.Reader, name string, fn func(*Record) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	fields := jsonFields{}
	rec := Record{Loc: Location{Source: name}}
	n := 0
	for line := 1; sc.Scan(); line++ {
		if line%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		b := sc.Bytes()
		if line == 1 {
			b = bytes.TrimPrefix(b, []byte("\ufeff"))
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		n++
		rec.Loc.Line, rec.Loc.Record = line, n
		objectRecord(&rec, b, fields)
		if err := fn(&rec); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%s: a line after record %d is longer than %d bytes", name, n, maxLineBytes)
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
