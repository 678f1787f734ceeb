// Package benchtest measures benchmarks the one way they report their cost:
// by the CPU time the process uses (cpu-ns/op, cpu-ns/event), since on the
// shared 2-core machine wall time swings several-fold with other load and
// CPU time much less. Only tests import it (depguard).
package benchtest

import (
	"syscall"
	"time"
)

// CPU is the CPU time, user and system, this process has used so far;
// a benchmark reports the difference across its loop, per operation.
func CPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
