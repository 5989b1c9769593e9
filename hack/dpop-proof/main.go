// Command dpop-proof prints a DPoP proof (RFC 9449 §4.2) for a curl call:
// the key is a PEM file, made (ES256, P-256, mode 0600) when it does not
// exist yet, so that the token request and the API calls prove one key.
//
//	P=$(go run ./hack/dpop-proof -key data/dpop-key.pem -htm POST -htu http://127.0.0.1:9443/oauth/token)
//	P=$(go run ./hack/dpop-proof -key data/dpop-key.pem -htm GET -htu http://127.0.0.1:8080/timesheets -token "$TOKEN")
//	go run ./hack/dpop-proof -key data/dpop-key.pem -jkt   # the key's thumbprint: a bound token's cnf.jkt
//
// -token adds ath, the access token's hash (a call to the API); -nonce a
// server's DPoP-Nonce. It is a development tool: the key file is not
// protected beyond its mode.
package main

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/abc-inc/timesheets/pkg/dpop"
)

func main() {
	keyFile := flag.String("key", "dpop-key.pem", "the key's PEM file; made (ES256) if it does not exist")
	htm := flag.String("htm", "POST", "the request's method")
	htu := flag.String("htu", "", "the request's URL (query and fragment are left out)")
	token := flag.String("token", "", "the access token sent with the request: adds ath")
	nonce := flag.String("nonce", "", "the server's DPoP-Nonce, if it asked for one")
	jkt := flag.Bool("jkt", false, "print the key's RFC 7638 thumbprint instead of a proof")
	flag.Parse()
	if err := run(*keyFile, *htm, *htu, *token, *nonce, *jkt); err != nil {
		fmt.Fprintln(os.Stderr, "dpop-proof:", err)
		os.Exit(1)
	}
}

func run(keyFile, htm, htu, token, nonce string, jkt bool) error {
	key, err := readOrCreate(keyFile)
	if err != nil {
		return err
	}
	if jkt {
		fmt.Println(key.Thumbprint())
		return nil
	}
	if htu == "" {
		return errors.New("-htu is required: the URL the proof is for")
	}
	p, err := key.Proof(htm, htu, token, nonce, time.Now())
	if err != nil {
		return err
	}
	fmt.Println(p)
	return nil
}

func readOrCreate(path string) (*dpop.Key, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return dpop.ParseKey(b)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	key, err := dpop.NewKey("ES256")
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key.Signer())
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return nil, err
	}
	return key, f.Close()
}
