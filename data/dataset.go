package data

import (
	"errors"
	"fmt"
	"image"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Record is one labelled image of a dataset.
type Record struct {
	Path   string `json:"path"`   // image file, as found on disk (IMAGE_DIR joined with the listed name)
	Labels []int  `json:"labels"` // class ids present, sorted, unique; empty = all-negative image
	Source string `json:"source"` // where the labels came from, "file:line" (or "file:images[i]" for JSON)
}

// Dataset is a multi-label image dataset loaded from one SPEC: records and the class
// vocabulary their ids index. Loading never drops or changes anything silently: every
// problem is in Report.
type Dataset struct {
	Spec    string   // the SPEC it was loaded from
	Classes []string // class names; Record.Labels index this
	Records []Record
	Report  *Report
}

// LoadOptions tunes dataset loading.
type LoadOptions struct {
	// VerifyImages reads every image's header (format, size, pixel cap) and reports
	// unreadable ones, dropping them; otherwise files are only checked to exist.
	VerifyImages bool
	// Decode bounds header verification.
	Decode DecodeOptions
}

// Load reads a dataset from a SPEC (DESIGN.md §5):
//
//	coco:ANNOTATIONS.json:IMAGE_DIR                COCO instances JSON (2014/2017)
//	kaggle:LABELS.csv:CATEGORIES.csv:IMAGE_DIR     file + one-hot columns, categories list
//	yolo:IMAGE_DIR:LABEL_DIR[:NAMES]               YOLO txt labels; NAMES = names list or data yaml
//	csv:FILE.csv:IMAGE_DIR[:NAMES]                 file,tags with ';' between tags (or class ids)
//
// Relative paths are relative to the working directory. The error is only for a SPEC
// or label file that cannot be used at all; record-level problems are in the Report.
func Load(spec string, opt LoadOptions) (*Dataset, error) {
	kind, rest, ok := strings.Cut(spec, ":")
	if !ok {
		return nil, fmt.Errorf("dataset %q: want KIND:..., KIND one of coco, kaggle, yolo, csv", spec)
	}
	parts := strings.Split(rest, ":")
	want := func(lo, hi int, form string) error {
		if len(parts) < lo || len(parts) > hi || slices.Contains(parts, "") {
			return fmt.Errorf("dataset %q: want %s", spec, form)
		}
		return nil
	}
	var ds *Dataset
	var err error
	switch kind {
	case "coco":
		if err = want(2, 2, "coco:ANNOTATIONS.json:IMAGE_DIR"); err == nil {
			ds, err = LoadCOCO(parts[0], parts[1], opt)
		}
	case "kaggle":
		if err = want(3, 3, "kaggle:LABELS.csv:CATEGORIES.csv:IMAGE_DIR"); err == nil {
			ds, err = LoadKaggle(parts[0], parts[1], parts[2], opt)
		}
	case "yolo":
		if err = want(2, 3, "yolo:IMAGE_DIR:LABEL_DIR[:NAMES]"); err == nil {
			ds, err = LoadYOLO(parts[0], parts[1], at(parts, 2), opt)
		}
	case "csv":
		if err = want(2, 3, "csv:FILE.csv:IMAGE_DIR[:NAMES]"); err == nil {
			ds, err = LoadCSV(parts[0], parts[1], at(parts, 2), opt)
		}
	default:
		return nil, fmt.Errorf("dataset %q: unknown kind %q (want coco, kaggle, yolo or csv)", spec, kind)
	}
	if err != nil {
		return nil, err
	}
	ds.Spec = spec
	return ds, nil
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return ""
}

// builder accumulates records, merging duplicate entries for the same image (and
// reporting them) and checking that files exist inside the image folder.
type builder struct {
	ds    *Dataset
	index map[string]int // clean path → record index
	first map[string]string
	rels  []string // per record: its name relative to the image folder
	opt   LoadOptions

	dir      string   // the image folder as given
	root     *os.Root // the image folder, opened; nil when rootErr is set
	rootReal string   // its absolute path with symlinks resolved
	rootErr  error
}

func newBuilder(classes []string, imageDir string, opt LoadOptions) *builder {
	b := &builder{ds: &Dataset{Classes: classes, Report: &Report{}}, index: map[string]int{},
		first: map[string]string{}, opt: opt, dir: imageDir}
	real, err := filepath.EvalSymlinks(imageDir)
	if err == nil {
		real, err = filepath.Abs(real)
	}
	if err == nil {
		b.root, err = os.OpenRoot(real)
	}
	if err != nil {
		b.rootErr = fmt.Errorf("image folder %s: %w", imageDir, err)
		return b
	}
	b.rootReal = real
	return b
}

// close releases the image folder.
func (b *builder) close() {
	if b.root != nil {
		b.root.Close()
	}
}

// add registers the image listed as name (relative to the image folder, '/' or the
// OS separator between folders) with labels found at where. A name that is absolute
// or climbs out of the folder ("../x") is refused and reported (Outside). A second
// entry for the same image is merged (union of labels) and reported as a duplicate.
func (b *builder) add(name string, labels []int, where string) {
	rel := filepath.FromSlash(name)
	if filepath.IsAbs(rel) || filepath.VolumeName(rel) != "" || !filepath.IsLocal(rel) {
		b.ds.Report.Add(Outside, where, "file name %q is not inside the image folder %s; skipped", truncate(name, 80), b.dir)
		return
	}
	rel = filepath.Clean(rel)
	path := filepath.Join(b.dir, rel)
	if i, ok := b.index[path]; ok {
		b.ds.Report.Add(Duplicate, where, "%s already listed at %s; labels merged", path, b.first[path])
		b.ds.Records[i].Labels = normLabels(append(b.ds.Records[i].Labels, labels...))
		return
	}
	b.index[path] = len(b.ds.Records)
	b.first[path] = where
	b.rels = append(b.rels, rel)
	b.ds.Records = append(b.ds.Records, Record{Path: path, Labels: normLabels(labels), Source: where})
}

// finish drops records whose image is missing, outside the image folder once
// symlinks are resolved, or (with VerifyImages) unreadable, reporting each.
func (b *builder) finish() *Dataset {
	defer b.close()
	kept := b.ds.Records[:0]
	for i, r := range b.ds.Records {
		if kind, err := b.checkImage(b.rels[i], r.Path); err != nil {
			b.ds.Report.Add(kind, r.Source, "%v", err)
			continue
		}
		kept = append(kept, r)
	}
	b.ds.Records = kept
	b.rels = nil
	return b.ds
}

// checkImage checks that the image rel (at path) is a regular file inside the image
// folder, symlinks resolved, and with VerifyImages that its header decodes within the
// caps. The file is opened through the folder's os.Root, which refuses to leave it.
// Errors never quote the file's contents; kind is the Report kind for the failure.
func (b *builder) checkImage(rel, path string) (kind string, err error) {
	if b.rootErr != nil {
		if errors.Is(b.rootErr, fs.ErrNotExist) {
			return MissingFile, b.rootErr
		}
		return Unreadable, b.rootErr
	}
	real, err := filepath.EvalSymlinks(filepath.Join(b.rootReal, rel))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return MissingFile, pathError(path, err)
		}
		return Unreadable, pathError(path, err)
	}
	if r, err := filepath.Rel(b.rootReal, real); err != nil || !filepath.IsLocal(r) {
		return Outside, fmt.Errorf("%s leads outside the image folder %s; skipped", path, b.dir)
	}
	st, err := b.root.Stat(rel)
	if err != nil {
		return Unreadable, pathError(path, err)
	}
	if !st.Mode().IsRegular() {
		return Unreadable, fmt.Errorf("%s: not a regular file", path)
	}
	if !b.opt.VerifyImages {
		return "", nil
	}
	f, err := b.root.Open(rel)
	if err != nil {
		return Unreadable, pathError(path, err)
	}
	defer f.Close()
	if st, err = f.Stat(); err != nil || !st.Mode().IsRegular() {
		return Unreadable, fmt.Errorf("%s: not a regular file", path)
	}
	data, err := readBounded(f, b.opt.Decode.maxBytes())
	if err == nil {
		var cfg image.Config
		if cfg, _, err = DecodeConfigBytes(data); err == nil {
			err = checkSize(cfg.Width, cfg.Height, b.opt.Decode.maxPixels())
		}
	}
	if err != nil {
		return Unreadable, fmt.Errorf("%s: %w", path, err)
	}
	return "", nil
}

