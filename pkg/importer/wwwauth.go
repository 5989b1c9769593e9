package importer

import "strings"

// bearerChallenge reads the parameters of a Bearer challenge in a
// WWW-Authenticate header (RFC 6750 §3), e.g.
//
//	Bearer realm="timesheets", error="insufficient_scope", scope="batch:upload"
//
// Parameter names are lower-cased. Other schemes' challenges are ignored.
func bearerChallenge(header string) map[string]string {
	p, _ := challenge([]string{header}, "Bearer")
	return p
}

// challenge finds the first challenge of scheme (case-insensitive) in the
// WWW-Authenticate header values (RFC 9110 §11.6.1: each value a
// comma-separated list of challenges), e.g. the DPoP one of
//
//	Bearer realm="timesheets", DPoP algs="ES256 RS256", error="use_dpop_nonce"
//
// and returns its parameters, names lower-cased; ok is false when there is
// no such challenge (params is then empty, not nil).
func challenge(values []string, scheme string) (params map[string]string, ok bool) {
	for _, h := range values {
		s := h
		for {
			s = strings.TrimLeft(s, " \t,")
			if s == "" {
				break
			}
			end := strings.IndexAny(s, " \t,")
			if end < 0 {
				end = len(s)
			}
			name := s[:end]
			var p map[string]string
			p, s = authParams(s[end:])
			if strings.EqualFold(name, scheme) {
				return p, true
			}
		}
	}
	return map[string]string{}, false
}

// authParams reads a challenge's auth-params from s up to the next
// challenge and returns them with the rest of s.
func authParams(s string) (map[string]string, string) {
	params := map[string]string{}
	for {
		rest := strings.TrimLeft(s, " \t,")
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return params, rest // a token68 or the next scheme: stop
		}
		name := strings.ToLower(strings.TrimSpace(rest[:eq]))
		if strings.ContainsAny(name, " \t,") {
			return params, rest // "DPoP algs=..." of a following challenge
		}
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		var val string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(rest); i++ {
				c := rest[i]
				if c == '\\' && i+1 < len(rest) {
					i++
					b.WriteByte(rest[i])
					continue
				}
				if c == '"' {
					break
				}
				b.WriteByte(c)
			}
			val = b.String()
			if i < len(rest) {
				i++
			}
			rest = rest[i:]
		} else {
			end := strings.IndexAny(rest, ", \t")
			if end < 0 {
				end = len(rest)
			}
			val, rest = rest[:end], rest[end:]
		}
		params[name] = val
		s = rest
	}
}
