package faulttest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

var (
	mode string // "short" or "long" (SIGNALOPS_FAULT)
	bin  string // the signalops binary built by TestMain
)

// knobs are the sizes of one run; the long form multiplies the short one.
type knobs struct {
	load      time.Duration // one load phase
	backlog   int           // events queued while work is down
	rate      float64       // events per second offered by the load generator
	workers   int           // load generator goroutines
	settle    time.Duration // how long the work may take to drain after the load stops
	retryFor  time.Duration // how long one request is retried (same idempotency key)
	readyWait time.Duration // readiness wait for a started process
}

func size() knobs {
	k := knobs{load: 3 * time.Second, backlog: 1000, rate: 200, workers: 32,
		settle: 60 * time.Second, retryFor: 45 * time.Second, readyWait: 30 * time.Second}
	if mode == "long" {
		k.load, k.backlog, k.rate, k.settle = 20*time.Second, 5000, 400, 5*time.Minute
	}
	return k
}

func TestMain(m *testing.M) {
	mode = os.Getenv("SIGNALOPS_FAULT")
	if mode != "short" && mode != "long" {
		fmt.Println("faulttest: skipped; set SIGNALOPS_FAULT=short (or long) to run the fault tests against real signalops processes")
		os.Exit(0)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "signalops-fault-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faulttest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "signalops")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go") //nolint:staticcheck // SA1019: the test binary was built here, so its GOROOT is this machine's
	}
	start := time.Now()
	build := exec.Command(goBin, "build", "-o", bin, "github.com/signalops/signalops")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "faulttest: go build:", err)
		return 1
	}
	fmt.Printf("faulttest: SIGNALOPS_FAULT=%s, binary built in %s\n", mode, time.Since(start).Round(time.Millisecond))
	return m.Run()
}
