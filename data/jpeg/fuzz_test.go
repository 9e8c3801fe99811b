package jpeg

import (
	"bytes"
	"fmt"
	"image"
	stdjpeg "image/jpeg"
	"testing"
)

// FuzzDecode is the differential fuzzer: at Scale 1 Decode must agree with
// image/jpeg (same failures, same pixels; ErrLimit where the work limits refuse); at
// the other scales and with a Region it must fail exactly when Scale 1 fails and
// otherwise return the right dimensions. A panic caught by Decode's last-resort
// recover fails the test, so fuzzing does not lean on it.
//
//	go test ./data/jpeg -run '^$' -fuzz FuzzDecode -fuzztime 5m
func FuzzDecode(f *testing.F) {
	for _, name := range sortedNames(fixtures(f)) {
		f.Add(fixtures(f)[name], uint8(1), int16(3), int16(2), int16(40), int16(30))
	}
	// Redefined Huffman tables: only the last definition before a scan is built.
	f.Add(dhtFlood(f, 0, 2000), uint8(1), int16(0), int16(0), int16(16), int16(16))
	f.Add(dhtFlood(f, 1, 2000), uint8(2), int16(0), int16(0), int16(16), int16(16))
	f.Fuzz(func(t *testing.T, data []byte, scaleSel uint8, x0, y0, x1, y1 int16) {
		var recovered any
		testHookRecovered = func(v any) { recovered = v }
		defer func() { testHookRecovered = nil }()

		if cfg, err := stdjpeg.DecodeConfig(bytes.NewReader(data)); err == nil && cfg.Width*cfg.Height > 1<<22 {
			// image/jpeg would allocate the whole (possibly 4 GB) image before
			// failing; only check that Decode neither panics nor allocates that.
			Decode(data, Options{})
			if recovered != nil {
				t.Fatalf("Decode recovered a panic: %v", recovered)
			}
			return
		}
		if err := differential(data); err != nil && !(isProgressiveGapData(data) && !progressiveSupported) {
			t.Fatal(err)
		}
		if recovered != nil {
			t.Fatalf("Decode recovered a panic at Scale 1: %v", recovered)
		}
		full, ferr := Decode(data, Options{})
		scale := []int{1, 2, 4, 8}[scaleSel%4]
		region := image.Rect(int(x0), int(y0), int(x1), int(y1))
		got, err := Decode(data, Options{Scale: scale, Region: region})
		if recovered != nil {
			t.Fatalf("Decode recovered a panic at Scale %d, Region %v: %v", scale, region, recovered)
		}
		if (err == nil) != (ferr == nil) {
			t.Fatalf("Scale %d Region %v: error %v, but at Scale 1: %v", scale, region, err, ferr)
		}
		if err != nil {
			return
		}
		w, h := full.Bounds().Dx(), full.Bounds().Dy()
		want := image.Rect(0, 0, (w+scale-1)/scale, (h+scale-1)/scale)
		if got.Bounds() != want {
			t.Fatalf("Scale %d: bounds %v, want %v", scale, got.Bounds(), want)
		}
		if err := sameKind(got, full); err != nil {
			t.Fatal(err)
		}
	})
}

// isProgressiveGapData reports whether data has an SOF2 marker.
func isProgressiveGapData(data []byte) bool {
	for i := 0; i+1 < len(data); i++ {
		if data[i] == 0xff && data[i+1] == sof2Marker {
			return true
		}
	}
	return false
}

// sameKind checks that a scaled decode has the full decode's type and subsampling.
func sameKind(got, full image.Image) error {
	switch f := full.(type) {
	case *image.YCbCr:
		g, ok := got.(*image.YCbCr)
		if !ok || g.SubsampleRatio != f.SubsampleRatio {
			return fmt.Errorf("scaled decode is %T, full is %T %v", got, full, f.SubsampleRatio)
		}
	case *image.Gray, *image.CMYK, *image.RGBA:
		if fmt.Sprintf("%T", got) != fmt.Sprintf("%T", full) {
			return fmt.Errorf("scaled decode is %T, full is %T", got, full)
		}
	}
	return nil
}
