// Command valuesschema writes a Helm chart's values.schema.json from its
// values.yaml, so that the defaults, their documentation and their schema are
// written once:
//
//   - every value's type comes from its default: a string, integer, number or
//     boolean; a mapping with keys is an object of exactly those properties
//     (additionalProperties: false); an empty mapping is any object; a list is
//     an array of items like its first item;
//   - its description is its "# --" comment, as helm-docs reads it for the
//     README (the "(type)" prefix and "@default" lines are left out);
//   - further constraints come from "# @schema" comment lines just above the
//     "# --" line, which helm-docs ignores.
//
// Annotations, one per line:
//
//	# @schema FRAGMENT           merged into the schema of the value below
//	# @schema PATH FRAGMENT      merged into the schema at PATH under that value:
//	                             property names joined by ".", [] for an array's items
//	# @schemadef NAME FRAGMENT   a named fragment for $use (anywhere in the file)
//
// FRAGMENT is a YAML flow mapping (JSON is one too) of JSON Schema keywords,
// merged key by key into what the default implies (a nested mapping is merged,
// anything else replaced), plus three directives:
//
//	$use: NAME or [NAME, ...]   merge these named fragments first
//	$orEmpty: true              also accept "": anyOf [{type: string, maxLength: 0}, the schema]
//	$freeform: true             an object of any keys: the default's keys are not properties
//
// A schema that gets an anyOf drops the type inferred from the default (the
// default must match one of the branches). Annotations in the comment above
// the first key, before a blank line, apply to the root.
//
// Usage:
//
//	go run ./hack/valuesschema -out charts/timesheets/values.schema.json charts/timesheets/values.yaml
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

func main() {
	out := flag.String("out", "", "write the schema to this file (default: standard output)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: valuesschema [-out FILE] VALUES.yaml")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *out); err != nil {
		fmt.Fprintln(os.Stderr, "valuesschema:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	src, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	data, err := Generate(src)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if out == "" {
		_, err = os.Stdout.Write(data)
		return err
	}
	return os.WriteFile(out, data, 0o644)
}

var (
	schemaLine = regexp.MustCompile(`^#\s*@schema\s+(.*)$`)
	defLine    = regexp.MustCompile(`(?m)^\s*#\s*@schemadef\s+(\S+)\s+(.*)$`)
	anyLine    = regexp.MustCompile(`(?m)^\s*#\s*@schema\s`)
	typePrefix = regexp.MustCompile(`^\((.*?)\)\s*`)
)

// Generate returns the JSON schema of the values file src.
func Generate(src []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("not a YAML mapping")
	}
	g := &generator{defs: map[string]*omap{}}
	for _, m := range defLine.FindAllStringSubmatch(string(src), -1) {
		f, err := parseFragment(m[2])
		if err != nil {
			return nil, fmt.Errorf("@schemadef %s: %w", m[1], err)
		}
		g.defs[m[1]] = f
	}
	root := doc.Content[0]
	s := newOmap()
	s.set("$schema", "http://json-schema.org/draft-07/schema#")
	if err := g.value(s, root, doc.HeadComment+"\n"+root.HeadComment, "(root)"); err != nil {
		return nil, err
	}
	if err := g.finish(s, "(root)"); err != nil {
		return nil, err
	}
	if want := len(anyLine.FindAll(src, -1)); g.used != want {
		return nil, fmt.Errorf("%d of %d @schema lines are not above a value (or are below its # -- line)", want-g.used, want)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type generator struct {
	defs map[string]*omap
	used int // @schema lines applied
}

// value fills s with the schema of node, whose comment is comment.
func (g *generator) value(s *omap, node *yaml.Node, comment, where string) error {
	desc, frags, err := g.comment(comment, where)
	if err != nil {
		return err
	}
	if desc != "" {
		s.set("description", desc)
	}
	freeform := false
	for _, f := range frags {
		if f.path == "" && f.frag.get("$freeform") == true {
			freeform = true
		}
	}
	switch node.Kind {
	case yaml.MappingNode:
		s.set("type", "object")
		if len(node.Content) > 0 && !freeform {
			s.set("additionalProperties", false)
			props := newOmap()
			for i := 0; i+1 < len(node.Content); i += 2 {
				k, v := node.Content[i], node.Content[i+1]
				child := newOmap()
				if err := g.value(child, v, k.HeadComment, where+"."+k.Value); err != nil {
					return err
				}
				props.set(k.Value, child)
			}
			s.set("properties", props)
		}
	case yaml.SequenceNode:
		s.set("type", "array")
		if len(node.Content) > 0 {
			items := newOmap()
			if err := g.value(items, node.Content[0], "", where+"[0]"); err != nil {
				return err
			}
			s.set("items", items)
		}
	case yaml.ScalarNode:
		switch node.Tag {
		case "!!str":
			s.set("type", "string")
		case "!!int":
			s.set("type", "integer")
		case "!!float":
			s.set("type", "number")
		case "!!bool":
			s.set("type", "boolean")
		case "!!null":
		default:
			return fmt.Errorf("%s: default of type %s", where, node.Tag)
		}
	default:
		return fmt.Errorf("%s: aliases are not supported", where)
	}
	for _, f := range frags {
		at := s
		if f.path != "" {
			for _, p := range strings.Split(f.path, ".") {
				key, name := "properties", p
				if p == "[]" {
					key, name = "items", ""
				}
				at = at.child(key)
				if name != "" {
					at = at.child(name)
				}
			}
		}
		merge(at, f.frag)
	}
	return nil
}

type fragment struct {
	path string
	frag *omap
}

// comment returns the helm-docs description and the @schema fragments of a
// value's head comment.
func (g *generator) comment(c, where string) (string, []fragment, error) {
	lines := strings.Split(c, "\n")
	doc := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "# --") {
			doc = i
		}
	}
	var frags []fragment
	for i, l := range lines {
		m := schemaLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if doc >= 0 && i > doc {
			return "", nil, fmt.Errorf("%s: @schema below the # -- line (helm-docs would print it): %s", where, l)
		}
		var f fragment
		text := strings.TrimSpace(m[1])
		if !strings.HasPrefix(text, "{") {
			f.path, text, _ = strings.Cut(text, " ")
		}
		frag, err := parseFragment(text)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %s: %w", where, l, err)
		}
		f.frag = frag
		frags = append(frags, f)
		g.used++
	}
	if doc < 0 {
		return "", frags, nil
	}
	desc := strings.TrimSpace(strings.TrimPrefix(lines[doc], "# --"))
	desc = typePrefix.ReplaceAllString(desc, "")
	for _, l := range lines[doc+1:] {
		t := strings.TrimPrefix(strings.TrimPrefix(l, "#"), " ")
		if strings.HasPrefix(t, "@default") || strings.HasPrefix(t, "@section") ||
			strings.HasPrefix(t, "@notationType") || strings.HasPrefix(t, "@raw") {
			continue
		}
		desc += " " + t
	}
	return strings.TrimSpace(desc), frags, nil
}

