package jpeg

import (
	"fmt"
	"image"
	"os"
	"testing"
)

// regionCases are the regions tried on a w×h output: interior, edge-touching,
// partial-overlap, single-pixel, full-cover, larger-than-image and disjoint ones.
func regionCases(w, h int) []image.Rectangle {
	return []image.Rectangle{
		centreRegion(w, h),
		image.Rect(0, 0, w, h),
		image.Rect(-50, -50, w+50, h+50),
		image.Rect(w/3, h/5, w/3+1, h/5+1),
		image.Rect(13, 7, 61, 29),
		image.Rect(w-9, h-5, w+100, h+100),
		image.Rect(-20, h/2, 5, h/2+17),
		image.Rect(w+10, h+10, w+20, h+20), // disjoint: nothing to check, nothing to fail
		image.Rect(17, 3, 18, h),           // one column
	}
}

// checkRegion decodes data at scale with each region and compares the samples the
// region's pixels read with the full decode at the same scale.
func checkRegion(data []byte, scale int) error {
	full, err := Decode(data, Options{Scale: scale})
	if err != nil {
		return err
	}
	b := full.Bounds()
	for _, r := range regionCases(b.Dx(), b.Dy()) {
		got, err := Decode(data, Options{Scale: scale, Region: r})
		if err != nil {
			return fmt.Errorf("region %v: %v", r, err)
		}
		if got.Bounds() != b {
			return fmt.Errorf("region %v: bounds %v, want %v", r, got.Bounds(), b)
		}
		in := r.Intersect(b)
		switch f := full.(type) {
		case *image.YCbCr:
			err = sameYCbCrIn(got.(*image.YCbCr), f, in)
		case *image.Gray:
			err = sameGrayIn(got.(*image.Gray), f, in)
		}
		if err != nil {
			return fmt.Errorf("Scale %d region %v: %v", scale, r, err)
		}
	}
	return nil
}

// TestRegionMatchesFullDecode: inside Region, a region decode equals the full
// decode at the same scale, on the fixtures (all subsampling ratios, odd sizes,
// restarts) and on a sample of the photos.
func TestRegionMatchesFullDecode(t *testing.T) {
	inputs := map[string][]byte{}
	for name, data := range fixtures(t) {
		if _, err := Decode(data, Options{}); err == nil {
			inputs[name] = data
		}
	}
	if photos := corpusFiles(); photos != nil {
		for i, f := range photos {
			if i%16 != 0 {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			inputs[f] = data
		}
	}
	for _, name := range sortedNames(inputs) {
		for _, s := range []int{1, 2, 4, 8} {
			if err := checkRegion(inputs[name], s); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}