// pathError names path in err, replacing the operation and path a *fs.PathError
// carries (which may be the resolved path or a path relative to the folder).
func pathError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%s: %w", path, err)
}

// normLabels sorts and de-duplicates class ids in place.
func normLabels(l []int) []int {
	if len(l) == 0 {
		return []int{}
	}
	slices.Sort(l)
	return slices.Compact(l)
}

// imageExts are the file extensions treated as images when listing a folder.
var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".gif": true, ".webp": true,
	".bmp": true, ".tif": true, ".tiff": true}

// listImages walks dir recursively and returns the image files (by extension, any
// case) in lexical order, relative to dir.
func listImages(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && imageExts[strings.ToLower(filepath.Ext(p))] {
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing images: %w", err)
	}
	return out, nil
}

// Stats are per-class counts of a dataset.
type Stats struct {
	Images         int
	Positives      []int // images per class
	LabelsPerImage []int // histogram: LabelsPerImage[k] = images with k labels
	Negatives      int   // images with no label
}

// Stats counts positives per class and labels per image.
func (d *Dataset) Stats() Stats {
	s := Stats{Images: len(d.Records), Positives: make([]int, len(d.Classes))}
	for _, r := range d.Records {
		for _, c := range r.Labels {
			if c >= 0 && c < len(s.Positives) {
				s.Positives[c]++
			}
		}
		for len(s.LabelsPerImage) <= len(r.Labels) {
			s.LabelsPerImage = append(s.LabelsPerImage, 0)
		}
		s.LabelsPerImage[len(r.Labels)]++
		if len(r.Labels) == 0 {
			s.Negatives++
		}
	}
	return s
}

// Targets returns the dense 0/1 label matrix, len(Records)×len(Classes), row-major.
func (d *Dataset) Targets() []float32 {
	c := len(d.Classes)
	t := make([]float32, len(d.Records)*c)
	for i, r := range d.Records {
		for _, k := range r.Labels {
			t[i*c+k] = 1
		}
	}
	return t
}

// Subset returns a dataset with the records at idx (sharing classes and report).
func (d *Dataset) Subset(idx []int) *Dataset {
	out := &Dataset{Spec: d.Spec, Classes: d.Classes, Report: d.Report, Records: make([]Record, len(idx))}
	for i, j := range idx {
		out.Records[i] = d.Records[j]
	}
	return out
}
