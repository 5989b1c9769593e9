package devissuer

import (
	"fmt"
	"path/filepath"
)

// The development clients' ids.
const (
	ImporterClient = "importer"
	ReaderClient   = "reader"
	AdminClient    = "admin"
)

// APIScopes are the scopes of the sample ScopePolicy (policy.Sample), every
// endpoint's.
var APIScopes = []string{"batch:upload", "create:timesheets", "read:timesheets", "update:timesheets", "delete:timesheets", "approve:timesheets"}

// BuiltinClient is a development client: its id and the scopes it is granted.
type BuiltinClient struct {
	ID     string
	Scopes []string
}

// BuiltinClients are the clients of `api --dev`, cmd/devissuer and
// pkg/apitest: the importer holds only batch:upload, as in the Auth0
// scenario; reader only read:timesheets (a token to see a 403 with); admin
// every scope, for trying the API with curl. People's tokens come from the
// user-token endpoint, for BuiltinUsers.
func BuiltinClients() []BuiltinClient {
	return []BuiltinClient{
		{ImporterClient, []string{"batch:upload"}},
		{ReaderClient, []string{"read:timesheets"}},
		{AdminClient, APIScopes},
	}
}

// ReadOrCreateBuiltinClients reads the credentials of every builtin client
// from dir, one directory per client as a mounted Secret lays them out, and
// creates those missing.
func ReadOrCreateBuiltinClients(dir string) ([]Client, error) {
	var clients []Client
	for _, bc := range BuiltinClients() {
		c, err := ReadOrCreateClient(filepath.Join(dir, bc.ID), bc.ID, bc.Scopes)
		if err != nil {
			return nil, fmt.Errorf("credentials of %s: %w", bc.ID, err)
		}
		clients = append(clients, c)
	}
	return clients, nil
}
