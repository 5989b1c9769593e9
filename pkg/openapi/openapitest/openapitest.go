// Package openapitest checks requests and responses against the API's
// OpenAPI document (package openapi), for the handler tests: wrap a test
// server's handler in Handler and every exchange is validated with
// kin-openapi's openapi3filter.
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/abc-inc/timesheets/pkg/openapi"
)

var (
	loadOnce sync.Once
	doc      *openapi3.T
	router   routers.Router
	loadErr  error
)

// Load parses and validates the document (once).
func Load() (*openapi3.T, routers.Router, error) {
	loadOnce.Do(func() {
		doc, loadErr = openapi3.NewLoader().LoadFromData(openapi.Document)
		if loadErr != nil {
			return
		}
		if loadErr = doc.Validate(context.Background()); loadErr != nil {
			return
		}
		router, loadErr = gorillamux.NewRouter(doc)
	})
	return doc, router, loadErr
}

// Options say what a wrapped handler's requests carry.
type Options struct {
	// Tokens: the handler checks bearer tokens, so an operation's security
	// requirement is checked too (an Authorization: Bearer header is sent).
	// Without it, as for the bare handlers, security is not checked.
	Tokens bool
}

// Handler wraps next so that every request it serves and every response it
// gives is checked against the document; a mismatch fails t. A request
// the document refuses may be answered, but not with success, or the API
// accepts what its contract says it does not (the one exception: an upload
// array, whose invalid entries are rejected one by one in a 200).
//
// The request body is validated after next has read it, as it was read,
// so that a handler may still stream it.
func Handler(t testing.TB, next http.Handler, o Options) http.Handler {
	t.Helper()
	_, rt, err := Load()
	if err != nil {
		t.Fatalf("openapi: the document does not load: %v", err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isPreflight(r) {
			// The CORS protocol's, not an operation of the API.
			next.ServeHTTP(w, r)
			return
		}
		var reqBody bytes.Buffer
		if r.Body != nil {
			r.Body = readCloser{io.TeeReader(r.Body, &reqBody), r.Body}
		}
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		// What the handler left unread (413, 415, no body expected).
		if r.Body != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 16<<20))
		}
		if msg := check(rt, r, reqBody.Bytes(), rec, o); msg != "" {
			t.Errorf("openapi: %s %s -> %d: %s", r.Method, r.URL.RequestURI(), rec.status, msg)
		}
	})
}

// check returns what is wrong with the exchange, "" if nothing.
func check(rt routers.Router, r *http.Request, body []byte, rec *recorder, o Options) string {
	ctx := context.Background()
	req := r.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.URL.Scheme, req.URL.Host = "", ""
	route, params, err := rt.FindRoute(req)
	if err != nil {
		// Not an operation of the document: ServeMux's 404 or 405, or
		// the policy's refusal of an unknown route, never a success.
		if rec.status < 400 {
			return "the document has no such operation (" + err.Error() + ") but it was answered"
		}
		return ""
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, SkipSettingDefaults: true, MultiError: true,
		AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
			if !o.Tokens {
				return nil
			}
			// The oauth2 scheme's token, as a bearer token or DPoP-bound
			// (RFC 9449 §7.1), as the document's scheme says.
			scheme, _, _ := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
			if !strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "DPoP") {
				return errNoToken
			}
			return nil
		}}
	// The reason and where, without the schema and the value dumped.
	opts.WithCustomSchemaErrorFunc(func(err *openapi3.SchemaError) string {
		msg := err.Reason
		if err.Origin != nil {
			msg += ": " + err.Origin.Error() // the JSON Schema 2020-12 validator's detail
		}
		if p := err.JSONPointer(); len(p) > 0 {
			msg = "at /" + strings.Join(p, "/") + ": " + msg
		}
		return msg
	})
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	var problems []string
	if reqErr != nil && rec.status < 300 && !rejectedOneByOne(route, rec) {
		problems = append(problems, "the document refuses the request, yet it succeeded: "+reqErr.Error())
	}
	resp := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: rec.status,
		Header: rec.Header(), Body: io.NopCloser(bytes.NewReader(rec.body.Bytes())), Options: opts}
	if err := openapi3filter.ValidateResponse(ctx, resp); err != nil {
		problems = append(problems, "the response does not match the document: "+err.Error())
	}
	return strings.Join(problems, "; ")
}

type authError string

func (e authError) Error() string { return string(e) }

const errNoToken = authError("no access token (Bearer or DPoP)")

// rejectedOneByOne tells an upload's 200 that rejected some entries.
func rejectedOneByOne(route *routers.Route, rec *recorder) bool {
	if route.Operation.OperationID != "uploadTimesheets" || rec.status != http.StatusOK {
		return false
	}
	var b struct {
		Rejected int `json:"rejected"`
	}
	return json.Unmarshal(rec.body.Bytes(), &b) == nil && b.Rejected > 0
}

// isPreflight tells a CORS-preflight request (the Fetch standard, 3.2.2).
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

type readCloser struct {
	io.Reader
	io.Closer
}

// recorder passes a response through, keeping its status and a copy of
// its body.
type recorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func (w *recorder) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	w.wroteHeader = true
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
