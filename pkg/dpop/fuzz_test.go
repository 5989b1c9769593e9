package dpop_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/abc-inc/timesheets/pkg/dpop"
)

// fuzzKeys are derived from fixed seeds, not drawn at random: each fuzz
// worker is a process of its own, and every one must know the proofs the
// others were seeded with.
func fuzzKeys(tb testing.TB) []*dpop.Key {
	tb.Helper()
	seed := func(label string) []byte { s := sha256.Sum256([]byte("dpop fuzz " + label)); return s[:] }
	ec, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), seed("p256"))
	if err != nil {
		tb.Fatal(err)
	}
	ed := ed25519.NewKeyFromSeed(seed("ed25519"))
	var keys []*dpop.Key
	for _, signer := range []crypto.Signer{ec, deterministicRSA(tb), ed} {
		der, err := x509.MarshalPKCS8PrivateKey(signer)
		if err != nil {
			tb.Fatal(err)
		}
		k, err := dpop.ParseKey(pemBytes("PRIVATE KEY", der))
		if err != nil {
			tb.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}

// deterministicRSA is a 2048-bit RSA key from two primes found by a
// deterministic search from fixed starting points.
func deterministicRSA(tb testing.TB) *rsa.PrivateKey {
	tb.Helper()
	prime := func(label string) *big.Int {
		var b []byte
		for i := byte(0); len(b) < 128; i++ {
			s := sha256.Sum256([]byte("dpop fuzz rsa " + label + string(rune('0'+i))))
			b = append(b, s[:]...)
		}
		p := new(big.Int).SetBytes(b[:128])
		p.SetBit(p, 1023, 1).SetBit(p, 1022, 1).SetBit(p, 0, 1)
		for two := big.NewInt(2); !p.ProbablyPrime(20); p.Add(p, two) {
		}
		return p
	}
	p, q := prime("p"), prime("q")
	e := big.NewInt(65537)
	one := big.NewInt(1)
	phi := new(big.Int).Mul(new(big.Int).Sub(p, one), new(big.Int).Sub(q, one))
	d := new(big.Int).ModInverse(e, phi)
	if d == nil {
		tb.Fatal("e not invertible")
	}
	k := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: new(big.Int).Mul(p, q), E: 65537}, D: d, Primes: []*big.Int{p, q}}
	k.Precompute()
	if err := k.Validate(); err != nil {
		tb.Fatal(err)
	}
	return k
}

// FuzzVerify: no input makes Verify panic; every refusal is an *Error with a
// Reason from the fixed set that does not quote the input; and no input is
// accepted unless it is one of the proofs signed here: its signed part must be
// byte-identical to a seed's (and the whole proof too for the deterministic
// RS256 and EdDSA signatures), its key one of ours, and go-jose must agree
// that its signature verifies.
func FuzzVerify(f *testing.F) {
	keys := fuzzKeys(f)
	o := testOptions()
	reasons := dpop.Reasons()
	methods := map[string]jwt.SigningMethod{"ES256": jwt.SigningMethodES256, "RS256": jwt.SigningMethodRS256, "EdDSA": jwt.SigningMethodEdDSA}
	signed := map[string]string{} // signing input -> the proof ("" when the signature is randomised: ECDSA)
	thumbprints := map[string]bool{}
	var valid []string
	for _, k := range keys {
		thumbprints[k.Thumbprint()] = true
		c := baseClaims()
		c["jti"] = "fuzz-" + k.Alg()
		c["ath"] = dpop.AccessTokenHash("token")
		proof := signRaw(f, methods[k.Alg()], k.Signer(), baseHeader(k), c)
		if _, err := dpop.Verify(proof, testMethod, testHTU, o); err != nil {
			f.Fatal(err)
		}
		input := proof[:strings.LastIndexByte(proof, '.')]
		signed[input] = proof
		if k.Alg() == "ES256" {
			signed[input] = ""
		}
		valid = append(valid, proof)
	}
	for _, proof := range valid {
		parts := strings.Split(proof, ".")
		f.Add(proof)
		f.Add(proof[:len(proof)-1])
		f.Add(parts[0] + "." + parts[1] + ".")
		f.Add(parts[0] + "." + parts[1] + "." + flip(parts[2]))
		f.Add(parts[0] + ".." + parts[2])
		f.Add(proof + "," + proof)
		f.Add(proof + "=")
		f.Add(strings.Replace(proof, ".", "=.", 1))
		f.Add(b64(`{"typ":"dpop+jwt","alg":"none","jwk":{}}`) + "." + parts[1] + ".")
		f.Add(b64(`{"typ":"dpop+jwt","alg":"HS256","jwk":{"kty":"oct","k":"AAAA"}}`) + "." + parts[1] + "." + parts[2])
	}
	f.Add(strings.Split(valid[0], ".")[0] + "." + strings.Split(valid[1], ".")[1] + "." + strings.Split(valid[1], ".")[2])
	f.Add("")
	f.Add("...")
	f.Add("a.b.c")
	f.Add(strings.Repeat("A", dpop.MaxProofLength+1))

	f.Fuzz(func(t *testing.T, proof string) {
		p, err := dpop.Verify(proof, testMethod, testHTU, o)
		if err != nil {
			var de *dpop.Error
			if !errors.As(err, &de) || !slices.Contains(reasons, de.Reason) || p != nil {
				t.Fatalf("refusal %T %v with proof %v", err, err, p)
			}
			for _, part := range strings.FieldsFunc(proof, func(r rune) bool { return r == '.' || r == ' ' || r == ',' }) {
				if len(part) >= 16 && strings.Contains(err.Error(), part) {
					t.Fatalf("the error quotes the proof: %v", err)
				}
			}
			return
		}
		input := proof[:strings.LastIndexByte(proof, '.')]
		seed, ok := signed[input]
		switch {
		case !ok:
			t.Fatalf("accepted a proof whose signed part is no seed's: %q", proof)
		case seed != "" && seed != proof:
			t.Fatalf("accepted a mutated proof: %q", proof)
		case !thumbprints[p.JKT]:
			t.Fatalf("accepted a proof of a key not ours")
		case p.HTM != testMethod || p.JTI == "":
			t.Fatalf("accepted proof with htm %q jti %q", p.HTM, p.JTI)
		}
		// An independent check of the signature and the header: go-jose.
		jws, err := jose.ParseSignedCompact(proof, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA})
		if err != nil || len(jws.Signatures) != 1 {
			t.Fatalf("go-jose cannot parse an accepted proof: %v", err)
		}
		h := jws.Signatures[0].Protected
		if h.ExtraHeaders["typ"] != "dpop+jwt" || h.JSONWebKey == nil || !h.JSONWebKey.IsPublic() {
			t.Fatalf("accepted a proof with header %+v", h)
		}
		payload, err := jws.Verify(h.JSONWebKey)
		if err != nil {
			t.Fatalf("go-jose refuses the signature of an accepted proof: %v", err)
		}
		var claims map[string]any
		if json.Unmarshal(payload, &claims) != nil || claims["htm"] != testMethod || claims["htu"] != testHTU {
			t.Fatalf("accepted claims %s", payload)
		}
	})
}
