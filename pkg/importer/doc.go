// Package importer moves timesheet entries from an external tool into the
// Timesheets API: the seeds' CronJob (cmd/importer).
//
// A run reads records from a Source (CSV, JSON array or NDJSON files, a
// tool's API through its connector: Harvest, Tempo, Toggl Track, Clockify,
// or any paged JSON API: http-json), maps their fields to entries
// (Mapping), validates them with the API's own rules (timesheets.Input.Validate), gives each a
// stable (source, external_id) pair so that re-runs never store an entry
// twice, and uploads them in batches (Uploader) with an OAuth 2.0
// client-credentials token (NewTokenSource). The client authenticates with
// its secret, or with a private key that signs a client assertion per token
// request (private_key_jwt, RFC 7523; assertion.go). With Config.DPoP the
// token is bound to a key of the run (RFC 9449; dpop.go): the token request
// and every API call carry a proof of it, and a token that is not bound is
// refused. Run ties these together and returns a Summary.
//
// A connector is a description (connector.go) read by one paged-JSON reader
// (httpSource): the tool's endpoint, authentication, paging, query
// parameters for a modification time (SourceOptions.Since) and a window of
// days (From, To), and how its fields become entry fields. The fakes in
// toolfake, built from the tools' documentation, test them.
//
// Everything is streamed: a record is read, mapped and encoded into the batch
// being built, and at most a few batches exist at once, so memory does not
// grow with the size of the input.
package importer
