package timesheets_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// The upload answer's wire format, byte for byte: the importer of an older
// or newer release reads it.
func TestBatchResponseJSON(t *testing.T) {
	b, err := json.Marshal(timesheets.BatchResponse{Created: 1, Duplicates: 1, Rejected: 1, Results: []timesheets.BatchItemResult{
		{Index: 0, Status: timesheets.BatchCreated, ID: 7},
		{Index: 1, Status: timesheets.BatchDuplicate, ID: 3},
		{Index: 2, Status: timesheets.BatchRejected, Errors: []timesheets.FieldError{{Field: "hours", Message: "must be positive"}}},
	}})
	require.NoError(t, err)
	require.Equal(t, `{"created":1,"duplicates":1,"updated":0,"conflicts":0,"stale":0,"rejected":1,"results":[`+
		`{"index":0,"status":"created","id":7},`+
		`{"index":1,"status":"duplicate","id":3},`+
		`{"index":2,"status":"rejected","errors":[{"field":"hours","message":"must be positive"}]}]}`, string(b))
}
