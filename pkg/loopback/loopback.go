// Package loopback tells whether a URL's host is this machine. Plain http is
// accepted only there (a local development issuer, tests): anywhere else a
// token, a secret or a signing key could be read or replaced on the way.
package loopback

import (
	"net/netip"
	"strings"
)

// Host reports whether host (a URL's Hostname) names this machine:
// localhost or a loopback address. Not *.localhost: a resolver may send
// such a name anywhere. The CRD's CEL rule for issuer URLs is the same.
func Host(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.Unmap().IsLoopback()
}
