package data

import (
	"context"
	"fmt"
	"io"
	"slices"
)

// DupMember is one image of a duplicate group.
type DupMember struct {
	Dataset int    // index into the checked datasets
	Record  int    // index into that dataset's Records
	Path    string // the image file
}

// DupGroup is a set of images that are the same file or near-duplicates.
type DupGroup struct {
	Members     []DupMember
	Exact       bool // every member has the same content SHA-256
	MaxDistance int  // largest perceptual-hash distance to the first member
	Across      bool // members come from more than one dataset (a leak between splits)
}

// CheckResult is what Check found.
type CheckResult struct {
	Datasets []*Dataset
	Groups   []DupGroup
}

// Leaks counts duplicate groups that span datasets.
func (c *CheckResult) Leaks() int {
	n := 0
	for _, g := range c.Groups {
		if g.Across {
			n++
		}
	}
	return n
}

// Check fingerprints every image of the datasets (typically the splits of one
// corpus, or corpora to be combined) and finds identical files and near-duplicates
// within and across them. maxDist is as SplitOptions.MaxDistance. Unreadable images
// are added to their dataset's Report.
func Check(ctx context.Context, dss []*Dataset, maxDist, workers int, opt DecodeOptions) (*CheckResult, error) {
	if maxDist == 0 {
		maxDist = DefaultMaxHashDistance
	}
	var fps []Fingerprint
	var ok []bool
	var who []DupMember
	for d, ds := range dss {
		f, k, err := FingerprintDataset(ctx, ds, workers, opt)
		if err != nil {
			return nil, err
		}
		fps, ok = append(fps, f...), append(ok, k...)
		for r, rec := range ds.Records {
			who = append(who, DupMember{Dataset: d, Record: r, Path: rec.Path})
		}
	}
	_, groups := DuplicateGroups(fps, ok, maxDist)
	res := &CheckResult{Datasets: dss}
	for _, g := range groups {
		dg := DupGroup{Exact: true}
		for _, i := range g {
			dg.Members = append(dg.Members, who[i])
			if fps[i].SHA256 != fps[g[0]].SHA256 {
				dg.Exact = false
			}
			dg.MaxDistance = max(dg.MaxDistance, fps[i].Distance(fps[g[0]]))
			if who[i].Dataset != who[g[0]].Dataset {
				dg.Across = true
			}
		}
		res.Groups = append(res.Groups, dg)
	}
	// Leaks first, then by size.
	slices.SortStableFunc(res.Groups, func(a, b DupGroup) int {
		if a.Across != b.Across {
			if a.Across {
				return -1
			}
			return 1
		}
		return len(b.Members) - len(a.Members)
	})
	return res, nil
}

// Write prints the check: per dataset its size and loading problems, then every
// duplicate group.
func (c *CheckResult) Write(w io.Writer, perKind int) {
	for i, ds := range c.Datasets {
		fmt.Fprintf(w, "[%d] %s: %d images, %d classes; ", i, ds.Spec, len(ds.Records), len(ds.Classes))
		ds.Report.Write(w, perKind)
	}
	within := len(c.Groups) - c.Leaks()
	fmt.Fprintf(w, "duplicates: %d groups across datasets, %d within a dataset\n", c.Leaks(), within)
	for _, g := range c.Groups {
		kind := "identical files"
		if !g.Exact {
			kind = fmt.Sprintf("near-duplicates (dHash distance ≤ %d)", g.MaxDistance)
		}
		where := "within"
		if g.Across {
			where = "ACROSS"
		}
		fmt.Fprintf(w, "  %s datasets, %s:\n", where, kind)
		for _, m := range g.Members {
			fmt.Fprintf(w, "    [%d] %s\n", m.Dataset, m.Path)
		}
	}
}
