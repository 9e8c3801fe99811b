package data

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/autotag/autotag/internal/atomicfile"
)

// WriteCSVDataset writes ds as a csv: dataset: labels.csv (file,tags with paths
// relative to imageDir, which must hold every image, so that the files can move with
// their images) at csvPath and the class list at namesPath, and returns the SPEC that
// loads it back, "csv:CSV:IMAGE_DIR:NAMES". Tags are class names joined with ';', so
// class names must not contain ';' or '|'.
func WriteCSVDataset(ds *Dataset, csvPath, imageDir, namesPath string) (string, error) {
	for _, c := range ds.Classes {
		if strings.ContainsAny(c, ";|\n") || strings.TrimSpace(c) != c || c == "" {
			return "", fmt.Errorf("class name %q cannot be written as a csv: tag", c)
		}
	}
	absDir, err := filepath.Abs(imageDir)
	if err != nil {
		return "", err
	}
	var rows [][]string
	rows = append(rows, []string{"file", "tags"})
	for _, r := range ds.Records {
		abs, err := filepath.Abs(r.Path)
		if err != nil {
			return "", err
		}
		rel, err := filepath.Rel(absDir, abs)
		if err != nil || !filepath.IsLocal(rel) {
			return "", fmt.Errorf("%s is not inside the image folder %s", r.Path, imageDir)
		}
		var tags []string
		for _, c := range r.Labels {
			tags = append(tags, ds.Classes[c])
		}
		rows = append(rows, []string{filepath.ToSlash(rel), strings.Join(tags, ";")})
	}
	if err := atomicfile.Write(csvPath, func(f *os.File) error {
		w := csv.NewWriter(f)
		if err := w.WriteAll(rows); err != nil {
			return err
		}
		return w.Error()
	}); err != nil {
		return "", err
	}
	if err := atomicfile.Write(namesPath, func(f *os.File) error {
		_, err := f.WriteString(strings.Join(ds.Classes, "\n") + "\n")
		return err
	}); err != nil {
		return "", err
	}
	return "csv:" + csvPath + ":" + imageDir + ":" + namesPath, nil
}

// ImageRoot returns the deepest folder that holds every image of dss, as an absolute
// path: the image folder a split of them is written against.
func ImageRoot(dss ...*Dataset) (string, error) {
	root := ""
	for _, ds := range dss {
		for _, r := range ds.Records {
			abs, err := filepath.Abs(r.Path)
			if err != nil {
				return "", err
			}
			dir := filepath.Dir(abs)
			if root == "" {
				root = dir
				continue
			}
			for {
				if rel, err := filepath.Rel(root, dir); err == nil && filepath.IsLocal(rel) {
					break
				}
				parent := filepath.Dir(root)
				if parent == root {
					break
				}
				root = parent
			}
		}
	}
	if root == "" {
		return "", fmt.Errorf("no images")
	}
	return root, nil
}
