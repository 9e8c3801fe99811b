//go:build unix

package cmd

import (
	"os"
	"path/filepath"
	"syscall"
)

// fileOwner is a uid and gid.
type fileOwner struct{ uid, gid int }

// ownerFor returns who should own path once autotag (re)writes it when running as
// root: the owner of the file it replaces, or else of the folder it is created in
// (its nearest existing ancestor). A user's sidecar must not turn into root's, which
// the user could then no longer edit. ok is false when not running as root (no
// other user can give a file away) or no owner is known.
func ownerFor(path string) (o fileOwner, ok bool) {
	if os.Geteuid() != 0 {
		return o, false
	}
	st, err := os.Lstat(path)
	for dir := filepath.Dir(path); err != nil; dir = filepath.Dir(dir) {
		st, err = os.Stat(dir)
		if parent := filepath.Dir(dir); err != nil && parent == dir {
			return o, false
		}
	}
	sys, isStat := st.Sys().(*syscall.Stat_t)
	if !isStat {
		return o, false
	}
	return fileOwner{int(sys.Uid), int(sys.Gid)}, true
}

// giveTo makes o the owner of path (not following a symbolic link).
func giveTo(path string, o fileOwner) error { return os.Lchown(path, o.uid, o.gid) }
