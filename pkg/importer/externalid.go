package importer

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// hashPrefix marks external ids the importer derived from content.
const hashPrefix = "sha256-"

// hashHexLen is how many hex digits of the SHA-256 are kept: 128 bits, far
// beyond any chance of two different entries of one source colliding.
const hashHexLen = 32

// contentID derives an external id from the normalized content of a valid
// entry, for records that carry no id of their own. The same entry always
// gets the same id, whatever its field order, spelling of the date (time
// zone, fraction) or number format ("7.50" and "7.5"), so a re-run finds it
// again. Two records with identical content are one entry.
func contentID(e timesheets.Entry) string {
	var buf [256]byte
	b := buf[:0]
	field := func(s string) {
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		b = append(b, s...)
	}
	b = append(b, "v1;"...)
	field(e.UserType)
	field(e.UserID)
	if e.Date != nil {
		field(e.Date.UTC().Format(time.RFC3339Nano))
	} else {
		field(strconv.Itoa(e.Year) + "-W" + strconv.Itoa(e.Week))
	}
	field(e.Project)
	field(strconv.FormatFloat(e.Hours, 'g', -1, 64))
	sum := sha256.Sum256(b)
	return hashPrefix + hex.EncodeToString(sum[:hashHexLen/2])
}
