package data

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"testing"
)

// TestDecodeOptionsHeader: a Header passed in DecodeOptions is what DecodeBytes
// checks and decodes from, not read again (an inflated one is refused by the pixel
// cap although the input itself is small), the result equals a plain decode, and a
// Header read from an input of another length is ignored.
func TestDecodeOptionsHeader(t *testing.T) {
	encode := func(w, h int) []byte {
		img := image.NewNRGBA(image.Rect(0, 0, w, h))
		for i := range img.Pix {
			img.Pix[i] = uint8(i * 7)
		}
		img.Set(0, 0, color.NRGBA{1, 2, 3, 255})
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	b := encode(40, 30)
	h, err := DecodeHeader(b)
	if err != nil || h.Format != "png" || h.Width != 40 || h.Height != 30 {
		t.Fatalf("DecodeHeader: %+v, %v", h, err)
	}
	plain, err := DecodeBytes(b, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeBytes(b, DecodeOptions{Header: &h})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.(*image.NRGBA).Pix, plain.(*image.NRGBA).Pix) || got.Bounds() != plain.Bounds() {
		t.Error("decoding with the header read before differs from a plain decode")
	}

	inflated := h
	inflated.Width, inflated.Height = 10000, 10000
	if _, err := DecodeBytes(b, DecodeOptions{Header: &inflated, MaxPixels: 1000}); !errors.Is(err, ErrTooManyPixels) {
		t.Errorf("with a header given: %v, want the given header's %v", err, ErrTooManyPixels)
	}
	other, err := DecodeHeader(encode(400, 300))
	if err != nil {
		t.Fatal(err)
	}
	other.Width, other.Height = 10000, 10000
	if _, err := DecodeBytes(b, DecodeOptions{Header: &other, MaxPixels: 1000 * 1000}); err != nil {
		t.Errorf("a header of another input was not ignored: %v", err)
	}
}
