package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// cpuGroup is a control group whose CPU time a run charges to its events
// (--cgroup name=dir): the group that holds PostgreSQL's postmaster holds
// every backend it forks, so nothing escapes the count (summing /proc over
// a forking server races with exiting backends).
type cpuGroup struct {
	name, dir string
}

// parseCgroups reads --cgroup values, "name=dir" each; names must be unique
// and "total" is reserved for the sum.
func parseCgroups(specs []string) ([]cpuGroup, error) {
	var out []cpuGroup
	seen := map[string]bool{}
	for _, s := range specs {
		name, dir, ok := strings.Cut(s, "=")
		name, dir = strings.TrimSpace(name), strings.TrimSpace(dir)
		switch {
		case !ok || name == "" || dir == "":
			return nil, fmt.Errorf("--cgroup %q: want name=directory, e.g. pg=/sys/fs/cgroup/cpuacct/bench/pg", s)
		case name == "total":
			return nil, errors.New(`--cgroup: the name "total" is reserved for the sum`)
		case seen[name]:
			return nil, fmt.Errorf("--cgroup: %q given twice", name)
		}
		seen[name] = true
		g := cpuGroup{name: name, dir: dir}
		if _, err := g.usage(); err != nil {
			return nil, fmt.Errorf("--cgroup %s: %w", name, err)
		}
		out = append(out, g)
	}
	return out, nil
}

// usage is the CPU time charged to the group since it was made: cgroup v1's
// cpuacct.usage (nanoseconds), else cgroup v2's cpu.stat usage_usec.
func (g cpuGroup) usage() (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join(g.dir, "cpuacct.usage"))
	if err == nil {
		ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read cpuacct.usage: %w", err)
		}
		return time.Duration(ns), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	b, err = os.ReadFile(filepath.Join(g.dir, "cpu.stat"))
	if err != nil {
		return 0, fmt.Errorf("neither cpuacct.usage (cgroup v1) nor cpu.stat (v2) readable in %s: %w", g.dir, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "usage_usec "); ok {
			us, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("read cpu.stat: %w", err)
			}
			return time.Duration(us) * time.Microsecond, nil
		}
	}
	return 0, fmt.Errorf("no usage_usec in %s", filepath.Join(g.dir, "cpu.stat"))
}

// cpuMeter takes readings of all groups; a nil meter (no --cgroup) reads
// nothing and reports nothing.
type cpuMeter []cpuGroup

// cpuReading is each group's usage at one moment.
type cpuReading []time.Duration

func (m cpuMeter) read() (cpuReading, error) {
	if len(m) == 0 {
		return nil, nil
	}
	r := make(cpuReading, len(m))
	for i, g := range m {
		u, err := g.usage()
		if err != nil {
			return nil, fmt.Errorf("cgroup %s: %w", g.name, err)
		}
		r[i] = u
	}
	return r, nil
}

// cpuCost is the CPU charged between two readings, per group and in total
// ("total"): seconds, and microseconds per unit (event or delivery) when
// there were units.
type cpuCost struct {
	Seconds map[string]float64 `json:"cpu_s"`
	PerUnit map[string]float64 `json:"cpu_us_per_event,omitempty"`
	groups  []string           // --cgroup order, then "total"
}

// cost is what was charged from before to after, per unit. It is nil when
// the meter is empty or a reading is missing.
func (m cpuMeter) cost(before, after cpuReading, units int64) *cpuCost {
	if len(m) == 0 || len(before) != len(m) || len(after) != len(m) {
		return nil
	}
	c := &cpuCost{Seconds: map[string]float64{}}
	if units > 0 {
		c.PerUnit = map[string]float64{}
	}
	var total time.Duration
	put := func(name string, d time.Duration) {
		c.groups = append(c.groups, name)
		c.Seconds[name] = math.Round(d.Seconds()*1e4) / 1e4
		if units > 0 {
			c.PerUnit[name] = math.Round(float64(d)/1e3/float64(units)*10) / 10
		}
	}
	for i, g := range m {
		d := after[i] - before[i]
		total += d
		put(g.name, d)
	}
	put("total", total)
	return c
}

// format is the summary line: "cpu  pg 1.20s (402 µs/event); …".
func (c *cpuCost) format(unit string) string {
	if c == nil {
		return ""
	}
	parts := make([]string, 0, len(c.groups))
	for _, g := range c.groups {
		p := fmt.Sprintf("%s %.2fs", g, c.Seconds[g])
		if c.PerUnit != nil {
			p += fmt.Sprintf(" (%.0f µs/%s)", c.PerUnit[g], unit)
		}
		parts = append(parts, p)
	}
	return "  cpu         " + strings.Join(parts, "; ") + "\n"
}

// registerCgroups adds --cgroup to a command.
func registerCgroups(c *cobra.Command, into *[]string) {
	c.Flags().StringArrayVar(into, "cgroup", nil, "name=directory of a control group (cgroup v1 cpuacct or v2) whose CPU time to charge to the measured events; repeat per group (e.g. pg=…, serve=…, work=…)")
}

// MeasureCPU starts measuring the control groups of specs (--cgroup values,
// name=dir) for a load tool outside this package (db/bench/floor), with the
// meter bench's own modes use. The returned function reads them again and
// gives the CPU charged since, in µs per unit for each group and "total"
// (nil when there were no groups or no units).
func MeasureCPU(specs []string) (func(units int64) (map[string]float64, error), error) {
	m, err := parseCgroups(specs)
	if err != nil {
		return nil, err
	}
	before, err := cpuMeter(m).read()
	if err != nil {
		return nil, err
	}
	return func(units int64) (map[string]float64, error) {
		after, err := cpuMeter(m).read()
		if err != nil {
			return nil, err
		}
		c := cpuMeter(m).cost(before, after, units)
		if c == nil {
			return nil, nil
		}
		return c.PerUnit, nil
	}, nil
}
