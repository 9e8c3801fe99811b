package data

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// LoadKaggle reads the Kaggle multi-label layout: a labels CSV with a header row,
// the image file in the first column and one 0/1 column per class, plus a categories
// CSV listing the classes (one name per row, or `id,name` rows; a header row is
// skipped). Label columns are matched to categories by name (case-insensitive), else
// by category id, else by 0-based position; a column matching nothing is reported and
// ignored. Cells other than 0/1 (also 0.0/1.0, true/false, empty = 0) are reported.
// Classes keep the categories file's order.
func LoadKaggle(labels, categories, imageDir string, opt LoadOptions) (*Dataset, error) {
	cf, err := openRegular(categories)
	if err != nil {
		return nil, fmt.Errorf("kaggle categories: %w", err)
	}
	defer cf.Close()
	lf, err := openRegular(labels)
	if err != nil {
		return nil, fmt.Errorf("kaggle labels: %w", err)
	}
	defer lf.Close()
	p, err := parseKaggle(lf, labels, cf, categories)
	if err != nil {
		return nil, err
	}
	return p.build(labels, imageDir, opt)
}

// parseKaggleCategories returns the class names and, per class, its id when the file
// gives one (else -1).
func parseKaggleCategories(r io.Reader, src string, rep *Report) ([]string, []int, error) {
	var names []string
	var ids []int
	first := true
	err := csvRows(r, src, rep, func(rec []string, line int) {
		isFirst := first
		first = false
		f0 := strings.TrimSpace(strings.TrimPrefix(rec[0], "\ufeff"))
		id, idErr := strconv.Atoi(f0)
		switch {
		case len(rec) >= 2 && idErr == nil:
			names = append(names, strings.TrimSpace(rec[1]))
			ids = append(ids, id)
		case isFirst && (len(rec) >= 2 || isHeaderWord(f0)):
			// header row
		case f0 == "":
			rep.Add(Malformed, fmt.Sprintf("%s:%d", src, line), "empty category")
		default:
			names = append(names, f0)
			ids = append(ids, -1)
		}
	})
	if err != nil {
		return nil, nil, err
	}
	if len(names) == 0 {
		return nil, nil, fmt.Errorf("kaggle categories %s: no categories", src)
	}
	return names, ids, nil
}

func isHeaderWord(s string) bool {
	switch strings.ToLower(s) {
	case "name", "names", "category", "categories", "class", "classes", "label", "labels":
		return true
	}
	return false
}

// parseKaggle parses the labels CSV against the categories CSV.
func parseKaggle(labels io.Reader, lsrc string, categories io.Reader, csrc string) (*parsed, error) {
	p := &parsed{report: &Report{}}
	names, ids, err := parseKaggleCategories(categories, csrc, p.report)
	if err != nil {
		return nil, err
	}
	p.classes = names
	byName := map[string]int{}
	byID := map[int]int{}
	for i, n := range names {
		byName[strings.ToLower(n)] = i
		if ids[i] >= 0 {
			byID[ids[i]] = i
		}
	}
	var colClass []int // per label column (after the file column): class index or -1
	header := true
	err = csvRows(labels, lsrc, p.report, func(rec []string, line int) {
		where := fmt.Sprintf("%s:%d", lsrc, line)
		if header {
			header = false
			for j, key := range rec[1:] {
				key = strings.TrimSpace(key)
				k, ok := byName[strings.ToLower(key)]
				if !ok {
					if n, err := strconv.Atoi(key); err == nil {
						if k, ok = byID[n]; !ok && len(byID) == 0 && n >= 0 && n < len(names) {
							k, ok = n, true
						}
					}
				}
				if !ok {
					p.report.Add(UnknownClass, where, "column %d %q matches no category; ignored", j+2, truncate(key, 40))
					k = -1
				}
				colClass = append(colClass, k)
			}
			return
		}
		name := strings.TrimSpace(rec[0])
		if name == "" {
			p.report.Add(Malformed, where, "empty file name")
			return
		}
		if len(rec)-1 != len(colClass) {
			p.report.Add(Malformed, where, "%d label columns, header has %d; line skipped", len(rec)-1, len(colClass))
			return
		}
		var labels []int
		for j, cell := range rec[1:] {
			switch strings.ToLower(strings.TrimSpace(cell)) {
			case "1", "1.0", "true":
				if colClass[j] >= 0 {
					labels = append(labels, colClass[j])
				}
			case "0", "0.0", "false", "":
			default:
				p.report.Add(Malformed, where, "column %d: %q is not 0 or 1", j+2, truncate(cell, 20))
			}
		}
		if len(labels) == 0 {
			p.report.Add(NoLabels, where, "%s has no positive column: kept as all-negative", name)
		}
		p.entries = append(p.entries, entry{name: name, labels: labels, where: where})
	})
	if err != nil {
		return nil, err
	}
	if header {
		return nil, fmt.Errorf("kaggle labels %s: empty (want a header row: file, then one column per class)", lsrc)
	}
	return p, nil
}
