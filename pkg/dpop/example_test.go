package dpop_test

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/abc-inc/timesheets/pkg/dpop"
)

// A client proves possession of its key with every request; a resource
// server checks the proof (RFC 9449 §4.3), binds it to the access token
// (§7.1), and refuses a nonce it did not issue (§9) and a replay (§11.1).
func Example() {
	// Client.
	key, _ := dpop.NewKey("ES256")
	token := "eyJ...access-token" // issued with cnf.jkt = key.Thumbprint()
	server := &dpop.Nonces{Secret: bytes.Repeat([]byte{42}, 32)}
	nonce := server.Issue() // sent in a DPoP-Nonce header
	proof, _ := key.Proof("GET", "https://api.example.com/v1/entries?page=2", token, nonce, time.Now())

	// Resource server.
	opts := dpop.Options{Algorithms: []string{"ES256", "RS256"}, Skew: 30 * time.Second}
	ledger := dpop.NewMemoryLedger(0)
	check := func() error {
		p, err := dpop.Verify(proof, "GET", "https://api.example.com/v1/entries", opts)
		if err != nil {
			return err
		}
		if err := p.Bind(token, key.Thumbprint()); err != nil {
			return err
		}
		if err := server.Check(p.Nonce); err != nil {
			return err
		}
		return dpop.CheckReplay(context.Background(), ledger, p, opts)
	}
	fmt.Println(check())
	fmt.Println(check())
	// Output:
	// <nil>
	// dpop: the DPoP proof was used before
}
