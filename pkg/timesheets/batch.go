package timesheets

// BatchResponse is the body of the answer to POST /timesheets/upload: the
// API writes it, the importer reads it, both with this one declaration.
type BatchResponse struct {
	Created    int `json:"created"`
	Duplicates int `json:"duplicates"`
	Updated    int `json:"updated"`
	Conflicts  int `json:"conflicts"`
	Stale      int `json:"stale"`
	Rejected   int `json:"rejected"`
	// Valid counts the entries a dry run found valid (none stored).
	Valid   int               `json:"valid,omitempty"`
	Results []BatchItemResult `json:"results"`
}

// BatchItemResult is the outcome of one entry of a batch.
type BatchItemResult struct {
	Index    int    `json:"index"`
	Status   string `json:"status"` // one of the Batch* statuses
	ID       int64  `json:"id,omitempty"`
	Revision int64  `json:"revision,omitempty"`
	// Reason and Message explain a conflict (ConflictLocked,
	// ConflictNotOwner); they name no stored field, client or approver.
	Reason  string       `json:"reason,omitempty"`
	Message string       `json:"message,omitempty"`
	Errors  []FieldError `json:"errors,omitempty"`
}

// The statuses of a BatchItemResult.
const (
	BatchCreated   = "created"
	BatchDuplicate = "duplicate" // the same content is stored: nothing written
	BatchUpdated   = "updated"   // changed content replaced the stored one
	BatchConflict  = "conflict"  // nothing written; Reason says why
	BatchStale     = "stale"     // a newer version (source_updated_at) is stored: nothing written
	BatchRejected  = "rejected"
	BatchNotStored = "not_stored" // valid, but its all_or_nothing batch was refused
	BatchValid     = "valid"      // valid, not stored: a dry run
)

// PruneRequest is the body of POST /timesheets/upload/prune: within
// [From, To], ExternalIDs are all the keys the caller's Source has.
type PruneRequest struct {
	Source      string   `json:"source"`
	From        string   `json:"from"`
	To          string   `json:"to"`
	ExternalIDs []string `json:"external_ids"`
}

// PruneResponse is the answer to POST /timesheets/upload/prune. Complete
// false: more entries are to be deleted; send the same request again.
type PruneResponse struct {
	Deleted   int               `json:"deleted"`
	Conflicts int               `json:"conflicts"`
	Complete  bool              `json:"complete"`
	DryRun    bool              `json:"dry_run,omitempty"`
	Results   []PruneItemResult `json:"results"`
}

// PruneItemResult is one entry a prune deleted (or, in a dry run, would
// delete) or kept as a conflict.
type PruneItemResult struct {
	ID         int64  `json:"id"`
	ExternalID string `json:"external_id"`
	Status     string `json:"status"` // BatchDeleted or BatchConflict
	Reason     string `json:"reason,omitempty"`
	Message    string `json:"message,omitempty"`
}

// BatchDeleted is the status of an entry a prune deleted.
const BatchDeleted = "deleted"

// CheckpointResponse is the answer to GET (and PUT)
// /timesheets/upload/checkpoint: what the caller has stored of one source,
// and the checkpoint its last complete run recorded.
type CheckpointResponse struct {
	Source          string  `json:"source"`
	Entries         int64   `json:"entries"`
	SourceUpdatedAt *string `json:"source_updated_at"` // RFC 3339; null before a run recorded one
}

// CheckpointRequest is the body of PUT /timesheets/upload/checkpoint: a
// run that read and stored everything it was asked to records the newest
// modification time it stored.
type CheckpointRequest struct {
	Source          string `json:"source"`
	SourceUpdatedAt string `json:"source_updated_at"`
}
