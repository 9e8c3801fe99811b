package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/autotag/autotag/internal/atomicfile"
	"github.com/autotag/autotag/internal/xmp"
)

// sidecarFor is where `tag --xmp` writes p's sidecar: next to the photo, or under
// out at the photo's path relative to the argument that named it (a named file
// lands at the top of out, a named folder keeps its own name and subfolders).
func sidecarFor(p photo, out string) string {
	if out == "" {
		return xmp.SidecarPath(p.path)
	}
	return filepath.Join(out, xmp.SidecarPath(p.mirror))
}

// claimSidecars gives each photo its own sidecar: a photo whose sidecar path is
// already the sidecar of an earlier photo in the list (a.jpg and b/a.jpg named
// together with --out) gets an error naming both, so one photo's keywords never
// overwrite or merge into another's.
func claimSidecars(photos []photo, out string) {
	owner := map[string]string{}
	for i, p := range photos {
		if p.err != nil {
			continue
		}
		path := sidecarFor(p, out)
		key, err := filepath.Abs(path)
		if err != nil {
			key = filepath.Clean(path)
		}
		if caseInsensitiveFS {
			key = strings.ToLower(key)
		}
		if first, taken := owner[key]; taken {
			photos[i].err = fmt.Errorf("xmp: sidecar %s is already the sidecar of %s in this run; not written (tag photos with the same name into different --out folders)", path, first)
			continue
		}
		owner[key] = p.path
	}
}

// caseInsensitiveFS: the default file systems of macOS and Windows fold case, so
// there A.JPG and a.jpg from two folders would share one sidecar too.
var caseInsensitiveFS = runtime.GOOS == "darwin" || runtime.GOOS == "windows"

// checkWritable refuses to change a write-protected sidecar: one without its
// owner's write bit, or one in (or to be created under) a folder without it. The
// mode is checked rather than relying on the system: root may write anything, yet
// a sidecar or photo folder made read-only says the user wants it left alone.
func checkWritable(path string) error {
	if st, err := os.Lstat(path); err == nil && st.Mode().Perm()&0o200 == 0 {
		return fmt.Errorf("%s is read-only (mode %04o); left unchanged (chmod u+w to let autotag update it)", path, st.Mode().Perm())
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		st, err := os.Stat(dir)
		if err == nil {
			if st.IsDir() && st.Mode().Perm()&0o200 == 0 {
				return fmt.Errorf("folder %s is read-only (mode %04o); %s not written", dir, st.Mode().Perm(), path)
			}
			return nil
		}
		if parent := filepath.Dir(dir); parent == dir {
			return nil
		}
	}
}

// writeSidecarFile replaces path with doc atomically, keeping the owner of the file
// it replaces (or of the folder it goes into) when running as root.
func writeSidecarFile(path string, doc []byte) error {
	owner, keep := ownerFor(path)
	if err := atomicfile.WriteBytes(path, doc); err != nil {
		return err
	}
	if keep {
		if err := giveTo(path, owner); err != nil {
			return fmt.Errorf("keeping the owner of %s: %w", path, err)
		}
	}
	return nil
}
