package dpop_test

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/abc-inc/timesheets/pkg/dpop"
)

// BenchmarkVerify is the cost of checking one proof (Verify and Bind), to
// set beside a bearer token's signature check (pkg/auth's BenchmarkVerify).
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{"ES256", "RS256", "PS256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			k, err := dpop.NewKey(alg)
			if err != nil {
				b.Fatal(err)
			}
			proof, err := k.Proof(testMethod, testHTU, "token", "", testNow)
			if err != nil {
				b.Fatal(err)
			}
			o := testOptions()
			b.ReportAllocs()
			for b.Loop() {
				p, err := dpop.Verify(proof, testMethod, testHTU, o)
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Bind("token", k.Thumbprint()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkProof is a client's cost of one proof.
func BenchmarkProof(b *testing.B) {
	for _, alg := range []string{"ES256", "RS256"} {
		b.Run(alg, func(b *testing.B) {
			k, err := dpop.NewKey(alg)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := k.Proof(testMethod, testHTU, "token", "", testNow); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReplay is one replica's replay check (MemoryLedger) and a nonce
// check, to set beside the store's shared ledger.
func BenchmarkReplay(b *testing.B) {
	b.Run("MemoryLedger", func(b *testing.B) {
		const size = 1 << 16
		var l *dpop.MemoryLedger
		until := time.Now().Add(time.Hour)
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			if i%size == 0 {
				l = dpop.NewMemoryLedger(size) // a full one refuses claims
			}
			i++
			if _, err := l.Claim(context.Background(), dpop.ReplayKey(&dpop.Proof{JKT: "k", JTI: strconv.Itoa(i)}), until); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Nonces", func(b *testing.B) {
		n := &dpop.Nonces{Secret: bytes.Repeat([]byte{1}, 32)}
		nonce := n.Issue()
		b.ReportAllocs()
		for b.Loop() {
			if !n.Valid(nonce) {
				b.Fatal("invalid")
			}
		}
	})
}
