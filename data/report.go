package data

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Problem kinds a Report counts. The first group are defects of the data; the notes
// record legitimate cases worth knowing about (COCO images without annotations, YOLO
// background images without a label file).
const (
	MissingFile  = "missing-file"      // listed image not on disk (record dropped)
	Unreadable   = "unreadable"        // image not decodable / over the caps (record dropped)
	UnknownClass = "unknown-class"     // class id or name not in the vocabulary (label dropped)
	Duplicate    = "duplicate"         // same image listed twice (labels merged)
	Malformed    = "malformed"         // unparsable line or value (line skipped)
	Outside      = "outside-folder"    // listed image outside its image folder, by name or symlink (record dropped)
	Orphan       = "note:orphan-label" // label file without an image (ignored)
	NoLabels     = "note:unlabeled"    // image with no annotations or label file: kept, all-negative
)

// maxStoredPerKind bounds how many problems of one kind a Report keeps in full; the
// counts stay exact.
const maxStoredPerKind = 1000

// Problem is one issue found while loading, located as file:line (or file:json-path).
type Problem struct {
	Kind  string `json:"kind"`
	Where string `json:"where"`
	Msg   string `json:"msg"`
}

func (p Problem) String() string { return p.Where + ": " + p.Kind + ": " + p.Msg }

// Report lists what loading a dataset found wrong, with exact counts per kind.
type Report struct {
	Problems []Problem      `json:"problems"`
	Counts   map[string]int `json:"counts"`
}

// Add records a problem.
func (r *Report) Add(kind, where, format string, args ...any) {
	if r.Counts == nil {
		r.Counts = map[string]int{}
	}
	r.Counts[kind]++
	if r.Counts[kind] <= maxStoredPerKind {
		r.Problems = append(r.Problems, Problem{Kind: kind, Where: where, Msg: fmt.Sprintf(format, args...)})
	}
}

// Count is the number of problems of kind.
func (r *Report) Count(kind string) int { return r.Counts[kind] }

// Defects is the number of problems that are not notes.
func (r *Report) Defects() int {
	n := 0
	for k, v := range r.Counts {
		if !strings.HasPrefix(k, "note:") {
			n += v
		}
	}
	return n
}

// Summary is a one-line count per kind, e.g. "2 missing-file, 1 duplicate", or "no problems".
func (r *Report) Summary() string {
	if len(r.Counts) == 0 {
		return "no problems"
	}
	kinds := make([]string, 0, len(r.Counts))
	for k := range r.Counts {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%d %s", r.Counts[k], k))
	}
	return strings.Join(parts, ", ")
}

// Write prints the summary and up to perKind problems of each kind.
func (r *Report) Write(w io.Writer, perKind int) error {
	if _, err := fmt.Fprintln(w, r.Summary()); err != nil {
		return err
	}
	shown := map[string]int{}
	for _, p := range r.Problems {
		if shown[p.Kind] >= perKind {
			continue
		}
		shown[p.Kind]++
		if _, err := fmt.Fprintln(w, "  "+p.String()); err != nil {
			return err
		}
	}
	for k, n := range r.Counts {
		if n > shown[k] && shown[k] == perKind {
			if _, err := fmt.Fprintf(w, "  … %d more %s\n", n-shown[k], k); err != nil {
				return err
			}
		}
	}
	return nil
}
