package pg

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
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

// ServerUser is who runs PostgreSQL's server tools: nil (this process's
// own user) unless this process is root, which initdb and postgres refuse;
// then the postgres user. ok is false when root has no postgres user to
// run them as.
func ServerUser() (cred *syscall.Credential, ok bool) {
	if os.Geteuid() != 0 {
		return nil, true
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, false
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, true
}
