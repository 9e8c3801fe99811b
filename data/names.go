package data

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// COCOClasses are the 80 COCO object categories in the standard contiguous order 0-79
// (category ids 1-90 sorted; Lin et al. 2014), as used by YOLO label files and
// multi-label COCO benchmarks.
var COCOClasses = []string{
	"person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
	"traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
	"horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
	"handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
	"baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
	"wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
	"broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
	"bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
	"microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
	"teddy bear", "hair drier", "toothbrush",
}

// COCOCategoryIDs are the COCO instances-JSON category ids (1-90, 11 unused) of
// COCOClasses, index for index.
var COCOCategoryIDs = []int{
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28,
	31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55,
	56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84,
	85, 86, 87, 88, 89, 90,
}

// ReadNames reads a class-name list: either a plain list (one name per line, as
// darknet's coco.names or YOLO's classes.txt; blank lines and # comments skipped) or a
// YOLO data yaml whose `names:` is a block list (`- person`), a flow list
// (`[person, bicycle]`, possibly over several lines) or a mapping (`0: person`).
func ReadNames(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("class names: %w", err)
	}
	var names []string
	if strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml") || yamlNamesKey(b) {
		names, err = parseYAMLNames(b)
	} else {
		names, err = parseNamesList(b)
	}
	if err != nil {
		return nil, fmt.Errorf("class names %s: %w", path, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("class names %s: no names", path)
	}
	return names, nil
}

func yamlNamesKey(b []byte) bool {
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "names:") {
			return true
		}
	}
	return false
}

func parseNamesList(b []byte) ([]string, error) {
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		names = append(names, s)
	}
	return names, sc.Err()
}

// stripComment removes a YAML comment (a # outside quotes, at the start or after a space).
func stripComment(s string) string {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			return s[:i]
		}
	}
	return s
}

// unquote removes YAML single or double quotes around a scalar.
func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 {
		if s[0] == '"' && s[len(s)-1] == '"' {
			if u, err := strconv.Unquote(s); err == nil {
				return u
			}
			return s[1 : len(s)-1]
		}
		if s[0] == '\'' && s[len(s)-1] == '\'' {
			return strings.ReplaceAll(s[1:len(s)-1], "''", "'")
		}
	}
	return s
}

// splitFlow splits the inside of a YAML flow sequence on commas outside quotes.
func splitFlow(s string) []string {
	var out []string
	var quote byte
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == ',':
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	out = append(out, s[start:])
	var names []string
	for _, p := range out {
		if p = unquote(p); p != "" {
			names = append(names, p)
		}
	}
	return names
}

// parseYAMLNames extracts the top-level `names:` key of a YOLO data yaml. It handles
// the forms YOLO tools write, not YAML in general: anything else is an error.
func parseYAMLNames(b []byte) ([]string, error) {
	lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := stripComment(lines[i])
		if !strings.HasPrefix(line, "names:") {
			continue
		}
		val := strings.TrimSpace(strings.TrimPrefix(line, "names:"))
		if strings.HasPrefix(val, "[") { // flow list, maybe continued on later lines
			for !strings.Contains(val, "]") && i+1 < len(lines) {
				i++
				val += " " + strings.TrimSpace(stripComment(lines[i]))
			}
			end := strings.LastIndex(val, "]")
			if end < 0 {
				return nil, fmt.Errorf("line %d: unterminated [ list", i+1)
			}
			return splitFlow(val[1:end]), nil
		}
		if val != "" {
			return nil, fmt.Errorf("line %d: unsupported names value %q", i+1, val)
		}
		// Block: "- name" items or "N: name" pairs, indented.
		var list []string
		byID := map[int]string{}
		maxID := -1
		for j := i + 1; j < len(lines); j++ {
			raw := stripComment(lines[j])
			s := strings.TrimSpace(raw)
			if s == "" {
				continue
			}
			if raw[0] != ' ' && raw[0] != '\t' && raw[0] != '-' {
				break // next top-level key
			}
			if item, ok := strings.CutPrefix(s, "-"); ok {
				list = append(list, unquote(item))
				continue
			}
			k, v, ok := strings.Cut(s, ":")
			if !ok {
				return nil, fmt.Errorf("line %d: want `- name` or `id: name`, got %q", j+1, s)
			}
			id, err := strconv.Atoi(strings.TrimSpace(k))
			if err != nil || id < 0 || id > 1<<20 {
				return nil, fmt.Errorf("line %d: class id %q is not a small integer", j+1, k)
			}
			if _, dup := byID[id]; dup {
				return nil, fmt.Errorf("line %d: class id %d given twice", j+1, id)
			}
			byID[id] = unquote(v)
			maxID = max(maxID, id)
		}
		if len(list) > 0 && len(byID) > 0 {
			return nil, fmt.Errorf("line %d: names mixes list items and id: name pairs", i+1)
		}
		if len(byID) > 0 {
			names := make([]string, maxID+1)
			for id := range names {
				n, ok := byID[id]
				if !ok {
					return nil, fmt.Errorf("names: class id %d missing (ids must be 0..%d)", id, maxID)
				}
				names[id] = n
			}
			return names, nil
		}
		return list, nil
	}
	return nil, fmt.Errorf("no top-level names: key")
}
