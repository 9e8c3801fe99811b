package data

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// LoadCSV reads a plain labels CSV for people's own vocabularies:
//
//	file,tags
//	beach/1.jpg,dog;frisbee
//	beach/2.jpg,
//
// A header row is recognised by its first column (file, filename, file_name, image,
// path); without one every row is data. Tags are separated by ';' (or '|'); a row
// with no tags is an all-negative image. The vocabulary is the NAMES file's list when
// given (unknown tags are reported), else every tag seen, sorted.
//
// Variant with numeric ids: when the second header column starts with "class_id" (as
// in `file,class_ids` or coco128's `image,class_ids_0_79,class_names`), the tags are
// integer class ids separated by spaces, ';' or '|', into NAMES or, by default,
// COCOClasses. Further columns are ignored. Duplicate rows for one file are merged
// and reported.
func LoadCSV(file, imageDir, names string, opt LoadOptions) (*Dataset, error) {
	var vocab []string
	if names != "" {
		var err error
		if vocab, err = ReadNames(names); err != nil {
			return nil, err
		}
	}
	f, err := openRegular(file)
	if err != nil {
		return nil, fmt.Errorf("csv labels: %w", err)
	}
	defer f.Close()
	p, err := parseCSV(f, file, vocab)
	if err != nil {
		return nil, err
	}
	return p.build(file, imageDir, opt)
}

// fileHeaders are first-column names that mark a header row.
var fileHeaders = []string{"file", "filename", "file_name", "image", "images", "path", "image_path", "img", "name"}

// csvRows reads every record of a CSV stream, reporting malformed lines as it goes,
// and calls fn with the record and its 1-based line number.
func csvRows(r io.Reader, src string, rep *Report, fn func(rec []string, line int)) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			rep.Add(Malformed, fmt.Sprintf("%s:%d", src, pe.StartLine), "%v", pe.Err)
			if rep.Count(Malformed) > 10000 {
				return fmt.Errorf("%s: too many malformed lines; is it a CSV file?", src)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		line, _ := cr.FieldPos(0)
		fn(rec, line)
	}
}

// parseCSV parses the file,tags CSV (see LoadCSV) against vocab (nil = collect).
func parseCSV(r io.Reader, src string, vocab []string) (*parsed, error) {
	p := &parsed{report: &Report{}}
	type row struct {
		name  string
		tags  []string
		where string
	}
	var rows []row
	first, ids := true, false
	err := csvRows(r, src, p.report, func(rec []string, line int) {
		isFirst := first
		first = false
		where := fmt.Sprintf("%s:%d", src, line)
		if isFirst && slices.Contains(fileHeaders, strings.ToLower(strings.TrimSpace(strings.TrimPrefix(rec[0], "\ufeff")))) {
			ids = len(rec) > 1 && strings.HasPrefix(strings.ToLower(strings.TrimSpace(rec[1])), "class_id")
			return
		}
		name := strings.TrimSpace(strings.TrimPrefix(rec[0], "\ufeff"))
		if name == "" {
			p.report.Add(Malformed, where, "empty file name")
			return
		}
		var tags []string
		if len(rec) > 1 {
			sep := func(c rune) bool { return c == ';' || c == '|' }
			if ids {
				sep = func(c rune) bool { return c == ';' || c == '|' || c == ' ' || c == '\t' }
			}
			for _, t := range strings.FieldsFunc(rec[1], sep) {
				if t = strings.TrimSpace(t); t != "" {
					tags = append(tags, t)
				}
			}
		}
		rows = append(rows, row{name, slices.Clone(tags), where})
	})
	if err != nil {
		return nil, err
	}
	if ids && vocab == nil {
		vocab = COCOClasses
	}
	if vocab == nil { // collect the vocabulary from the data
		seen := map[string]bool{}
		for _, r := range rows {
			for _, t := range r.tags {
				if !seen[t] {
					seen[t] = true
					vocab = append(vocab, t)
				}
			}
		}
		slices.Sort(vocab)
	}
	p.classes = slices.Clone(vocab)
	index := make(map[string]int, len(vocab))
	for i, n := range vocab {
		index[n] = i
	}
	for _, r := range rows {
		var labels []int
		for _, t := range r.tags {
			if ids {
				id, err := strconv.Atoi(t)
				switch {
				case err != nil:
					p.report.Add(Malformed, r.where, "class id %q is not an integer", truncate(t, 20))
				case id < 0 || id >= len(vocab):
					p.report.Add(UnknownClass, r.where, "class id %d outside 0..%d", id, len(vocab)-1)
				default:
					labels = append(labels, id)
				}
				continue
			}
			if k, ok := index[t]; ok {
				labels = append(labels, k)
			} else {
				p.report.Add(UnknownClass, r.where, "tag %q is not in the class list", truncate(t, 40))
			}
		}
		if len(r.tags) == 0 {
			p.report.Add(NoLabels, r.where, "%s has no tags: kept as all-negative", r.name)
		}
		p.entries = append(p.entries, entry{name: r.name, labels: labels, where: r.where})
	}
	return p, nil
}
