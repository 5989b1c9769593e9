package devissuer_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/abc-inc/timesheets/pkg/devissuer"
	"github.com/abc-inc/timesheets/pkg/syncbuf"
)

// keyClient is a private_key_jwt client of a test: its private key, the
// kid it was registered under ("" for none) and the algorithm it signs with.
type keyClient struct {
	id   string
	priv crypto.Signer
	kid  string
	alg  jwt.SigningMethod
}

func newECClient(t testing.TB, id, kid string) keyClient {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return keyClient{id: id, priv: priv, kid: kid, alg: jwt.SigningMethodES256}
}

func newRSAClient(t testing.TB, id, kid string) keyClient {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return keyClient{id: id, priv: priv, kid: kid, alg: jwt.SigningMethodRS256}
}

func (k keyClient) client(scopes ...string) devissuer.Client {
	return devissuer.Client{ID: k.id, Scopes: scopes, Keys: []devissuer.ClientKey{{KID: k.kid, Public: k.priv.Public()}}}
}

// claims are an assertion's claims as RFC 7523 §3 wants them, for aud.
func (k keyClient) claims(aud string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"iss": k.id, "sub": k.id, "aud": aud, "iat": now.Unix(),
		"exp": now.Add(time.Minute).Unix(), "jti": rand.Text()}
}

