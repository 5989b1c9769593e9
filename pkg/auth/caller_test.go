package auth

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCallerAndClient(t *testing.T) {
	const iss = "https://tenant.example/"
	cases := []struct {
		name           string
		tok            *Token
		caller, client string
	}{
		{"no token", nil, "", ""},
		{"user token with azp", &Token{Issuer: iss, Subject: "auth0|abc", ClientID: "spa"},
			iss + "#sub:auth0|abc", iss + "#client:spa"},
		{"machine token with sub", &Token{Issuer: iss, Subject: "importer@clients", ClientID: "importer"},
			iss + "#sub:importer@clients", iss + "#client:importer"},
		{"no sub: the client id names the caller", &Token{Issuer: iss, ClientID: "importer"},
			iss + "#client:importer", iss + "#client:importer"},
		{"no client id: the subject names the client", &Token{Issuer: iss, Subject: "alice"},
			iss + "#sub:alice", iss + "#sub:alice"},
		{"neither sub nor client id", &Token{Issuer: iss}, "", ""},
		{"no issuer", &Token{Subject: "alice", ClientID: "c"}, "", ""},
		{"issuer with a fragment", &Token{Issuer: "https://a.example/#x", Subject: "alice", ClientID: "c"}, "", ""},
		{"bidi override in sub", &Token{Issuer: iss, Subject: "ali\u202ece", ClientID: "c"}, "", iss + "#client:c"},
		{"zero-width space in client id", &Token{Issuer: iss, Subject: "alice", ClientID: "c\u200b"}, iss + "#sub:alice", ""},
		{"control character in sub", &Token{Issuer: iss, Subject: "al\nice"}, "", ""},
		{"invalid UTF-8 in sub", &Token{Issuer: iss, Subject: "al\xffice"}, "", ""},
		{"overlong sub", &Token{Issuer: iss, Subject: strings.Repeat("a", maxIdentityPart+1)}, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.tok != nil {
				ctx = context.WithValue(ctx, tokenKey{}, tc.tok)
			}
			require.Equal(t, tc.caller, Caller(ctx))
			require.Equal(t, tc.client, Client(ctx))
		})
	}
}

// TestIdentitiesDoNotCollide: a subject and a client id spelt alike, or
// the same subject from two issuers, are different identities.
func TestIdentitiesDoNotCollide(t *testing.T) {
	with := func(tok *Token) context.Context { return context.WithValue(context.Background(), tokenKey{}, tok) }
	a := Caller(with(&Token{Issuer: "https://a.example/", Subject: "x"}))
	b := Caller(with(&Token{Issuer: "https://b.example/", Subject: "x"}))
	c := Caller(with(&Token{Issuer: "https://a.example/", ClientID: "x"}))
	require.NotEmpty(t, a)
	require.NotEqual(t, a, b)
	require.NotEqual(t, a, c)
}
