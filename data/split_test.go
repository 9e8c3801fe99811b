package data

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/autotag/autotag/internal/testenv"
)

// plantedSplits writes a synthetic corpus as two csv: datasets (train, val) and plants
// into val an exact copy of one train image and a re-encoded (JPEG quality 40,
// downscaled) copy of another.
func plantedSplits(t *testing.T) (train, val *Dataset, exactSrc, nearSrc string) {
	t.Helper()
	dir := t.TempDir()
	s := Synthetic(16, 96, 11)
	if _, err := s.WriteCSV(dir); err != nil {
		t.Fatal(err)
	}
	imgs := filepath.Join(dir, "images")
	var trainCSV, valCSV strings.Builder
	trainCSV.WriteString("file,tags\n")
	valCSV.WriteString("file,tags\n")
	for i := 0; i < 16; i++ {
		if i < 10 {
			trainCSV.WriteString(filepath.Base(recordName(i)) + ",\n")
		} else {
			valCSV.WriteString(filepath.Base(recordName(i)) + ",\n")
		}
	}
	exactSrc, nearSrc = filepath.Join(imgs, recordName(2)), filepath.Join(imgs, recordName(5))
	b, err := os.ReadFile(exactSrc)
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, imgs, map[string]string{"copy.jpg": string(b)})
	img, err := DecodeFile(nearSrc, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	small, err := ResizeShorter(img, 80, "bilinear")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, small, &jpeg.Options{Quality: 40}); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, imgs, map[string]string{"reencoded.jpg": buf.String()})
	valCSV.WriteString("copy.jpg,\nreencoded.jpg,\n")
	writeFiles(t, dir, map[string]string{"train.csv": trainCSV.String(), "val.csv": valCSV.String()})
	train = mustLoad(t, "csv:"+filepath.Join(dir, "train.csv")+":"+imgs)
	val = mustLoad(t, "csv:"+filepath.Join(dir, "val.csv")+":"+imgs)
	return train, val, exactSrc, nearSrc
}

func recordName(i int) string { return fmt.Sprintf("%05d.jpg", i) }

func TestCheckFindsPlantedLeak(t *testing.T) {
	train, val, exactSrc, nearSrc := plantedSplits(t)
	res, err := Check(context.Background(), []*Dataset{train, val}, 0, 2, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Leaks() != 2 || len(res.Groups) != 2 {
		var buf bytes.Buffer
		res.Write(&buf, 5)
		t.Fatalf("want 2 leaks, got:\n%s", buf.String())
	}
	for _, g := range res.Groups {
		var paths []string
		for _, m := range g.Members {
			paths = append(paths, filepath.Base(m.Path))
		}
		slices.Sort(paths)
		switch {
		case g.Exact && slices.Equal(paths, []string{filepath.Base(exactSrc), "copy.jpg"}):
		case !g.Exact && slices.Equal(paths, []string{filepath.Base(nearSrc), "reencoded.jpg"}):
		default:
			t.Errorf("unexpected group %v exact=%v", paths, g.Exact)
		}
	}
}

func TestSplitKeepsDuplicatesTogether(t *testing.T) {
	train, val, _, _ := plantedSplits(t)
	all := &Dataset{Classes: train.Classes, Report: &Report{}, Records: append(slices.Clone(train.Records), val.Records...)}
	fps, ok, err := FingerprintDataset(context.Background(), all, 2, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for seed := uint64(0); seed < 8; seed++ {
		tr, va, err := Split(all, fps, ok, SplitOptions{ValFraction: 0.3, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		if len(tr.Records)+len(va.Records) != len(all.Records) || len(va.Records) < 4 || len(va.Records) > 7 {
			t.Fatalf("seed %d: %d train, %d val", seed, len(tr.Records), len(va.Records))
		}
		res, err := Check(context.Background(), []*Dataset{tr, va}, 0, 2, DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Leaks() != 0 {
			t.Errorf("seed %d: split leaks %d groups", seed, res.Leaks())
		}
	}
	// Same seed, same split; the assignment follows content, not order.
	rev := all.Subset([]int{17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0})
	rfps := make([]Fingerprint, len(fps))
	for i := range rfps {
		rfps[i] = fps[17-i]
	}
	_, va1, _ := Split(all, fps, ok, SplitOptions{ValFraction: 0.3, Seed: 3})
	_, va2, _ := Split(rev, rfps, nil, SplitOptions{ValFraction: 0.3, Seed: 3})
	names := func(d *Dataset) []string {
		var n []string
		for _, r := range d.Records {
			n = append(n, r.Path)
		}
		slices.Sort(n)
		return n
	}
	if !slices.Equal(names(va1), names(va2)) {
		t.Errorf("split depends on record order:\n%v\n%v", names(va1), names(va2))
	}
	if _, _, err := Split(all, fps, ok, SplitOptions{ValFraction: 1}); err == nil {
		t.Error("fraction 1 accepted")
	}
}

// TestNoDuplicatesAcrossCocoSets checks that coco128 (train and val) and coco-extra
// share no image, exactly or nearly.
func TestNoDuplicatesAcrossCocoSets(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes 471 photos")
	}
	root := testenv.SharedData(t, "coco128")
	extra := testenv.SharedData(t, "coco-extra")
	j := func(p string) string { return filepath.Join(root, p) }
	dss := []*Dataset{
		mustLoad(t, "yolo:"+j("images/train2017")+":"+j("object_detection/labels/train2017")+":"+j("object_detection/config.yaml")),
		mustLoad(t, "yolo:"+j("images/val2017")+":"+j("object_detection/labels/val2017")+":"+j("object_detection/config.yaml")),
		mustLoad(t, "csv:"+filepath.Join(extra, "labels_train.csv")+":"+extra),
	}
	res, err := Check(context.Background(), dss, 0, 0, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Groups) != 0 {
		var buf bytes.Buffer
		res.Write(&buf, 3)
		t.Errorf("unexpected duplicates:\n%s", buf.String())
	}
}

func TestDuplicateGroupsPigeonhole(t *testing.T) {
	// Pairs at every distance around the threshold, with the flipped bits spread at
	// random, must group exactly when within it.
	r := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 50; trial++ {
		for d := 0; d <= 20; d++ {
			a := Fingerprint{DHash: [2]uint64{r.Uint64(), r.Uint64()}}
			b := a
			b.SHA256[0] = 1
			for _, bit := range r.Perm(128)[:d] {
				b.DHash[bit/64] ^= 1 << (bit % 64)
			}
			ids, groups := DuplicateGroups([]Fingerprint{a, b}, nil, 8)
			if (d <= 8) != (ids[1] == 0) || (d <= 8) != (len(groups) == 1) {
				t.Fatalf("distance %d: ids %v", d, ids)
			}
		}
	}
	// Identical files group even with a negative threshold.
	a := Fingerprint{DHash: [2]uint64{1, 2}}
	if ids, _ := DuplicateGroups([]Fingerprint{a, a}, nil, -1); ids[1] != 0 {
		t.Error("identical files not grouped")
	}
}
