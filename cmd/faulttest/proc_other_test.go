//go:build !linux

package faulttest

import "syscall"

// procAttr: only Linux can tie a child's life to its parent; elsewhere the
// test cleanups kill the processes.
func procAttr() *syscall.SysProcAttr { return nil }

// peakRSS is unknown outside Linux.
func peakRSS(int) string { return "" }
