package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/abc-inc/timesheets/pkg/auth"
	"github.com/abc-inc/timesheets/pkg/policy"
)

// FuzzVerify: no input makes the verifier panic or accept a token it did not
// see signed, and every refusal has a reason from the fixed set.
func FuzzVerify(f *testing.F) {
	is := newIssuer(f)
	keys := auth.NewKeys(auth.KeyOptions{UnknownKIDInterval: time.Hour})
	defer keys.Close()
	snap, err := policy.Compile("fuzz", 1, baseSpec(is))
	if err != nil {
		f.Fatal(err)
	}
	keys.Sync(snap.Issuers)
	if err := keys.WaitReady(context.Background(), snap.Issuers); err != nil {
		f.Fatal(err)
	}
	valid := is.sign(f, jwt.SigningMethodRS256, "rsa-1", jwt.MapClaims{"iss": is.iss(), "aud": audience, "exp": time.Now().Add(time.Hour).Unix()})
	parts := strings.Split(valid, ".")
	f.Add(valid)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + ".." + parts[2])
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("...")
	f.Add("a.b.c.d")
	known := map[auth.Reason]bool{}
	for _, r := range auth.Reasons {
		known[r] = true
	}
	v := auth.NewVerifier(keys, 0)
	f.Fuzz(func(t *testing.T, raw string) {
		_, reason := v.Verify(context.Background(), snap, raw)
		if raw == valid {
			if reason != "" {
				t.Fatalf("valid token refused: %s", reason)
			}
			return
		}
		if reason == "" {
			t.Fatalf("accepted a token that was never signed: %q", raw)
		}
		if !known[reason] {
			t.Fatalf("reason %q is not in the fixed set", reason)
		}
	})
}
