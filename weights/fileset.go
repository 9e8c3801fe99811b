package weights

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Size bounds for reading packages, so hostile archives cannot exhaust memory. The
// files kept from one package also share the import's memory budget (ImportBudget),
// and a weight shard is read only up to the size its manifest declares.
const (
	maxPackageFile  = 512 << 20 // one file in a package (a weight shard …)
	maxJSONFile     = 32 << 20  // model.json, labels.json, package.json
	maxPackageFiles = 10000     // entries looked at in one package
)

// fileSet is a read-only set of regular files addressed by slash-separated
// relative paths: an npm tarball read into memory, or a directory on disk. Neither
// ever reaches outside its root.
type fileSet interface {
	names() []string
	// size is the size of a regular file of the set, without reading it.
	size(name string) (int64, error)
	// read returns a file's content; a file larger than limit bytes is an error.
	read(name string, limit int64) ([]byte, error)
}

// relName checks that name is a relative slash-separated path that stays inside its
// root (no leading /, no .. element, no backslash or NUL) and returns it cleaned.
func relName(name string) (string, error) {
	bad := name == "" || strings.ContainsAny(name, "\\\x00") || path.IsAbs(name)
	for _, el := range strings.Split(name, "/") {
		bad = bad || el == ".."
	}
	c := path.Clean(name)
	if bad || !fs.ValidPath(c) || c == "." {
		return "", fmt.Errorf("path %q leaves the package folder or is not a relative file path", name)
	}
	return c, nil
}

// memFiles is a fileSet held in memory.
type memFiles map[string][]byte

func (m memFiles) names() []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (m memFiles) size(name string) (int64, error) {
	c, err := relName(name)
	if err != nil {
		return 0, err
	}
	b, ok := m[c]
	if !ok {
		return 0, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	return int64(len(b)), nil
}

func (m memFiles) read(name string, limit int64) ([]byte, error) {
	c, err := relName(name)
	if err != nil {
		return nil, err
	}
	b, ok := m[c]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", c, limit)
	}
	return b, nil
}

// readTarGz streams a .tgz (as `npm pack` writes) and keeps the regular files for
// which keep returns true, bounded in count and size (the import's memory budget,
// tied to the tarball's size). Only plain files and directories are accepted: an
// entry that is a link or a device, or whose name is absolute or has a .. element,
// makes the whole package an error.
func readTarGz(ctx context.Context, src string, keep func(name string) bool) (memFiles, error) {
	f, st, err := openRegular(src)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	budget := newBudget(st.Size())
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: not a gzip file: %w", src, err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	files := memFiles{}
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if i >= maxPackageFiles {
			return nil, fmt.Errorf("%s: more than %d entries", src, maxPackageFiles)
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: reading tar: %w", src, err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue // pax defaults for the entries that follow; no file
		}
		name, err := relName(strings.TrimPrefix(hdr.Name, "./"))
		if err != nil && hdr.Typeflag == tar.TypeDir && path.Clean(strings.TrimPrefix(hdr.Name, "./")) == "." {
			continue // the archive's own root folder
		}
		if err != nil {
			return nil, fmt.Errorf("%s: tar entry %w", src, err)
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
		case tar.TypeDir:
			continue
		default:
			return nil, fmt.Errorf("%s: tar entry %s is a link or special file (type %q); a model package holds only files and folders", src, name, hdr.Typeflag)
		}
		if !keep(name) {
			continue
		}
		if _, dup := files[name]; dup {
			return nil, fmt.Errorf("%s: tar entry %s appears twice", src, name)
		}
		limit := int64(maxPackageFile)
		if strings.HasSuffix(name, ".json") {
			limit = maxJSONFile
		}
		if hdr.Size < 0 || hdr.Size > limit {
			return nil, fmt.Errorf("%s: entry %s is %d bytes (limit %d)", src, name, hdr.Size, limit)
		}
		if err := budget.take(hdr.Size, "package entry "+name); err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		b := make([]byte, hdr.Size)
		if _, err := io.ReadFull(tr, b); err != nil {
			return nil, fmt.Errorf("%s: reading %s: %w", src, name, err)
		}
		files[name] = b
	}
	return files, nil
}

// dirFiles is a fileSet rooted at a directory on disk. Every access goes through an
// os.Root, so neither a name with .. nor a symbolic link can reach outside it, and
// only regular files are opened (never a FIFO, which would block, or a device such
// as /dev/zero, which never ends).
type dirFiles struct {
	root *os.Root
	list []string
}

// newDirFiles lists the regular files under dir (at most four levels deep,
// skipping node_modules and hidden directories). Close it when done.
func newDirFiles(dir string) (*dirFiles, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	d := &dirFiles{root: root}
	err = fs.WalkDir(root.FS(), ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.IsDir() {
			if p != "." && (strings.HasPrefix(de.Name(), ".") || de.Name() == "node_modules" || strings.Count(p, "/") >= 3) {
				return filepath.SkipDir
			}
			return nil
		}
		if de.Type().IsRegular() {
			if len(d.list) >= maxPackageFiles {
				return fmt.Errorf("more than %d files", maxPackageFiles)
			}
			d.list = append(d.list, p)
		}
		return nil
	})
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	sort.Strings(d.list)
	return d, nil
}

// Close releases the directory handle.
func (d *dirFiles) Close() error { return d.root.Close() }

func (d *dirFiles) names() []string { return d.list }

// stat is the FileInfo of a regular file under the root (symbolic links followed,
// but only inside the root).
func (d *dirFiles) stat(name string) (string, fs.FileInfo, error) {
	c, err := relName(name)
	if err != nil {
		return "", nil, err
	}
	st, err := d.root.Stat(c)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", c, trimRootErr(err))
	}
	if !st.Mode().IsRegular() {
		return "", nil, fmt.Errorf("%s is not a regular file", c)
	}
	return c, st, nil
}

func (d *dirFiles) size(name string) (int64, error) {
	_, st, err := d.stat(name)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (d *dirFiles) read(name string, limit int64) ([]byte, error) {
	c, st, err := d.stat(name)
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", c, limit)
	}
	// O_NONBLOCK: should the file be swapped for a FIFO after the check above, the
	// open returns at once instead of waiting for a writer; the check after it
	// refuses the FIFO.
	f, err := d.root.OpenFile(c, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c, trimRootErr(err))
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", c)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", c, limit)
	}
	return b, nil
}

// trimRootErr keeps the reason of a file error (not found, escapes the root …)
// without the absolute path it may carry.
func trimRootErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// openRegular opens path for reading only if it is a regular file: a FIFO would
// block the open (and every read) until a writer comes, and a device such as
// /dev/zero never ends. O_NONBLOCK keeps the open itself from waiting should the
// file be swapped for a FIFO between the check and the open.
func openRegular(path string) (*os.File, fs.FileInfo, error) {
	if st, err := os.Stat(path); err != nil {
		return nil, nil, err
	} else if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s is not a regular file", path)
	}
	return f, st, nil
}
