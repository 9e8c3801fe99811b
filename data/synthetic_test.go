package data

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestSyntheticDeterministic(t *testing.T) {
	a, b := Synthetic(12, 64, 7), Synthetic(20, 64, 7)
	for i := range a.Images {
		if !bytes.Equal(a.Images[i].Pix, b.Images[i].Pix) || !slices.Equal(a.Labels[i], b.Labels[i]) {
			t.Fatalf("image %d differs between runs with the same seed", i)
		}
	}
	c := Synthetic(12, 64, 8)
	if bytes.Equal(a.Images[0].Pix, c.Images[0].Pix) {
		t.Error("different seeds gave the same image")
	}
	if len(a.Classes) != 12 || a.Classes[0] != "red circle" {
		t.Errorf("classes %v", a.Classes)
	}
}

func TestSyntheticLabels(t *testing.T) {
	s := Synthetic(300, 32, 1)
	neg, multi := 0, 0
	seen := make([]int, len(s.Classes))
	for i, l := range s.Labels {
		if len(l) == 0 {
			neg++
		}
		if len(l) > 1 {
			multi++
		}
		for _, c := range l {
			seen[c]++
		}
		if s.Images[i].Bounds().Dx() != 32 {
			t.Fatal("wrong size")
		}
	}
	if neg < 10 || neg > 60 || multi < 100 {
		t.Errorf("%d all-negative and %d multi-label images of 300", neg, multi)
	}
	for c, n := range seen {
		if n < 20 {
			t.Errorf("class %s appears only %d times", s.Classes[c], n)
		}
	}
}

func TestSyntheticWriteCSV(t *testing.T) {
	s := Synthetic(10, 48, 3)
	spec, err := s.WriteCSV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ds, err := Load(spec, LoadOptions{VerifyImages: true})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Report.Defects() != 0 || len(ds.Records) != 10 || !slices.Equal(ds.Classes, s.Classes) {
		t.Fatalf("%d records, %s", len(ds.Records), ds.Report.Summary())
	}
	for i, r := range ds.Records {
		if filepath.Base(r.Path) != fmt.Sprintf("%05d.jpg", i) || !slices.Equal(r.Labels, s.Labels[i]) {
			t.Errorf("record %d: %v, want %v", i, r.Labels, s.Labels[i])
		}
	}
	if _, err := os.Stat(ds.Records[0].Path); err != nil {
		t.Error(err)
	}
}
