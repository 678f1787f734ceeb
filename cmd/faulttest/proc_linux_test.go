//go:build linux

package faulttest

import "syscall"

// procAttr kills a child when the test binary dies (a test timeout panics
// past every cleanup), so no serve or work process outlives its test.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
