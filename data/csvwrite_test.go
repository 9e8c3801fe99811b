package data

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestImageRootAndRelativeCSV(t *testing.T) {
	dir := t.TempDir()
	ds := &Dataset{Classes: []string{"a"}, Records: []Record{
		{Path: filepath.Join(dir, "p", "x", "1.jpg"), Labels: []int{0}},
		{Path: filepath.Join(dir, "p", "y", "z", "2.jpg"), Labels: []int{}},
	}}
	root, err := ImageRoot(ds)
	if err != nil || root != filepath.Join(dir, "p") {
		t.Fatalf("ImageRoot = %q, %v; want %q", root, err, filepath.Join(dir, "p"))
	}
	if _, err := ImageRoot(&Dataset{}); err == nil {
		t.Error("ImageRoot of no images: no error")
	}
	spec, err := WriteCSVDataset(ds, filepath.Join(dir, "out", "t.csv"), root, filepath.Join(dir, "out", "n.txt"))
	if err != nil {
		t.Fatal(err)
	}
	back := mustLoad(t, spec)
	if len(back.Records) != 0 || back.Report.Count(MissingFile) != 2 || back.Report.Count(Outside) != 0 {
		t.Errorf("written csv: %s; want the two (absent) images found inside the root", back.Report.Summary())
	}
	// An image outside the folder cannot be written relative to it.
	if _, err := WriteCSVDataset(ds, filepath.Join(dir, "out", "u.csv"), filepath.Join(dir, "p", "x"), filepath.Join(dir, "out", "n.txt")); err == nil ||
		!strings.Contains(err.Error(), "not inside") {
		t.Errorf("image outside the folder: %v", err)
	}
}
