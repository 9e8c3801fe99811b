package data

import (
	"fmt"
	"os"
)

// entry is one image as a label file lists it, before the image folder is joined and
// files are checked.
type entry struct {
	name   string // as listed, relative to the image folder
	labels []int
	where  string // file:line
}

// parsed is what a label-file parser produces: the vocabulary, the entries and the
// problems it met.
type parsed struct {
	classes []string
	entries []entry
	report  *Report
}

// build joins the entries with imageDir, merges duplicates and checks the files; an
// entry whose file is not inside imageDir (by name or through a symlink) is dropped
// and reported. More than MaxClasses classes is an error naming src.
func (p *parsed) build(src, imageDir string, opt LoadOptions) (*Dataset, error) {
	if len(p.classes) > MaxClasses {
		return nil, fmt.Errorf("%s: %d classes is over the limit of %d", src, len(p.classes), MaxClasses)
	}
	b := newBuilder(p.classes, imageDir, opt)
	b.ds.Report = p.report
	for _, e := range p.entries {
		b.add(e.name, e.labels, e.where)
	}
	return b.finish(), nil
}

// openRegular opens a file a SPEC names (or an image to fingerprint), refusing
// anything but a regular file before opening it: a FIFO would block forever and a
// device would never end.
func openRegular(path string) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	return os.Open(path)
}

// readImageFile reads a dataset image whole: a regular file of at most max bytes
// (max < 0: no bound), so that a huge file or a device listed as an image costs an
// error, not the process's memory. Errors name the file.
func readImageFile(path string, max int64) ([]byte, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := readBounded(f, max)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}
