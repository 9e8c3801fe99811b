// Package atomicfile writes files so that a reader, or a process killed half-way,
// sees either the old file or the complete new one — never a torn write. Model
// files, checkpoints, feature caches, XMP sidecars and dataset CSVs all go through it.
//
// It writes only plain files. A path that is a symbolic link is refused, neither
// replaced by a plain file nor written through to its target: a link may point
// outside the folder the user named (planted in a shared folder, or left there by
// another program), so writing through it could change a file the user never named,
// and replacing it would silently break whatever the link was for. Refusing costs
// nothing: the user can name the target itself. Other non-regular files (folders,
// FIFOs, devices) are refused too.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Errors Write returns (wrapped) for a path it will not replace.
var (
	ErrSymlink    = errors.New("is a symbolic link")
	ErrNotRegular = errors.New("is not a regular file")
)

// Check returns the error Write would return for path's current state (a symbolic
// link or another non-regular file), or nil: commands call it before long work,
// so that the work is not lost to a refusal at the end.
func Check(path string) error {
	_, err := target(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// target inspects path without following a link: the permissions of the file to
// replace (0644 when there is none), or why it may not be replaced.
func target(path string) (os.FileMode, error) {
	st, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0o644, nil
	case err != nil:
		return 0, err
	case st.Mode()&fs.ModeSymlink != 0:
		to, _ := os.Readlink(path)
		return 0, fmt.Errorf("%w (to %s); autotag writes neither over nor through links: name the link's target itself, or remove the link", ErrSymlink, to)
	case !st.Mode().IsRegular():
		kind := "a folder"
		if !st.IsDir() {
			kind = "a " + st.Mode().Type().String() + " special file"
		}
		return 0, fmt.Errorf("%w (it is %s); not replaced", ErrNotRegular, kind)
	}
	return st.Mode().Perm(), nil
}

// Write creates or replaces path with what write puts into the file it is handed:
// a temporary file in the same directory is written, fsynced, given the old file's
// permissions (0644 for a new file) and renamed over path; then the directory is
// synced (best effort: not every file system syncs directories). Missing parent
// directories are created. A path that is a symbolic link or another non-regular
// file is refused (ErrSymlink, ErrNotRegular), checked before writing and again
// before the rename (which never follows a link). On any error the temporary file
// is removed and path is left as it was.
func Write(path string, write func(f *os.File) error) (err error) {
	perm, err := target(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
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
	// A link made while writing is refused too.
	if _, err = target(path); err != nil {
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
