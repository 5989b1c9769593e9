package importer

import "strings"

// bearerChallenge reads the parameters of a Bearer challenge in a
// WWW-Authenticate header (RFC 6750 §3), e.g.
//
//	Bearer realm="timesheets", error="insufficient_scope", scope="batch:upload"
//
// Parameter names are lower-cased. Other schemes' challenges are ignored.
func bearerChallenge(header string) map[string]string {
	params := map[string]string{}
	s := strings.TrimSpace(header)
	scheme, rest, _ := strings.Cut(s, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return params
	}
	s = rest
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return params
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return params // a token68 or the next scheme: stop
		}
		name := strings.ToLower(strings.TrimSpace(s[:eq]))
		if strings.ContainsAny(name, " \t") {
			return params // "Basic realm=..." of a following challenge
		}
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(s); i++ {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					i++
					b.WriteByte(s[i])
					continue
				}
				if c == '"' {
					break
				}
				b.WriteByte(c)
			}
			val = b.String()
			if i < len(s) {
				i++
			}
			s = s[i:]
		} else {
			end := strings.IndexAny(s, ", \t")
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
		}
		params[name] = val
	}
}
