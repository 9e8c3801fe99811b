package data

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
)

// SplitOptions configures a leakage-safe train/validation split.
type SplitOptions struct {
	ValFraction float64 // share of images for validation, in (0, 1)
	Seed        uint64  // which groups go to validation
	// MaxDistance is the near-duplicate threshold in dHash bits: 0 means
	// DefaultMaxHashDistance, < 0 means identical files only.
	MaxDistance int
	Workers     int // fingerprinting workers; 0 = GOMAXPROCS
	Decode      DecodeOptions
}

func (o SplitOptions) maxDistance() int {
	if o.MaxDistance == 0 {
		return DefaultMaxHashDistance
	}
	return o.MaxDistance
}

// FingerprintDataset fingerprints every record. Records whose image cannot be read
// are reported (Unreadable) in ds.Report and marked false in ok.
func FingerprintDataset(ctx context.Context, ds *Dataset, workers int, opt DecodeOptions) (fps []Fingerprint, ok []bool, err error) {
	paths := make([]string, len(ds.Records))
	for i, r := range ds.Records {
		paths[i] = r.Path
	}
	fps, errs, err := FingerprintFiles(ctx, paths, workers, opt)
	if err != nil {
		return nil, nil, err
	}
	ok = make([]bool, len(fps))
	for i, e := range errs {
		ok[i] = e == nil
		if e != nil {
			ds.Report.Add(Unreadable, ds.Records[i].Source, "%v", e)
		}
	}
	return fps, ok, nil
}

// Split divides ds into train and validation so that no image leaks: identical files
// and near-duplicates (perceptual hash within opt.MaxDistance) form groups, and each
// group goes wholly to one side. Groups are ordered by a hash of (seed, the group's
// smallest content SHA-256) — so the assignment depends on image content, not on
// file order or names — and taken into validation until it holds ValFraction of the
// images. Records with ok[i] false are left out of both sides.
func Split(ds *Dataset, fps []Fingerprint, ok []bool, opt SplitOptions) (train, val *Dataset, err error) {
	if opt.ValFraction <= 0 || opt.ValFraction >= 1 {
		return nil, nil, fmt.Errorf("split: validation fraction %v not in (0, 1)", opt.ValFraction)
	}
	if len(fps) != len(ds.Records) || (ok != nil && len(ok) != len(fps)) {
		return nil, nil, fmt.Errorf("split: %d fingerprints for %d records", len(fps), len(ds.Records))
	}
	ids, _ := DuplicateGroups(fps, ok, opt.maxDistance())
	type group struct {
		key     uint64
		members []int
	}
	byID := map[int]*group{}
	var groups []*group
	usable := 0
	for i, id := range ids {
		if ok != nil && !ok[i] {
			continue
		}
		usable++
		g := byID[id]
		if g == nil {
			g = &group{}
			byID[id] = g
			groups = append(groups, g)
		}
		g.members = append(g.members, i)
	}
	for _, g := range groups {
		least := fps[g.members[0]].SHA256
		for _, m := range g.members[1:] {
			if s := fps[m].SHA256; slices.Compare(s[:], least[:]) < 0 {
				least = s
			}
		}
		var buf [40]byte
		binary.LittleEndian.PutUint64(buf[:8], opt.Seed)
		copy(buf[8:], least[:])
		sum := sha256.Sum256(buf[:])
		g.key = binary.LittleEndian.Uint64(sum[:8])
	}
	slices.SortFunc(groups, func(a, b *group) int { return cmp.Compare(a.key, b.key) })
	want := int(opt.ValFraction*float64(usable) + 0.5)
	var tr, va []int
	for _, g := range groups {
		if len(va) < want {
			va = append(va, g.members...)
		} else {
			tr = append(tr, g.members...)
		}
	}
	slices.Sort(tr)
	slices.Sort(va)
	return ds.Subset(tr), ds.Subset(va), nil
}

// SplitDataset fingerprints ds and splits it (see Split).
func SplitDataset(ctx context.Context, ds *Dataset, opt SplitOptions) (train, val *Dataset, err error) {
	fps, ok, err := FingerprintDataset(ctx, ds, opt.Workers, opt.Decode)
	if err != nil {
		return nil, nil, err
	}
	return Split(ds, fps, ok, opt)
}
