//go:build linux

package faulttest

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// procAttr kills a child when the test binary dies (a test timeout panics
// past every cleanup), so no serve or work process outlives its test.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// peakRSS is the process's peak resident memory (VmHWM), or "" when unknown.
func peakRSS(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}
