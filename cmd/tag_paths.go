package cmd

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// imageExts are the file extensions a directory walk picks up (files named on the
// command line or on stdin are always tried).
var imageExts = map[string]bool{
	".jpg": true, ".jpeg": true, ".jpe": true, ".png": true, ".gif": true, ".webp": true,
	".bmp": true, ".tif": true, ".tiff": true,
}

// photo is one input of `autotag tag`.
type photo struct {
	path   string // as given or found
	mirror string // relative path under --out (without .xmp)
	err    error  // the argument could not be used
}

// collectPhotos expands the PATH arguments: files, directories (recursive, image
// extensions only, hidden entries skipped), globs, and "-" for paths on stdin, one
// per line. Directory walks stay inside their root: symbolic links are followed
// only when they resolve to a regular file within the root, and never into
// directories. Each path is listed once.
func collectPhotos(args []string, stdin io.Reader) []photo {
	var out []photo
	seen := map[string]bool{}
	add := func(p photo) {
		key := filepath.Clean(p.path)
		if p.err == nil && seen[key] {
			return
		}
		seen[key] = true
		out = append(out, p)
	}
	for _, arg := range args {
		if arg == "-" {
			readPathList(stdin, func(line string) { expandPath(line, add) }, add)
			continue
		}
		if _, err := os.Lstat(arg); err != nil && strings.ContainsAny(arg, "*?[") {
			matches, gerr := filepath.Glob(arg)
			switch {
			case gerr != nil:
				add(photo{path: arg, err: fmt.Errorf("bad pattern: %w", gerr)})
			case len(matches) == 0:
				add(photo{path: arg, err: fmt.Errorf("no file matches the pattern")})
			}
			for _, m := range matches {
				expandPath(m, add)
			}
			continue
		}
		expandPath(arg, add)
	}
	return out
}

// maxPathLine is the longest line of a "-" path list taken as a path: far beyond
// any system's PATH_MAX, so a longer line is garbage (a binary piped by mistake),
// and reading it whole would cost memory for nothing.
const maxPathLine = 64 << 10

// readPathList calls path for each non-blank line of r (a trailing CR dropped). A
// line longer than maxPathLine is skipped, unread past its first bytes, with an
// error row naming its number, and the list goes on after it.
func readPathList(r io.Reader, path func(string), add func(photo)) {
	br := bufio.NewReaderSize(r, maxPathLine)
	for n := 1; ; n++ {
		line, long, err := br.ReadLine()
		if long {
			for long && err == nil {
				_, long, err = br.ReadLine()
			}
			add(photo{path: fmt.Sprintf("-:%d", n), err: fmt.Errorf("line %d of the path list is longer than %d KB; not a path", n, maxPathLine>>10)})
		} else if s := strings.TrimRight(string(line), "\r"); err == nil && strings.TrimSpace(s) != "" {
			path(s)
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			add(photo{path: "-", err: fmt.Errorf("reading paths from stdin: %w", err)})
			return
		}
	}
}

// expandPath adds a file, or the images under a directory.
func expandPath(p string, add func(photo)) {
	st, err := os.Stat(p)
	if err != nil {
		add(photo{path: p, err: err})
		return
	}
	if !st.IsDir() {
		add(photo{path: p, mirror: filepath.Base(p)})
		return
	}
	walkDir(p, add)
}

// walkDir adds the images under root, confined to root.
func walkDir(root string, add func(photo)) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err == nil {
		realRoot, err = filepath.Abs(realRoot)
	}
	if err != nil {
		add(photo{path: root, err: err})
		return
	}
	base := filepath.Base(filepath.Clean(root))
	if base == "." || base == ".." || base == string(filepath.Separator) {
		base = ""
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			add(photo{path: p, err: err})
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if p != root && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || !imageExts[strings.ToLower(filepath.Ext(p))] {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := filepath.EvalSymlinks(p)
			if err == nil {
				target, err = filepath.Abs(target)
			}
			if err != nil {
				add(photo{path: p, err: err})
				return nil
			}
			if !within(realRoot, target) {
				add(photo{path: p, err: fmt.Errorf("symbolic link to %s leaves %s; not followed", target, root)})
				return nil
			}
			if st, err := os.Stat(target); err != nil || !st.Mode().IsRegular() {
				return nil
			}
		} else if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			rel = filepath.Base(p)
		}
		add(photo{path: p, mirror: filepath.Join(base, rel)})
		return nil
	})
	if err != nil {
		add(photo{path: root, err: err})
	}
}

// within reports whether path lies inside dir (both cleaned, absolute or not).
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}
