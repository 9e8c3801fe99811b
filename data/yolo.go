package data

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LoadYOLO reads a YOLO-format dataset (Redmon et al.; Ultralytics layout): images
// under imageDir, and for each image a .txt file at the same relative path under
// labelDir whose lines start with a class id ("cls cx cy w h", or a polygon). The
// image-level label set is the set of class ids. names is a names list or a YOLO data
// yaml; when empty, classes.txt in labelDir or its parent is used, else COCO's 80
// classes when every id is below 80, else the ids themselves as names (reported).
// Images without a label file are YOLO's background images: kept as all-negative and
// counted as notes; label files without an image are reported as orphans.
func LoadYOLO(imageDir, labelDir, names string, opt LoadOptions) (*Dataset, error) {
	var classes []string
	if names == "" {
		for _, p := range []string{filepath.Join(labelDir, "classes.txt"), filepath.Join(labelDir, "..", "classes.txt")} {
			if _, err := os.Stat(p); err == nil {
				names = p
				break
			}
		}
	}
	if names != "" {
		var err error
		if classes, err = ReadNames(names); err != nil {
			return nil, err
		}
	}
	if st, err := os.Stat(labelDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("yolo label folder %s: not a directory (%v)", labelDir, err)
	}
	imgs, err := listImages(imageDir)
	if err != nil {
		return nil, fmt.Errorf("yolo images %s: %w", imageDir, err)
	}
	// Label files are opened through the label folder's os.Root, so neither a name nor
	// a symlink leads outside it.
	lroot, err := os.OpenRoot(labelDir)
	if err != nil {
		return nil, fmt.Errorf("yolo label folder %s: %w", labelDir, err)
	}
	defer lroot.Close()
	p := &parsed{report: &Report{}}
	used := map[string]bool{}
	nc := len(classes)
	if nc == 0 {
		nc = -1 // unknown until every file is read
	}
	maxID := -1
	for _, rel := range imgs {
		lrel := strings.TrimSuffix(rel, filepath.Ext(rel)) + ".txt"
		lp := filepath.Join(labelDir, lrel)
		e := entry{name: filepath.ToSlash(rel), where: lp}
		f, err := openLabelFile(lroot, lrel)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			p.report.Add(NoLabels, filepath.Join(imageDir, rel), "no label file %s: kept as all-negative (background image)", lp)
		case err != nil:
			p.report.Add(Unreadable, lp, "%v", pathError(lp, err))
			continue
		default:
			used[filepath.Clean(lp)] = true
			e.labels = parseYOLOLabels(f, lp, nc, p.report)
			f.Close()
			e.where = lp + ":1"
		}
		for _, c := range e.labels {
			maxID = max(maxID, c)
		}
		p.entries = append(p.entries, e)
	}
	if classes == nil {
		if maxID < len(COCOClasses) {
			classes = COCOClasses
			p.report.Add("note:default-names", labelDir, "no names given: assuming COCO's 80 classes")
		} else {
			for i := 0; i <= maxID; i++ {
				classes = append(classes, strconv.Itoa(i))
			}
			p.report.Add("note:default-names", labelDir, "no names given: classes named by id 0..%d", maxID)
		}
	}
	p.classes = classes
	_ = filepath.WalkDir(labelDir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".txt") && d.Name() != "classes.txt" && !used[filepath.Clean(path)] {
			p.report.Add(Orphan, path, "label file without an image in %s", imageDir)
		}
		return nil
	})
	return p.build(labelDir, imageDir, opt)
}

// MaxLabelFileBytes bounds one YOLO label file; real ones hold a line per object.
const MaxLabelFileBytes = 16 << 20

// openLabelFile opens the label file rel under root if it is a regular file of at
// most MaxLabelFileBytes; a FIFO or device is refused before it is opened.
func openLabelFile(root *os.Root, rel string) (*os.File, error) {
	st, err := root.Stat(rel)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if st.Size() > MaxLabelFileBytes {
		return nil, fmt.Errorf("%d bytes is over the limit of %d for a label file", st.Size(), MaxLabelFileBytes)
	}
	return root.Open(rel)
}

// parseYOLOLabels reads one YOLO label file: each non-empty line is a class id followed
// by at least four numbers (a box; more for polygons). nc < 0 means the class count is
// unknown. Malformed lines and unknown ids are reported with src:line and skipped.
func parseYOLOLabels(r io.Reader, src string, nc int, rep *Report) []int {
	var labels []int
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		where := fmt.Sprintf("%s:%d", src, line)
		f := strings.Fields(s)
		if len(f) < 5 {
			rep.Add(Malformed, where, "want `class cx cy w h`, got %d fields", len(f))
			continue
		}
		bad := false
		for _, x := range f[1:] {
			if v, err := strconv.ParseFloat(x, 64); err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				bad = true
				break
			}
		}
		if bad {
			rep.Add(Malformed, where, "a coordinate is not a finite number")
			continue
		}
		id, err := strconv.Atoi(f[0])
		if err != nil { // some tools write "3.0"
			v, ferr := strconv.ParseFloat(f[0], 64)
			if ferr != nil || v != math.Trunc(v) || v < 0 || v > maxClassID {
				rep.Add(Malformed, where, "class id %q is not an integer", truncate(f[0], 20))
				continue
			}
			id = int(v)
		}
		if id < 0 || (nc >= 0 && id >= nc) || id > maxClassID {
			rep.Add(UnknownClass, where, "class id %d outside 0..%d", id, nc-1)
			continue
		}
		labels = append(labels, id)
	}
	if err := sc.Err(); err != nil {
		rep.Add(Malformed, fmt.Sprintf("%s:%d", src, line+1), "%v", err)
	}
	return labels
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