// sign signs claims with the client's key (or with, if set), naming kid.
func (k keyClient) sign(t testing.TB, claims jwt.MapClaims, kid string, with crypto.Signer) string {
	t.Helper()
	if with == nil {
		with = k.priv
	}
	tok := jwt.NewWithClaims(k.alg, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(with)
	require.NoError(t, err)
	return s
}

func assertionForm(assertion string, extra url.Values) url.Values {
	f := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {devissuer.ClientAssertionType},
		"client_assertion": {assertion}}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

func TestPrivateKeyJWT(t *testing.T) {
	ec := newECClient(t, "keyed", "k1")
	rs := newRSAClient(t, "rsa-keyed", "")
	intruder := newECClient(t, "keyed", "k1") // the same kid, another key
	logs := &syncbuf.Buffer{}
	s := start(t, devissuer.Config{
		Clients: append([]devissuer.Client{ec.client("batch:upload"), rs.client("read:timesheets")}, testClients...),
		Logger:  slog.New(slog.NewTextHandler(logs, nil)),
	})
	with := func(c jwt.MapClaims, edit func(jwt.MapClaims)) jwt.MapClaims { edit(c); return c }
	now := time.Now()

	replayed := ec.sign(t, ec.claims(s.Issuer()), "k1", nil)
	require.Equal(t, 200, postForm(t, s, assertionForm(replayed, nil), nil).StatusCode)

	tests := []struct {
		name    string
		form    url.Values
		user    *url.Userinfo
		status  int
		errCode string
		reason  string // in the error description
		client  string
	}{
		{name: "ES256, aud the issuer, kid", form: assertionForm(ec.sign(t, ec.claims(s.Issuer()), "k1", nil), nil),
			status: 200, client: "keyed"},
		{name: "aud the token endpoint (OIDC Core §9)", form: assertionForm(ec.sign(t, ec.claims(s.Discovery().TokenEndpoint), "k1", nil), nil),
			status: 200, client: "keyed"},
		{name: "aud a one-element array", form: assertionForm(ec.sign(t, with(ec.claims(""), func(c jwt.MapClaims) { c["aud"] = []string{s.Issuer()} }), "k1", nil), nil),
			status: 200, client: "keyed"},
		{name: "no kid: every key of the client is tried", form: assertionForm(ec.sign(t, ec.claims(s.Issuer()), "", nil), nil),
			status: 200, client: "keyed"},
		{name: "RS256 with the client_id too", form: assertionForm(rs.sign(t, rs.claims(s.Issuer()), "", nil), url.Values{"client_id": {"rsa-keyed"}}),
			status: 200, client: "rsa-keyed"},
		{name: "bad signature", form: assertionForm(ec.sign(t, ec.claims(s.Issuer()), "k1", intruder.priv), nil),
			status: 401, errCode: "invalid_client", reason: "bad signature"},
		{name: "wrong aud", form: assertionForm(ec.sign(t, ec.claims("https://other.example/"), "k1", nil), nil),
			status: 401, errCode: "invalid_client", reason: "aud must be this server's issuer"},
		{name: "aud the API, not the server", form: assertionForm(ec.sign(t, ec.claims(apiAudience), "k1", nil), nil),
			status: 401, errCode: "invalid_client", reason: "aud must be"},
		{name: "two audiences", form: assertionForm(ec.sign(t, with(ec.claims(""), func(c jwt.MapClaims) { c["aud"] = []string{s.Issuer(), "https://other.example/"} }), "k1", nil), nil),
			status: 401, errCode: "invalid_client", reason: "aud must be"},
		{name: "expired", form: assertionForm(ec.sign(t, with(ec.claims(s.Issuer()), func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(-3*time.Minute).Unix(), now.Add(-2*time.Minute).Unix()
		}), "k1", nil), nil), status: 401, errCode: "invalid_client", reason: "expired"},
		{name: "no exp", form: assertionForm(ec.sign(t, with(ec.claims(s.Issuer()), func(c jwt.MapClaims) { delete(c, "exp") }), "k1", nil), nil),
			status: 401, errCode: "invalid_client"},
		{name: "lives longer than five minutes", form: assertionForm(ec.sign(t, with(ec.claims(s.Issuer()), func(c jwt.MapClaims) {
			c["exp"] = now.Add(10 * time.Minute).Unix()
		}), "k1", nil), nil), status: 401, errCode: "invalid_client", reason: "more than 5m0s after iat"},
		{name: "no iat", form: assertionForm(ec.sign(t, with(ec.claims(s.Issuer()), func(c jwt.MapClaims) { delete(c, "iat") }), "k1", nil), nil),
			status: 401, errCode: "invalid_client", reason: "without iat"},
		{name: "iat in the future", form: assertionForm(ec.sign(t, with(ec.claims(s.Issuer()), func(c jwt.MapClaims) {
			c["iat"] = now.Add(2 * time.Minute).Unix()
		}), "k1", nil), nil), status: 401, errCode: "invalid_client", reason: "in the future"},
		{name: "no jti", form: assertionForm(ec.sign(t, with(ec.claims(s.Issuer()), func(c jwt.MapClaims) { delete(c, "jti") }), "k1", nil), nil),
			status: 401, errCode: "invalid_client", reason: "without jti"},
		{name: "replayed jti", form: assertionForm(replayed, nil), status: 401, errCode: "invalid_client", reason: "replayed"},
		{name: "unknown kid", form: assertionForm(ec.sign(t, ec.claims(s.Issuer()), "k2", nil), nil),
			status: 401, errCode: "invalid_client", reason: "no key of the client"},
		{name: "unknown key without kid", form: assertionForm(intruder.sign(t, intruder.claims(s.Issuer()), "", nil), nil),
			status: 401, errCode: "invalid_client", reason: "bad signature"},
		{name: "alg of another key type", form: assertionForm(rs.sign(t, ec.claims(s.Issuer()), "", nil), nil),
			status: 401, errCode: "invalid_client", reason: "no key of the client"},
		{name: "unknown client", form: assertionForm(ec.sign(t, with(ec.claims(s.Issuer()), func(c jwt.MapClaims) { c["iss"], c["sub"] = "nobody", "nobody" }), "k1", nil), nil),
			status: 401, errCode: "invalid_client", reason: "no private_key_jwt client"},
		{name: "a secret client's id", form: assertionForm(ec.sign(t, with(ec.claims(s.Issuer()), func(c jwt.MapClaims) { c["iss"], c["sub"] = "importer", "importer" }), "k1", nil), nil),
			status: 401, errCode: "invalid_client", reason: "no private_key_jwt client"},
		{name: "sub not the client", form: assertionForm(ec.sign(t, with(ec.claims(s.Issuer()), func(c jwt.MapClaims) { c["sub"] = "someone" }), "k1", nil), nil),
			status: 401, errCode: "invalid_client", reason: "sub must be the client id"},
		{name: "client_id of another client", form: assertionForm(ec.sign(t, ec.claims(s.Issuer()), "k1", nil), url.Values{"client_id": {"rsa-keyed"}}),
			status: 400, errCode: "invalid_request"},
		{name: "unsigned (alg none)", form: assertionForm(unsigned(t, ec.claims(s.Issuer())), nil), status: 401, errCode: "invalid_client"},
		{name: "garbage", form: assertionForm("not.a.jwt", nil), status: 401, errCode: "invalid_client", reason: "malformed"},
		{name: "another assertion type", form: assertionForm(ec.sign(t, ec.claims(s.Issuer()), "k1", nil), url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:saml2-bearer"}}),
			status: 401, errCode: "invalid_client", reason: "unsupported client_assertion_type"},
		{name: "assertion without its type", form: url.Values{"grant_type": {"client_credentials"}, "client_assertion": {ec.sign(t, ec.claims(s.Issuer()), "k1", nil)}},
			status: 400, errCode: "invalid_request"},
		{name: "assertion and a secret", form: assertionForm(ec.sign(t, ec.claims(s.Issuer()), "k1", nil), url.Values{"client_secret": {"x"}}),
			status: 400, errCode: "invalid_request"},
		{name: "assertion and Basic", form: assertionForm(ec.sign(t, ec.claims(s.Issuer()), "k1", nil), nil), user: url.UserPassword("importer", "importer-secret"),
			status: 400, errCode: "invalid_request"},
		{name: "a key client with a secret", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {"keyed"}, "client_secret": {"guess"}},
			status: 401, errCode: "invalid_client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := postForm(t, s, tc.form, tc.user)
			require.Equal(t, tc.status, resp.StatusCode)
			if tc.errCode != "" {
				e := decode[devissuer.ErrorResponse](t, resp.Body)
				assert.Equal(t, tc.errCode, e.Error)
				assert.Contains(t, e.Description, tc.reason)
				return
			}
			tr := decode[devissuer.TokenResponse](t, resp.Body)
			_, c := verify(t, s, tr.AccessToken, apiAudience)
			assert.Equal(t, tc.client+"@clients", c.Subject)
			assert.Equal(t, tc.client, c.AZP)
		})
	}
	assert.NotContains(t, logs.String(), replayed, "the log never quotes an assertion")
	assert.Contains(t, logs.String(), "method=private_key_jwt")
}

// unsigned is an alg "none" JWT.
func unsigned(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	return s
}

func TestClientKeysChecked(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	ec := newECClient(t, "keyed", "")
	for name, c := range map[string]devissuer.Client{
		"RSA below 2048 bits": {ID: "a", Keys: []devissuer.ClientKey{{Public: small.Public()}}},
		"P-384":               {ID: "a", Keys: []devissuer.ClientKey{{Public: p384.Public()}}},
		"secret and keys":     {ID: "a", Secret: "s", Keys: ec.client().Keys},
		"neither":             {ID: "a"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := devissuer.New(devissuer.Config{Clients: []devissuer.Client{c}, Logger: slog.New(slog.DiscardHandler)})
			require.Error(t, err)
		})
	}
}
