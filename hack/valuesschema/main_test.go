package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGenerate(t *testing.T) {
	src := `# Header.
#
# @schema {title: T}
# @schemadef name {type: string, pattern: '^[a-z]+$', maxLength: 8}

# @schema {maxLength: 63}
# -- (string) The name.
# continued
# @default -- none
name: ""
# @schema {$use: name, $orEmpty: true}
# -- A Secret.
secret: ""
# @schema {$freeform: true}
# -- Anything.
resources:
  limits: {cpu: 1}
# @schema {type: [integer, 'null'], minimum: 1}
# -- A count.
count: null
# @schema [] {required: [path]}
# @schema [].path {pattern: '^/'}
# @schema [].when {type: string}
routes:
  - path: /x
    methods: [GET]
`
	got, err := Generate([]byte(src))
	require.NoError(t, err)
	want := `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "name": {"description": "The name. continued", "type": "string", "maxLength": 63},
    "secret": {"description": "A Secret.", "anyOf": [
      {"type": "string", "maxLength": 0},
      {"type": "string", "pattern": "^[a-z]+$", "maxLength": 8}]},
    "resources": {"description": "Anything.", "type": "object"},
    "count": {"description": "A count.", "type": ["integer", "null"], "minimum": 1},
    "routes": {"type": "array", "items": {"type": "object", "additionalProperties": false,
      "properties": {
        "path": {"type": "string", "pattern": "^/"},
        "methods": {"type": "array", "items": {"type": "string"}},
        "when": {"type": "string"}},
      "required": ["path"]}}
  },
  "title": "T"
}`
	require.JSONEq(t, want, string(got))
}

func TestGenerateRefuses(t *testing.T) {
	for _, tc := range []struct{ name, src, err string }{
		{"below the description", "# -- Doc.\n# @schema {minimum: 1}\nn: 1\n", "below the # -- line"},
		{"unknown fragment", "# @schema {$use: nope}\nn: 1\n", "unknown @schemadef nope"},
		{"unknown directive", "# @schema {$optional: true}\nn: 1\n", "unknown directive $optional"},
		{"not a mapping", "# @schema [1, 2]\nn: 1\n", "not a mapping"},
		{"not above a value", "n: 1\n# @schema {minimum: 1}\n", "not above a value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Generate([]byte(tc.src))
			require.ErrorContains(t, err, tc.err)
		})
	}
}

// The chart's schema is what its values.yaml generates (make verify checks the
// same).
func TestChartSchemaIsGenerated(t *testing.T) {
	src, err := os.ReadFile("../../charts/timesheets/values.yaml")
	require.NoError(t, err)
	got, err := Generate(src)
	require.NoError(t, err)
	committed, err := os.ReadFile("../../charts/timesheets/values.schema.json")
	require.NoError(t, err)
	require.Equal(t, string(committed), string(got), "run make chart-docs")
	var s map[string]any
	require.NoError(t, json.Unmarshal(got, &s))
	require.True(t, strings.HasPrefix(s["$schema"].(string), "http://json-schema.org/draft-07/"))
}
