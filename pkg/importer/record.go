package importer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Location says where a record came from, for messages about it.
type Location struct {
	Source string // file path or page URL
	Line   int    // 1-based line where the record starts; 0 when unknown
	Record int    // 1-based record number within Source
}

func (l Location) String() string {
	if l.Line > 0 {
		return fmt.Sprintf("%s:%d (record %d)", l.Source, l.Line, l.Record)
	}
	return fmt.Sprintf("%s record %d", l.Source, l.Record)
}

// Kind is the type of a field value.
type Kind uint8

// Kinds of values. CSV fields are always String.
const (
	KindString Kind = iota
	KindNumber      // Text holds the JSON number literal
	KindNull        // JSON null: treated as absent
	KindOther       // JSON object, array or boolean: Text holds the JSON text
)

// Value is one field of a record.
type Value struct {
	Text string
	Kind Kind
}

// Fields gives access to the named fields of one record.
type Fields interface {
	// Field returns the value of the field with this name (matched
	// case-insensitively when no field has exactly this name).
	Field(name string) (Value, bool)
}

// Record is one record of a source. Fields is only valid during the callback
// that receives the record: sources reuse their buffers.
type Record struct {
	Loc    Location
	Fields Fields
	// Err is set, and Fields nil, when the record could not be parsed (a
	// malformed CSV row or NDJSON line); the record is then rejected.
	Err error
}

// csvFields is one CSV row with its header index.
type csvFields struct {
	index map[string]int // lower-cased header name -> column
	row   []string
}

func (f *csvFields) Field(name string) (Value, bool) {
	i, ok := f.index[name]
	if !ok {
		i, ok = f.index[strings.ToLower(name)]
	}
	if !ok || i >= len(f.row) {
		return Value{}, false
	}
	return Value{Text: f.row[i]}, true
}

// jsonFields is one JSON object, its values still encoded.
type jsonFields map[string]json.RawMessage

// Field finds a member by name, or else by a dotted path through nested
// objects ("user.id"); a member whose name has a dot is found first.
func (f jsonFields) Field(name string) (Value, bool) {
	raw, ok := f.member(name)
	if !ok && strings.IndexByte(name, '.') > 0 {
		raw, ok = f.path(name)
	}
	if !ok {
		return Value{}, false
	}
	return jsonValue(raw), true
}

// member finds a member by name, case-insensitively when no member has
// exactly this name.
func (f jsonFields) member(name string) (json.RawMessage, bool) {
	if raw, ok := f[name]; ok {
		return raw, true
	}
	for k, v := range f {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

// path follows a dotted path through nested objects.
func (f jsonFields) path(name string) (json.RawMessage, bool) {
	cur := f
	for {
		head, rest, more := strings.Cut(name, ".")
		raw, ok := cur.member(head)
		if !ok || !more {
			return raw, ok
		}
		if len(raw) == 0 || raw[0] != '{' {
			return nil, false
		}
		var inner jsonFields
		if json.Unmarshal(raw, &inner) != nil {
			return nil, false
		}
		cur, name = inner, rest
	}
}

// jsonValue classifies an encoded JSON value and decodes strings.
func jsonValue(raw json.RawMessage) Value {
	if len(raw) == 0 {
		return Value{Kind: KindNull}
	}
	switch c := raw[0]; {
	case c == '"':
		// Fast path: no escapes.
		if s := raw[1 : len(raw)-1]; bytes.IndexByte(s, '\\') < 0 {
			return Value{Text: string(s)}
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return Value{Text: string(raw), Kind: KindOther}
		}
		return Value{Text: s}
	case c == 'n':
		return Value{Kind: KindNull}
	case c == '-' || (c >= '0' && c <= '9'):
		return Value{Text: string(raw), Kind: KindNumber}
	}
	return Value{Text: string(raw), Kind: KindOther}
}

// quoteField names a source field in messages.
func quoteField(name string) string { return strconv.Quote(name) }
