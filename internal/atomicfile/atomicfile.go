// Package atomicfile writes files so that a reader, or a process killed half-way,
// sees either the old file or the complete new one — never a torn write. Model
// files, checkpoints, feature caches, XMP sidecars and dataset CSVs all go through it.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write creates or replaces path with what write puts into the file it is handed:
// a temporary file in the same directory is written, fsynced, given the old file's
// permissions (0644 for a new file) and renamed over path; then the directory is
// synced (best effort: not every file system syncs directories). Missing parent
// directories are created. On any error the temporary file is removed and path is
// left as it was.
func Write(path string, write func(f *os.File) error) (err error) {
	perm := os.FileMode(0o644)
	if st, serr := os.Stat(path); serr == nil {
		perm = st.Mode().Perm()
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	if err = write(f); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// WriteBytes is Write for a byte slice.
func WriteBytes(path string, b []byte) error {
	return Write(path, func(f *os.File) error {
		_, err := f.Write(b)
		return err
	})
}
