//go:build !unix

package store

import "context"

// lockFile does nothing here: processes starting at once on one new SQLite
// file may race to migrate it.
func lockFile(context.Context, string) (func(), error) { return func() {}, nil }
