// Package importer moves timesheet entries from an external tool into the
// Timesheets API: the seeds' CronJob (cmd/importer).
//
// A run reads records from a Source (CSV, JSON array or NDJSON files, or the
// tool's paged HTTP API), maps their fields to entries (Mapping), validates
// them with the API's own rules (timesheets.Input.Validate), gives each a
// stable (source, external_id) pair so that re-runs never store an entry
// twice, and uploads them in batches (Uploader) with an OAuth 2.0
// client-credentials token (NewTokenSource). Run ties these together and
// returns a Summary.
//
// Everything is streamed: a record is read, mapped and encoded into the batch
// being built, and at most a few batches exist at once, so memory does not
// grow with the size of the input.
package importer
