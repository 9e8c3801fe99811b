package data

import (
	"bufio"
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
	p := &parsed{report: &Report{}}
	used := map[string]bool{}
	nc := len(classes)
	if nc == 0 {
		nc = -1 // unknown until every file is read
	}
	maxID := -1
	for _, rel := range imgs {
		lp := filepath.Join(labelDir, strings.TrimSuffix(rel, filepath.Ext(rel))+".txt")
		e := entry{name: filepath.ToSlash(rel), where: lp}
		f, err := os.Open(lp)
		switch {
		case os.IsNotExist(err):
			p.report.Add(NoLabels, filepath.Join(imageDir, rel), "no label file %s: kept as all-negative (background image)", lp)
		case err != nil:
			p.report.Add(Unreadable, lp, "%v", err)
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
	return p.build(imageDir, opt), nil
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
			rep.Add(Malformed, where, "non-numeric coordinate in %q", truncate(s, 60))
			continue
		}
		id, err := strconv.Atoi(f[0])
		if err != nil { // some tools write "3.0"
			v, ferr := strconv.ParseFloat(f[0], 64)
			if ferr != nil || v != math.Trunc(v) || v < 0 || v > 1<<30 {
				rep.Add(Malformed, where, "class id %q is not an integer", truncate(f[0], 20))
				continue
			}
			id = int(v)
		}
		if id < 0 || (nc >= 0 && id >= nc) || id > 1<<20 {
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
