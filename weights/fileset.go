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
)

// Size bounds for reading packages, so hostile archives cannot exhaust memory.
const (
	maxPackageFile  = 512 << 20 // one file in a package (a weight shard, model.json …)
	maxPackageTotal = 2 << 30   // all files kept from one package
	maxPackageFiles = 10000     // entries looked at in one package
)

// fileSet is a read-only set of files addressed by slash-separated relative paths:
// an npm tarball read into memory, or a directory on disk.
type fileSet interface {
	names() []string
	read(name string) ([]byte, error)
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

func (m memFiles) read(name string) ([]byte, error) {
	b, ok := m[path.Clean(name)]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	return b, nil
}

// readTarGz streams a .tgz (as `npm pack` writes) and keeps the regular files for
// which keep returns true, bounded in count and size.
func readTarGz(ctx context.Context, src string, keep func(name string) bool) (memFiles, error) {
	f, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: not a gzip file: %w", src, err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	files := memFiles{}
	var total int64
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
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		if !keep(name) {
			continue
		}
		if hdr.Size < 0 || hdr.Size > maxPackageFile {
			return nil, fmt.Errorf("%s: entry %s is %d bytes (limit %d)", src, name, hdr.Size, maxPackageFile)
		}
		if total += hdr.Size; total > maxPackageTotal {
			return nil, fmt.Errorf("%s: package content exceeds %d bytes", src, maxPackageTotal)
		}
		b := make([]byte, hdr.Size)
		if _, err := io.ReadFull(tr, b); err != nil {
			return nil, fmt.Errorf("%s: reading %s: %w", src, name, err)
		}
		files[name] = b
	}
	return files, nil
}

// dirFiles is a fileSet rooted at a directory on disk.
type dirFiles struct {
	root string
	list []string
}

// newDirFiles lists the files under root (at most four levels deep, skipping
// node_modules and hidden directories).
func newDirFiles(root string) (*dirFiles, error) {
	d := &dirFiles{root: root}
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if de.IsDir() {
			if rel != "." && (strings.HasPrefix(de.Name(), ".") || de.Name() == "node_modules" || strings.Count(rel, "/") >= 3) {
				return filepath.SkipDir
			}
			return nil
		}
		if de.Type().IsRegular() {
			if len(d.list) >= maxPackageFiles {
				return fmt.Errorf("more than %d files", maxPackageFiles)
			}
			d.list = append(d.list, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", root, err)
	}
	sort.Strings(d.list)
	return d, nil
}

func (d *dirFiles) names() []string { return d.list }

func (d *dirFiles) read(name string) ([]byte, error) {
	p := filepath.Join(d.root, filepath.FromSlash(path.Clean(name)))
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPackageFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPackageFile {
		return nil, fmt.Errorf("%s exceeds %d bytes", p, maxPackageFile)
	}
	return b, nil
}
