package cmd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/autotag/autotag"
	"github.com/autotag/autotag/data"
	"github.com/autotag/autotag/internal/ordered"
	"github.com/autotag/autotag/internal/safedoc"
	"github.com/autotag/autotag/internal/xmp"
	"github.com/autotag/autotag/weights"
)

// tagFlags are the flags of `autotag tag`.
type tagFlags struct {
	model      string
	threshold  float64
	topK       int
	format     string
	xmp        bool
	out        string
	force      bool
	rules      string
	workers    int
	maxPixels  int
	maxFileMB  int64
	budgetMB   int64
	fast       bool
	printRules bool
}

func newTagCmd() *cobra.Command {
	var f tagFlags
	c := &cobra.Command{
		Use:   "tag [flags] PATH...",
		Short: "Tag photos: files, folders (recursive), globs, or - for paths on stdin",
		Long: `Tag photos with the model and print one result per file.

PATH is a file, a folder (searched recursively for .jpg .jpeg .png .gif .webp .bmp
.tif .tiff; hidden entries are skipped; symbolic links are followed only to files
inside the folder), a glob ("photos/*.jpg", quoted so the shell leaves it), or - to
read paths from stdin, one per line.

Output (stdout): jsonl (default) with one {"file","tags","error"} object per line,
csv (file,tags,scores,error; tags and scores separated by ';'; cells that a
spreadsheet would run as a formula are prefixed with '), or an aligned table. A file
that cannot be read or decoded gets its error on its row (and on stderr), the run
goes on, and the exit status is 1.

Label rules: a 1000-class ImageNet model's labels are mapped onto COCO's
categories by the embedded default rules (118 dog breeds -> dog, ...); --rules none
shows the raw ImageNet labels, --rules FILE uses your own (YAML or JSON; print the
defaults with --print-rules for a starting point). A trained COCO model needs none.

--xmp writes an XMP sidecar next to each photo (photo.jpg -> photo.jpg.xmp, the
darktable/digiKam convention), or under --out DIR mirroring the folders, with the
tags as dc:subject keywords and lr:hierarchicalSubject "autotag|category|tag".
Existing sidecars are merged: other fields and your own keywords are kept. A
sidecar newer than its photo and written with the same model and settings is
skipped (its tags are reported from the sidecar) unless --force. A write-protected
sidecar or folder (no owner write bit, even for root) and a sidecar that is not
exactly one XMP packet are refused and left byte for byte as they were. Under
--out, two photos that would get the same sidecar (same name from different
folders named as files) are not merged: the second is refused, naming the first.`,
		Example: `  autotag tag ~/Pictures/2024 --format table
  autotag tag --xmp --threshold 0.3 "photos/*.jpg"
  find /photos -name '*.jpg' -newer last-run | autotag tag - > tags.jsonl`,
		RunE: func(c *cobra.Command, args []string) error {
			if f.printRules {
				_, err := c.OutOrStdout().Write(autotag.DefaultRulesSource())
				return err
			}
			if len(args) == 0 {
				return withExitCode(2, errors.New("tag: give at least one PATH (a file, folder, glob or -)"))
			}
			return runTag(c.Context(), c, f, args)
		},
	}
	fl := c.Flags()
	fl.StringVarP(&f.model, "model", "m", "", "model file or cached model name (default: the cached resnet50-keras, or the only cached model)")
	fl.Float64VarP(&f.threshold, "threshold", "t", 0, "minimum score of a tag, overriding rule and model thresholds (default: per tag; 0.1 for softmax models, 0.5 for sigmoid)")
	fl.IntVarP(&f.topK, "top-k", "k", 0, "at most this many tags per photo, best first (0: no limit)")
	fl.StringVarP(&f.format, "format", "f", "jsonl", "output format: jsonl, csv or table")
	fl.BoolVar(&f.xmp, "xmp", false, "write XMP sidecars (photo.jpg.xmp) with the tags as keywords")
	fl.StringVar(&f.out, "out", "", "with --xmp: write sidecars under this folder instead of next to the photos: a named folder keeps its name and subfolders, a named file goes to the top; two photos that would share a sidecar are refused, never merged")
	fl.BoolVar(&f.force, "force", false, "with --xmp: re-tag photos whose sidecar is up to date")
	fl.StringVar(&f.rules, "rules", "", "label rules: a YAML or JSON file, 'none' for the model's raw labels, 'default' for the embedded ImageNet→COCO rules (default: the embedded rules for 1000-class ImageNet models)")
	fl.IntVarP(&f.workers, "workers", "j", runtime.GOMAXPROCS(0), "photos decoded and preprocessed in parallel")
	fl.IntVar(&f.maxPixels, "max-pixels", data.DefaultMaxPixels, "refuse images with more pixels than this (checked before decoding)")
	fl.Int64Var(&f.maxFileMB, "max-file-mb", data.DefaultMaxBytes>>20, "refuse image files larger than this many MB (checked before reading them)")
	fl.Int64Var(&f.budgetMB, "decode-budget-mb", defaultDecodeBudgetMB, "memory the photos decoding at once may hold, MB (file, decoded image, a progressive JPEG's coefficients); a photo waits for its share, one larger than the budget runs alone")
	fl.BoolVar(&f.fast, "fast-decode", false, "decode JPEGs 4× or more the model's resize at 1/2-1/8 scale in the DCT domain (faster for big photos; scores close to, not equal to, a full decode's)")
	fl.BoolVar(&f.printRules, "print-rules", false, "print the embedded default label rules (YAML) and exit")
	_ = c.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"jsonl", "csv", "table"}, cobra.ShellCompDirectiveNoFileComp))
	_ = c.RegisterFlagCompletionFunc("model", completeModelNames)
	_ = c.RegisterFlagCompletionFunc("rules", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"none", "default"}, cobra.ShellCompDirectiveDefault // and files
	})
	return c
}

