package timesheets

// BatchResponse is the body of the answer to POST /timesheets/upload: the
// API writes it, the importer reads it, both with this one declaration.
type BatchResponse struct {
	Created    int `json:"created"`
	Duplicates int `json:"duplicates"`
	Rejected   int `json:"rejected"`
	// Valid counts the entries a dry run found valid (none stored).
	Valid   int               `json:"valid,omitempty"`
	Results []BatchItemResult `json:"results"`
}

// BatchItemResult is the outcome of one entry of a batch.
type BatchItemResult struct {
	Index  int          `json:"index"`
	Status string       `json:"status"` // one of the Batch* statuses
	ID     int64        `json:"id,omitempty"`
	Errors []FieldError `json:"errors,omitempty"`
}

// The statuses of a BatchItemResult.
const (
	BatchCreated   = "created"
	BatchDuplicate = "duplicate"
	BatchRejected  = "rejected"
	BatchNotStored = "not_stored" // valid, but its all_or_nothing batch was refused
	BatchValid     = "valid"      // valid, not stored: a dry run
)
