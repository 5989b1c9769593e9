package importer

import (
	"strings"
	"testing"
)

// TestPlainHTTPIssuer: a plain http:// token endpoint or issuer off loopback
// carries the client secret in clear, so it needs AllowHTTPIssuer; the API
// URL's own opt-in does not grant it.
func TestPlainHTTPIssuer(t *testing.T) {
	base := Config{Source: "entries.csv", APIURL: "http://127.0.0.1:8080", AllowHTTPAPI: true}
	for name, tc := range map[string]struct {
		mutate  func(*Config)
		wantErr string
	}{
		"token url refused":   {func(c *Config) { c.TokenURL = "http://10.244.0.1:9443/oauth/token" }, "--token-url"},
		"issuer refused":      {func(c *Config) { c.Issuer = "http://10.244.0.1:9443/" }, "--issuer"},
		"token url allowed":   {func(c *Config) { c.TokenURL = "http://10.244.0.1:9443/oauth/token"; c.AllowHTTPIssuer = true }, ""},
		"issuer allowed":      {func(c *Config) { c.Issuer = "http://10.244.0.1:9443/"; c.AllowHTTPIssuer = true }, ""},
		"loopback needs none": {func(c *Config) { c.TokenURL = "http://127.0.0.1:9443/oauth/token" }, ""},
		"https needs none":    {func(c *Config) { c.TokenURL = "https://abc-inc.eu.auth0.com/oauth/token" }, ""},
	} {
		t.Run(name, func(t *testing.T) {
			c := base
			tc.mutate(&c)
			err := c.withDefaults().validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "https://")):
				t.Fatalf("error %v; want one naming %s and https://", err, tc.wantErr)
			}
		})
	}
}
