package importer

import (
	"strconv"
	"unicode/utf8"

	"github.com/abc-inc/timesheets/pkg/timesheets"
)

// appendEntry appends the JSON object the API takes for one entry; absent
// fields are left out. It writes the values as given (the API parses and
// validates them again, the same way Map did).
func appendEntry(b []byte, in *timesheets.Input) []byte {
	b = append(b, '{')
	first := true
	key := func(k string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, '"', ':')
	}
	str := func(k string, v *string) {
		if v != nil {
			key(k)
			b = appendString(b, *v)
		}
	}
	integer := func(k string, v *int) {
		if v != nil {
			key(k)
			b = strconv.AppendInt(b, int64(*v), 10)
		}
	}
	str(FieldUserType, in.UserType)
	str(FieldUserID, in.UserID)
	str(FieldDate, in.Date)
	integer(FieldYear, in.Year)
	integer(FieldWeek, in.Week)
	str(FieldProject, in.Project)
	if in.Hours != nil {
		key(FieldHours)
		b = strconv.AppendFloat(b, *in.Hours, 'g', -1, 64)
	}
	str("source", in.Source)
	str(FieldExternalID, in.ExternalID)
	str("source_updated_at", in.SourceUpdatedAt)
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does (validated entries never hold any).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
