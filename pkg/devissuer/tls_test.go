package devissuer_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/devissuer"
)

// TestTLS serves https with a throwaway CA: a client trusting that CA gets
// the discovery document, naming https endpoints; one trusting only the
// system roots is refused.
func TestTLS(t *testing.T) {
	cfg, caPEM, err := devissuer.ThrowawayTLS("127.0.0.1", "issuer.localhost")
	require.NoError(t, err)
	s := start(t, devissuer.Config{TLS: cfg})
	require.True(t, strings.HasPrefix(s.URL(), "https://127.0.0.1:"), s.URL())
	assert.Equal(t, s.URL()+"/", s.Issuer())

	trusting, err := devissuer.TrustingClient(caPEM, "", 5*time.Second)
	require.NoError(t, err)
	resp, err := trusting.Get(s.URL() + devissuer.DiscoveryPath)
	require.NoError(t, err)
	defer resp.Body.Close()
	var doc map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
	assert.Equal(t, s.Issuer(), doc["issuer"])
	assert.Equal(t, s.JWKSURL(), doc["jwks_uri"])
	assert.True(t, strings.HasPrefix(s.TokenURL(), "https://"), s.TokenURL())

	_, err = (&http.Client{Timeout: 5 * time.Second}).Get(s.JWKSURL())
	var unknown x509.UnknownAuthorityError
	require.ErrorAs(t, err, &unknown, "the system roots must not trust the throwaway CA")
}

func TestTLSRefusals(t *testing.T) {
	_, _, err := devissuer.ThrowawayTLS()
	require.ErrorContains(t, err, "at least one host")
	_, err = devissuer.New(devissuer.Config{TLS: &tls.Config{}, Clients: testClients})
	require.ErrorContains(t, err, "no certificate")
}
