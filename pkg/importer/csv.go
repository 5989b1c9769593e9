package importer

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ctxCheckEvery is how many records a reader handles between checks of its
// context.
const ctxCheckEvery = 256

// readCSV streams a CSV file with a header row. Rows are parsed into one
// reused slice. A malformed row is handed on as a record with Err set; a
// header lacking a required column stops the file.
func readCSV(ctx context.Context, r io.Reader, name string, comma rune, checkHeader func(func(string) bool) error, fn func(*Record) error) error {
	cr := csv.NewReader(bufio.NewReaderSize(r, 64<<10))
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1 // short rows lack fields, long rows have extra ones
	cr.Comma = comma
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil // empty file
	}
	if err != nil {
		return fmt.Errorf("%s: header: %w", name, err)
	}
	index := make(map[string]int, len(header))
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff") // a byte-order mark
		}
		h = strings.ToLower(strings.TrimSpace(h))
		if _, dup := index[h]; !dup {
			index[h] = i
		}
	}
	if err := checkHeader(func(col string) bool { _, ok := index[strings.ToLower(col)]; return ok }); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	fields := &csvFields{index: index}
	rec := Record{Loc: Location{Source: name}}
	for n := 1; ; n++ {
		if n%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe):
			rec.Loc.Line, rec.Loc.Record = pe.StartLine, n
			rec.Fields, rec.Err = nil, fmt.Errorf("malformed CSV: %w", pe.Err)
		case err != nil:
			return fmt.Errorf("%s: %w", name, err)
		default:
			fields.row = row
			rec.Loc.Line, _ = cr.FieldPos(0)
			rec.Loc.Record = n
			rec.Fields, rec.Err = fields, nil
		}
		if err := fn(&rec); err != nil {
			return err
		}
	}
}
