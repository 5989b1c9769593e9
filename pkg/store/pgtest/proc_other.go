//go:build !linux

package pgtest

import "syscall"

// procAttr runs the server as cred. Outside Linux there is no parent-death
// signal: a crashed test may leave the server running.
func procAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred}
}
