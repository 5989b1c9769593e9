package auth

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The identity rules: who a verified token names, in one place.
//
// An identity is "ISSUER#KIND:VALUE", KIND being "sub" (the token's subject)
// or "client" (its client id: azp, or client_id). Subjects and client ids
// are unique only within their issuer (RFC 7519 section 4.1.2, RFC 8693
// section 4.3), so the issuer qualifies them; the kinds keep a subject and
// a client id that happen to be spelt alike apart. An issuer identifier has
// no fragment (RFC 8414 section 2, OpenID Connect Discovery section 3), so
// the first '#' ends it and the form is unambiguous.
//
// A token whose issuer or value cannot be written so (missing, too long,
// invalid UTF-8, control or format characters) names nobody: "" is returned
// and the caller must refuse what needs a name.

// maxIdentityPart bounds the issuer and the value of an identity: a name
// is stored with every entry and must stay short.
const maxIdentityPart = 255

// Caller names who sent the request: the subject of its verified token,
// else the client id (a machine token without sub), qualified by the
// issuer. "" when there is no verified token or it names nobody.
func Caller(ctx context.Context) string {
	t := TokenFrom(ctx)
	if t == nil {
		return ""
	}
	if t.Subject != "" {
		return identity(t.Issuer, "sub", t.Subject)
	}
	return identity(t.Issuer, "client", t.ClientID)
}

// Client names the client that sent the request: the client id of its
// verified token (azp, or client_id), else its subject, qualified by the
// issuer. It owns the (source, external_id) keys of the entries it creates.
// "" when there is no verified token or it names nobody.
func Client(ctx context.Context) string {
	t := TokenFrom(ctx)
	if t == nil {
		return ""
	}
	if t.ClientID != "" {
		return identity(t.Issuer, "client", t.ClientID)
	}
	return identity(t.Issuer, "sub", t.Subject)
}

func identity(issuer, kind, value string) string {
	if !namePart(issuer) || !namePart(value) || strings.ContainsRune(issuer, '#') {
		return ""
	}
	return issuer + "#" + kind + ":" + value
}

func namePart(s string) bool {
	return s != "" && len(s) <= maxIdentityPart && utf8.ValidString(s) &&
		!strings.ContainsFunc(s, func(r rune) bool {
			if r < utf8.RuneSelf {
				return r < 0x20 || r == 0x7f // the ASCII controls, without the tables
			}
			return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
		})
}
