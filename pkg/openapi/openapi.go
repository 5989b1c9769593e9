// Package openapi holds the OpenAPI 3.1 document of the Timesheets API and
// serves it. The handler tests validate every request and response against
// it (package openapitest), so it cannot drift from the handlers.
package openapi

import (
	_ "embed"
	"net/http"
	"strconv"
)

// Path is where the API serves the document, outside the access policy.
const Path = "/openapi.json"

// Document is the OpenAPI 3.1 document, as served.
//
//go:embed openapi.json
var Document []byte

// Handler serves Document to anyone: a client reads it before it has a
// token.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(Document)))
		// The document changes only with the binary.
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(Document)
	})
}
