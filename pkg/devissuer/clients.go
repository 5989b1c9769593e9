package devissuer

import (
	"fmt"
	"path/filepath"
)

// The development clients' ids.
const (
	ImporterClient = "importer"
	// ImporterKeyClient is the importer again, authenticating with
	// private_key_jwt instead of a secret.
	ImporterKeyClient = "importer-key"
	ReaderClient      = "reader"
	AdminClient       = "admin"
)

// APIScopes are the scopes of the sample ScopePolicy (policy.Sample), every
// endpoint's.
var APIScopes = []string{"batch:upload", "create:timesheets", "read:timesheets", "update:timesheets", "delete:timesheets", "approve:timesheets"}

// BuiltinClient is a development client: its id, the scopes it is granted
// and how it authenticates.
type BuiltinClient struct {
	ID     string
	Scopes []string
	// PrivateKeyJWT: the client authenticates with a key pair
	// (private_key_jwt), not a secret.
	PrivateKeyJWT bool
}

// BuiltinClients are the clients of `api --dev`, cmd/devissuer and
// pkg/apitest: the importer holds only batch:upload, as in the Auth0
// scenario, and importer-key is the same with private_key_jwt; reader only
// read:timesheets (a token to see a 403 with); admin every scope, for
// trying the API with curl. People's tokens come from the user-token
// endpoint, for BuiltinUsers.
func BuiltinClients() []BuiltinClient {
	return []BuiltinClient{
		{ID: ImporterClient, Scopes: []string{"batch:upload"}},
		{ID: ImporterKeyClient, Scopes: []string{"batch:upload"}, PrivateKeyJWT: true},
		{ID: ReaderClient, Scopes: []string{"read:timesheets"}},
		{ID: AdminClient, Scopes: APIScopes},
	}
}

// ReadOrCreateBuiltinClients reads the credentials of every builtin client
// from dir, one directory per client as a mounted Secret lays them out, and
// creates those missing: client-id and client-secret, or for a
// private_key_jwt client client-id, private-key.pem and key-id.
func ReadOrCreateBuiltinClients(dir string) ([]Client, error) {
	var clients []Client
	for _, bc := range BuiltinClients() {
		create := ReadOrCreateClient
		if bc.PrivateKeyJWT {
			create = ReadOrCreateKeyClient
		}
		c, err := create(filepath.Join(dir, bc.ID), bc.ID, bc.Scopes)
		if err != nil {
			return nil, fmt.Errorf("credentials of %s: %w", bc.ID, err)
		}
		clients = append(clients, c)
	}
	return clients, nil
}
