// Package oidc is the one OpenID Connect Discovery 1.0 client of the API
// (finding an issuer's jwks_uri) and the importer (finding its
// token_endpoint). It needs nothing but the standard library, so the
// importer links no Kubernetes package through it.
package oidc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// WellKnownPath is appended to the issuer to find its configuration
// (OpenID Connect Discovery 1.0 §4).
const WellKnownPath = "/.well-known/openid-configuration"

// Defaults of a Client.
const (
	DefaultTimeout  = 10 * time.Second
	DefaultMaxBytes = 1 << 20 // real documents are a few KiB
)

// ConfigurationURL is where issuer publishes its configuration: issuer with
// any terminating "/" removed, then WellKnownPath (§4).
func ConfigurationURL(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + WellKnownPath
}

// Metadata holds the OpenID Provider Metadata (§3) this module reads.
type Metadata struct {
	Issuer        string `json:"issuer"`
	JWKSURI       string `json:"jwks_uri"`
	TokenEndpoint string `json:"token_endpoint,omitempty"`
}

// Client fetches OpenID Provider configurations.
type Client struct {
	// HTTPClient makes the request; it should have a timeout. Nil: a client
	// with DefaultTimeout.
	HTTPClient *http.Client
	// MaxBytes bounds the document; <= 0 means DefaultMaxBytes.
	MaxBytes int64
}

// StatusError is an answer other than 200 OK (§4.2). Header is the
// response's, for Retry-After.
type StatusError struct {
	URL        string
	StatusCode int
	Header     http.Header
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("OIDC discovery: GET %s: HTTP %d", e.URL, e.StatusCode)
}

// IssuerMismatchError is a configuration naming an issuer other than the
// one asked for. §4.3 wants the two identical, compared as strings: a
// trailing "/" matters.
type IssuerMismatchError struct {
	URL  string // the configuration's URL
	Got  string // the issuer the document names
	Want string // the issuer asked for
}

func (e *IssuerMismatchError) Error() string {
	msg := fmt.Sprintf("OIDC discovery at %s names issuer %q, want %q", e.URL, e.Got, e.Want)
	if strings.TrimSuffix(e.Got, "/") == strings.TrimSuffix(e.Want, "/") {
		msg += " (only a trailing \"/\" differs, but the issuer must be identical, OpenID Connect Discovery 1.0 §4.3)"
	}
	return msg
}

// Discover fetches the configuration of issuer and checks that it is the
// issuer's own (§4.3). ctx bounds the request. A request that failed
// before an answer comes wrapped in *url.Error; an answer other than
// 200 OK is a *StatusError; a document naming another issuer is an
// *IssuerMismatchError.
func (c *Client) Discover(ctx context.Context, issuer string) (*Metadata, error) {
	client, limit := c.HTTPClient, c.MaxBytes
	if client == nil {
		client = &http.Client{Timeout: DefaultTimeout}
	}
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	u := ConfigurationURL(issuer)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("OIDC discovery: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("OIDC discovery: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &StatusError{URL: u, StatusCode: resp.StatusCode, Header: resp.Header}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("OIDC discovery: GET %s: read: %w", u, err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("OIDC discovery: GET %s: the document exceeds %d bytes", u, limit)
	}
	var md Metadata
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&md); err != nil {
		return nil, fmt.Errorf("OIDC discovery: GET %s: decode: %w", u, err)
	}
	if md.Issuer != issuer {
		return nil, &IssuerMismatchError{URL: u, Got: md.Issuer, Want: issuer}
	}
	return &md, nil
}