// completeModelNames completes cached model names (and files).
func completeModelNames(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	entries, _ := weights.List()
	var names []string
	for _, e := range entries {
		names = append(names, e.Name)
	}
	return names, cobra.ShellCompDirectiveDefault
}

// tagConfig fingerprints the settings that change a photo's tags, so an XMP sidecar
// written with other settings is not taken as up to date.
func tagConfig(f tagFlags, thresholdSet bool, rulesDoc []byte) string {
	h := sha256.New()
	th := "auto"
	if thresholdSet {
		th = fmt.Sprint(f.threshold)
	}
	fmt.Fprintf(h, "threshold=%s\ntop-k=%d\nrules=%s\n", th, f.topK, f.rules)
	h.Write(rulesDoc)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func runTag(ctx context.Context, c *cobra.Command, f tagFlags, args []string) error {
	if _, err := newResultWriter(f.format, io.Discard); err != nil {
		return withExitCode(2, err)
	}
	if f.out != "" && !f.xmp {
		return withExitCode(2, errors.New("--out only applies with --xmp"))
	}
	if f.workers < 1 {
		return withExitCode(2, fmt.Errorf("--workers %d: want at least 1", f.workers))
	}
	thresholdSet := c.Flags().Changed("threshold")
	if f.maxFileMB <= 0 {
		return withExitCode(2, fmt.Errorf("--max-file-mb %d: want a positive size", f.maxFileMB))
	}
	if f.budgetMB < 1 {
		return withExitCode(2, fmt.Errorf("--decode-budget-mb %d: want a positive size", f.budgetMB))
	}
	opts := []autotag.Option{autotag.WithTopK(f.topK), autotag.WithMaxPixels(f.maxPixels), autotag.WithMaxBytes(f.maxFileMB << 20)}
	if f.fast {
		opts = append(opts, autotag.WithFastDecode())
	}
	if thresholdSet {
		opts = append(opts, autotag.WithThreshold(f.threshold))
	}
	var rulesDoc []byte
	switch f.rules {
	case "":
	case "none":
		opts = append(opts, autotag.WithoutRules())
	case "default":
		opts = append(opts, autotag.WithRules(autotag.DefaultRules()))
	default:
		r, doc, err := autotag.LoadRulesSource(f.rules)
		if err != nil {
			return withExitCode(2, err)
		}
		rulesDoc = doc
		opts = append(opts, autotag.WithRules(r))
	}

	photos := collectPhotos(args, c.InOrStdin())
	if len(photos) == 0 {
		fmt.Fprintln(c.ErrOrStderr(), "autotag: tag: no images found")
		return nil
	}
	if os.Getenv("GOGC") == "" {
		// The model's weights are ~0.4 GB of live, pointer-free heap; the default GOGC
		// of 100 would let per-photo garbage grow the heap to twice that. A lower
		// target keeps the peak RSS near the live size for little GC work.
		defer debug.SetGCPercent(debug.SetGCPercent(25))
	}
	tagger, err := autotag.Open(ctx, f.model, opts...)
	if err != nil {
		return errors.New(trimPrefix(err.Error(), "autotag: ")) // Execute adds its own
	}
	defer tagger.Close()
	info := tagger.Info()
	cfg := tagConfig(f, thresholdSet, rulesDoc)

	if f.xmp {
		claimSidecars(photos, f.out)
	}

	stdout, stderr := c.OutOrStdout(), c.ErrOrStderr()
	w, _ := newResultWriter(f.format, stdout)
	bar := newTagProgress(stderr, len(photos))

	lim := decodeLimits{budget: newMemBudget(f.budgetMB << 20), maxPixels: f.maxPixels, maxBytes: f.maxFileMB << 20}
	process := func(p photo) tagResult {
		r := tagResult{file: p.path, err: p.err}
		if r.err != nil {
			return r
		}
		var sidecar string
		if f.xmp {
			sidecar = sidecarFor(p, f.out)
			if !f.force {
				if tags, ok := upToDate(p.path, sidecar, info.SHA256, cfg); ok {
					r.tags, r.skipped = tags, true
					return r
				}
			}
		}
		r.tags, r.err = tagFile(ctx, tagger, p.path, lim)
		if r.err == nil && f.xmp {
			r.err = writeSidecar(sidecar, tagger, info, cfg, r.tags)
		}
		return r
	}

	// Decode and preprocess on f.workers goroutines; print in input order.
	failed, skipped := 0, 0
	var werr error
	done := ordered.Map(ctx, len(photos), f.workers, 4*f.workers,
		func(i int) tagResult { return process(photos[i]) },
		func(_ int, r tagResult) bool {
			r = checkScores(r)
			if r.err != nil {
				failed++
				bar.clear()
				fmt.Fprintf(stderr, "autotag: %s: %s\n", displayName(r.file), displayName(oneLine(r.err, r.file)))
			}
			if r.skipped {
				skipped++
			}
			if werr == nil {
				bar.clearFor(stdout)
				werr = w.write(r)
			}
			bar.add()
			return true
		})
	bar.finish()
	if err := w.flush(); werr == nil {
		werr = err
	}
	if werr != nil {
		return fmt.Errorf("writing results: %w", werr)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("tag: interrupted after %d of %d files: %w", done, len(photos), err)
	}
	if f.xmp && skipped > 0 {
		fmt.Fprintf(stderr, "autotag: %d of %d sidecars were up to date (use --force to re-tag)\n", skipped, len(photos))
	}
	if failed > 0 {
		return withExitCode(1, fmt.Errorf("%d of %d files failed", failed, len(photos)))
	}
	return nil
}

// oneLine renders err on one line without repeating the file name in front.
func oneLine(err error, file string) string {
	msg := err.Error()
	msg = trimPrefix(msg, file+": ")
	msg = trimPrefix(msg, "autotag: ")
	return string(bytes.ReplaceAll([]byte(msg), []byte("\n"), []byte("; ")))
}

func trimPrefix(s, p string) string {
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// tagFile decodes (as the Tagger's TagReader does: the file's size and its header's
// pixel count checked before the body is read, then the body read once, into a
// buffer of its size, and decoded under ctx, so Ctrl-C stops it) and tags one
// photo; errors say why, not which file (the row says that), and a limit's error
// says which flag changes it.
func tagFile(ctx context.Context, t *autotag.Tagger, path string, lim decodeLimits) ([]autotag.Tag, error) {
	// A FIFO (or a path swapped for one after the walk) would block a plain open
	// until something writes to it; this open returns, and the check below refuses it.
	fh, err := openNoBlock(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	if st.Size() <= lim.maxBytes { // a larger file is refused before it is read
		held, err := lim.budget.acquire(ctx, decodeNeed(fh, st.Size(), lim.maxPixels))
		if err != nil {
			return nil, fmt.Errorf("decoding stopped: %w", err)
		}
		defer lim.budget.release(held)
	}
	tags, err := t.TagReader(ctx, fh)
	switch {
	case errors.Is(err, data.ErrInputTooLarge):
		return nil, fmt.Errorf("%w (raise --max-file-mb or AUTOTAG_MAX_FILE_MB)", err)
	case errors.Is(err, data.ErrTooManyPixels):
		return nil, fmt.Errorf("%w (raise --max-pixels or AUTOTAG_MAX_PIXELS)", err)
	}
	return tags, err
}

// upToDate reports whether sidecar is newer than the photo and was written by the
// same model with the same settings; it returns the tags recorded there.
func upToDate(photoPath, sidecar, modelSHA, cfg string) ([]autotag.Tag, bool) {
	ps, err1 := os.Stat(photoPath)
	ss, err2 := os.Stat(sidecar)
	if err1 != nil || err2 != nil || ss.ModTime().Before(ps.ModTime()) {
		return nil, false
	}
	doc, err := readSidecar(sidecar)
	if err != nil {
		return nil, false
	}
	st, ok, err := xmp.ReadState(doc)
	if err != nil || !ok || st.ModelSHA256 != modelSHA || st.Config != cfg {
		return nil, false
	}
	tags := make([]autotag.Tag, len(st.Tags))
	for i, t := range st.Tags {
		tags[i] = autotag.Tag{Label: t.Label, Score: t.Score}
	}
	return tags, true
}

// maxSidecar bounds the size of an existing sidecar autotag will read and merge.
const maxSidecar = 16 << 20

// readSidecar reads an existing sidecar: a regular file (not a symbolic link, which
// could lead outside the photo folders) of at most maxSidecar bytes.
func readSidecar(path string) ([]byte, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file; not followed", path)
	}
	if st.Size() > maxSidecar {
		return nil, fmt.Errorf("%s is larger than %d MB; not merged", path, maxSidecar>>20)
	}
	// The file may be swapped or grow after Lstat: the read is bounded and checked again.
	return safedoc.ReadFile(path, maxSidecar)
}

// writeSidecar merges the tags into the sidecar and writes it atomically (only when
// its content changes; an unchanged one is touched so it counts as up to date).
func writeSidecar(path string, t *autotag.Tagger, info autotag.ModelInfo, cfg string, tags []autotag.Tag) error {
	old, err := readSidecar(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("xmp: %w", err)
	}
	st := xmp.State{Model: info.Name, ModelSHA256: info.SHA256, Config: cfg, Tags: []xmp.Tag{}}
	kws := make([]xmp.Keyword, len(tags))
	for i, tg := range tags {
		xt := xmp.Tag{Label: tg.Label, Score: roundScore(tg.Score)}
		st.Tags = append(st.Tags, xt)
		kws[i] = xmp.Keyword{Tag: xt, Category: t.Category(tg.Label)}
	}
	doc, err := xmp.Update(old, st, kws)
	if err != nil {
		return fmt.Errorf("xmp: %s: %w (left unchanged)", path, err)
	}
	werr := checkWritable(path)
	if bytes.Equal(doc, old) {
		if werr != nil {
			return nil // already says this; nothing to write
		}
		now := time.Now()
		if err := os.Chtimes(path, now, now); err != nil {
			return fmt.Errorf("xmp: %w", err)
		}
		return nil
	}
	if werr != nil {
		return fmt.Errorf("xmp: %w", werr)
	}
	if err := writeSidecarFile(path, doc); err != nil {
		return fmt.Errorf("xmp: writing %s: %w", path, err)
	}
	return nil
}

// tagProgress is a progress bar with ETA on stderr when it is a terminal, and
// nothing otherwise.
type tagProgress struct{ bar *progressbar.ProgressBar }

func newTagProgress(w io.Writer, total int) *tagProgress {
	f, ok := w.(*os.File)
	if !ok || total < 2 || !term.IsTerminal(int(f.Fd())) {
		return &tagProgress{}
	}
	return &tagProgress{bar: progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("tagging"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
	)}
}

func (p *tagProgress) add() {
	if p.bar != nil {
		_ = p.bar.Add(1)
	}
}

func (p *tagProgress) clear() {
	if p.bar != nil {
		_ = p.bar.Clear()
	}
}

// clearFor clears the bar before output to w when w is a terminal too.
func (p *tagProgress) clearFor(w io.Writer) {
	if f, ok := w.(*os.File); ok && p.bar != nil && term.IsTerminal(int(f.Fd())) {
		p.clear()
	}
}

func (p *tagProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
