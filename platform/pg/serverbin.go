package pg

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
)

// ServerBin finds the directory holding all of PostgreSQL's server tools
// named (initdb, pg_ctl, …): the one of initdb on PATH, else Debian's
// /usr/lib/postgresql/<version>/bin, newest version first. `signalops dev`
// and the tests' private clusters use it.
func ServerBin(tools ...string) (string, bool) {
	has := func(dir string) bool {
		for _, t := range tools {
			if _, err := os.Stat(filepath.Join(dir, t)); err != nil {
				return false
			}
		}
		return true
	}
	if p, err := exec.LookPath("initdb"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), true
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if has(d) {
			return d, true
		}
	}
	return "", false
}
