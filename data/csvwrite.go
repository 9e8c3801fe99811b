package data

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// WriteCSVDataset writes ds as a csv: dataset: labels.csv (file,tags with paths
// relative to imageDir) at csvPath and the class list at namesPath, and returns the
// SPEC that loads it back, "csv:CSV:IMAGE_DIR:NAMES". Tags are class names joined
// with ';', so class names must not contain ';' or '|'.
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
		if err != nil {
			return "", err
		}
		var tags []string
		for _, c := range r.Labels {
			tags = append(tags, ds.Classes[c])
		}
		rows = append(rows, []string{filepath.ToSlash(rel), strings.Join(tags, ";")})
	}
	if err := atomicWrite(csvPath, func(f *os.File) error {
		w := csv.NewWriter(f)
		if err := w.WriteAll(rows); err != nil {
			return err
		}
		return w.Error()
	}); err != nil {
		return "", err
	}
	if err := atomicWrite(namesPath, func(f *os.File) error {
		_, err := f.WriteString(strings.Join(ds.Classes, "\n") + "\n")
		return err
	}); err != nil {
		return "", err
	}
	return "csv:" + csvPath + ":" + imageDir + ":" + namesPath, nil
}

// atomicWrite writes path through a temporary file in the same directory, synced and
// renamed into place, so readers never see a partial file.
func atomicWrite(path string, write func(*os.File) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