// finish expands the directives in s and below it.
func (g *generator) finish(s *omap, where string) error {
	for _, k := range s.keys {
		if strings.HasPrefix(k, "$") && k != "$schema" && k != "$use" && k != "$orEmpty" && k != "$freeform" {
			return fmt.Errorf("%s: unknown directive %s", where, k)
		}
	}
	if use, ok := s.get("$use"), s.has("$use"); ok {
		names, _ := use.([]any)
		if n, ok := use.(string); ok {
			names = []any{n}
		}
		base := newOmap()
		if s.has("description") {
			base.set("description", s.get("description")) // first, as everywhere
		}
		for _, n := range names {
			d, ok := g.defs[fmt.Sprint(n)]
			if !ok {
				return fmt.Errorf("%s: $use of unknown @schemadef %v", where, n)
			}
			merge(base, d)
		}
		s.del("$use")
		merge(base, s)
		*s = *base
		return g.finish(s, where)
	}
	s.del("$freeform")
	if s.has("anyOf") {
		s.del("type")
	}
	for _, k := range s.keys {
		if err := g.finishValue(s.vals[k], where+"/"+k); err != nil {
			return err
		}
	}
	if s.get("$orEmpty") == true {
		s.del("$orEmpty")
		inner := newOmap()
		outer := newOmap()
		for _, k := range s.keys {
			if k == "description" {
				outer.set(k, s.vals[k])
			} else {
				inner.set(k, s.vals[k])
			}
		}
		empty := newOmap()
		empty.set("type", "string")
		empty.set("maxLength", 0)
		outer.set("anyOf", []any{empty, inner})
		*s = *outer
	}
	return nil
}

func (g *generator) finishValue(v any, where string) error {
	switch v := v.(type) {
	case *omap:
		return g.finish(v, where)
	case []any:
		for i, e := range v {
			if err := g.finishValue(e, fmt.Sprintf("%s/%d", where, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// merge merges src into dst: mappings recursively, anything else replaced.
func merge(dst, src *omap) {
	for _, k := range src.keys {
		sv := src.vals[k]
		if sm, ok := sv.(*omap); ok {
			if dm, ok := dst.get(k).(*omap); ok {
				merge(dm, sm)
				continue
			}
			sv = sm.clone()
		}
		dst.set(k, sv)
	}
}

// parseFragment parses a YAML flow mapping.
func parseFragment(text string) (*omap, error) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(text), &n); err != nil {
		return nil, err
	}
	if len(n.Content) != 1 || n.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("not a mapping {key: value, ...}")
	}
	v, err := fromNode(n.Content[0])
	if err != nil {
		return nil, err
	}
	return v.(*omap), nil
}

func fromNode(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.MappingNode:
		m := newOmap()
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := fromNode(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m.set(n.Content[i].Value, v)
		}
		return m, nil
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			v, err := fromNode(c)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	case yaml.ScalarNode:
		var v any
		err := n.Decode(&v)
		return v, err
	}
	return nil, fmt.Errorf("line %d: unsupported YAML", n.Line)
}

// omap is a JSON object that keeps its keys in the order they were set.
type omap struct {
	keys []string
	vals map[string]any
}

func newOmap() *omap { return &omap{vals: map[string]any{}} }

func (m *omap) has(k string) bool { _, ok := m.vals[k]; return ok }
func (m *omap) get(k string) any  { return m.vals[k] }

func (m *omap) set(k string, v any) {
	if !m.has(k) {
		m.keys = append(m.keys, k)
	}
	m.vals[k] = v
}

func (m *omap) del(k string) {
	if !m.has(k) {
		return
	}
	delete(m.vals, k)
	for i, key := range m.keys {
		if key == k {
			m.keys = append(m.keys[:i:i], m.keys[i+1:]...)
			break
		}
	}
}

// child returns the mapping at k, creating it when absent.
func (m *omap) child(k string) *omap {
	if c, ok := m.get(k).(*omap); ok {
		return c
	}
	c := newOmap()
	m.set(k, c)
	return c
}

func (m *omap) clone() *omap {
	c := newOmap()
	merge(c, m)
	return c
}

func (m *omap) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range m.keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(k); err != nil {
			return nil, err
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
		buf.WriteByte(':')
		if err := enc.Encode(m.vals[k]); err != nil {
			return nil, err
		}
		buf.Truncate(buf.Len() - 1)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
