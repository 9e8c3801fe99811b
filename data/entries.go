package data

import "path/filepath"

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

// build joins the entries with imageDir, merges duplicates and checks the files.
func (p *parsed) build(imageDir string, opt LoadOptions) *Dataset {
	b := newBuilder(p.classes, opt)
	b.ds.Report = p.report
	for _, e := range p.entries {
		b.add(filepath.Join(imageDir, filepath.FromSlash(e.name)), e.labels, e.where)
	}
	return b.finish()
}
