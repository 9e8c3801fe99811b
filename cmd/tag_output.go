package cmd

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/autotag/autotag"
)

// tagResult is the outcome for one file.
type tagResult struct {
	file    string
	tags    []autotag.Tag
	err     error
	skipped bool // --xmp: the sidecar was up to date; tags come from it
}

// resultWriter renders results in one output format.
type resultWriter interface {
	write(r tagResult) error
	flush() error
}

func newResultWriter(format string, w io.Writer) (resultWriter, error) {
	switch format {
	case "jsonl", "json":
		return &jsonlWriter{w: w}, nil
	case "csv":
		cw := csv.NewWriter(w)
		if err := cw.Write([]string{"file", "tags", "scores", "error"}); err != nil {
			return nil, err
		}
		return &csvWriter{w: cw}, nil
	case "table":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FILE\tTAGS")
		return &tableWriter{w: tw}, nil
	}
	return nil, fmt.Errorf("--format %q: want jsonl, csv or table", format)
}

// errNonFiniteScore marks a result whose scores include a NaN or an infinity (a
// broken model, or a sidecar with a hand-edited score): such a row is an error,
// never a value compared with --threshold or ranked by --top-k.
var errNonFiniteScore = errors.New("non-finite score")

// checkScores turns a result with a non-finite score into an error row without tags,
// so no output format can print NaN.
func checkScores(r tagResult) tagResult {
	if r.err != nil {
		return r
	}
	for _, t := range r.tags {
		if math.IsNaN(t.Score) || math.IsInf(t.Score, 0) {
			r.err = fmt.Errorf("%w for %q", errNonFiniteScore, t.Label)
			r.tags, r.skipped = nil, false
			return r
		}
	}
	return r
}

// roundScore keeps four decimals: enough to rank, short to read.
func roundScore(s float64) float64 { return math.Round(s*1e4) / 1e4 }

// jsonlRow is one line of jsonl output (DESIGN.md §5).
type jsonlRow struct {
	File    string        `json:"file"`
	Tags    []autotag.Tag `json:"tags"`
	Error   *string       `json:"error"`
	Skipped bool          `json:"skipped,omitempty"`
}

type jsonlWriter struct{ w io.Writer }

func (j *jsonlWriter) write(r tagResult) error {
	r = checkScores(r)
	row := jsonlRow{File: r.file, Tags: make([]autotag.Tag, 0, len(r.tags)), Skipped: r.skipped}
	for _, t := range r.tags {
		row.Tags = append(row.Tags, autotag.Tag{Label: t.Label, Score: roundScore(t.Score)})
	}
	if r.err != nil {
		msg := r.err.Error()
		row.Error = &msg
	}
	b, err := json.Marshal(row)
	if err != nil {
		return err
	}
	_, err = j.w.Write(append(b, '\n'))
	return err
}

func (j *jsonlWriter) flush() error { return nil }

type csvWriter struct{ w *csv.Writer }

// csvCell defuses spreadsheet formulas: a cell starting with =, +, -, @, tab or CR
// gets a leading apostrophe (OWASP "CSV injection").
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (c *csvWriter) write(r tagResult) error {
	r = checkScores(r)
	labels := make([]string, len(r.tags))
	scores := make([]string, len(r.tags))
	for i, t := range r.tags {
		labels[i] = t.Label
		scores[i] = fmt.Sprintf("%.4f", t.Score)
	}
	msg := ""
	if r.err != nil {
		msg = r.err.Error()
	}
	if err := c.w.Write([]string{csvCell(r.file), csvCell(strings.Join(labels, ";")), strings.Join(scores, ";"), csvCell(msg)}); err != nil {
		return err
	}
	c.w.Flush() // one row at a time, so a long run shows progress
	return c.w.Error()
}

func (c *csvWriter) flush() error { c.w.Flush(); return c.w.Error() }

// displayName renders a file name, or a message that may hold one, for a terminal:
// unchanged when it is printable text, else Go-quoted, so a name holding a newline,
// a tab, an escape sequence or invalid UTF-8 can neither forge a row nor drive the
// terminal. (jsonl escapes such names itself; csv quotes them.)
func displayName(s string) string {
	if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

type tableWriter struct{ w *tabwriter.Writer }

func (t *tableWriter) write(r tagResult) error {
	r = checkScores(r)
	var cell string
	switch {
	case r.err != nil:
		cell = "error: " + r.err.Error()
	case len(r.tags) == 0:
		cell = "-"
	default:
		parts := make([]string, len(r.tags))
		for i, tg := range r.tags {
			parts[i] = fmt.Sprintf("%s %.2f", tg.Label, tg.Score)
		}
		cell = strings.Join(parts, ", ")
	}
	if r.skipped {
		cell += " (sidecar up to date)"
	}
	_, err := fmt.Fprintf(t.w, "%s\t%s\n", displayName(r.file), displayName(cell))
	return err
}

func (t *tableWriter) flush() error { return t.w.Flush() }
