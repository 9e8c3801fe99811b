package data

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/autotag/autotag/data/spec"

	"github.com/autotag/autotag/internal/testenv"
	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// quadrants is a w×h test image whose four quadrants are red (top-left), green
// (top-right), blue (bottom-left) and white (bottom-right).
func quadrants(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA{255, 0, 0, 255}
			switch {
			case x >= w/2 && y < h/2:
				c = color.NRGBA{0, 255, 0, 255}
			case x < w/2 && y >= h/2:
				c = color.NRGBA{0, 0, 255, 255}
			case x >= w/2 && y >= h/2:
				c = color.NRGBA{255, 255, 255, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func encode(t testing.TB, name string, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch name {
	case "png":
		err = png.Encode(&buf, img)
	case "jpeg":
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95})
	case "gif":
		err = gif.Encode(&buf, img, nil)
	case "bmp":
		err = bmp.Encode(&buf, img)
	case "tiff":
		err = tiff.Encode(&buf, img, nil)
	default:
		t.Fatalf("no encoder %s", name)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// near reports whether two colours agree within tol per channel (lossy codecs).
func near(a, b color.Color, tol int) bool {
	c1, c2 := color.NRGBAModel.Convert(a).(color.NRGBA), color.NRGBAModel.Convert(b).(color.NRGBA)
	d := func(x, y uint8) bool { v := int(x) - int(y); return v <= tol && v >= -tol }
	return d(c1.R, c2.R) && d(c1.G, c2.G) && d(c1.B, c2.B)
}

func TestDecodeFormats(t *testing.T) {
	src := quadrants(32, 16)
	for _, tc := range []struct {
		format string
		tol    int
	}{{"png", 0}, {"jpeg", 12}, {"gif", 0}, {"bmp", 0}, {"tiff", 0}} {
		t.Run(tc.format, func(t *testing.T) {
			img, err := Decode(bytes.NewReader(encode(t, tc.format, src)), DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := img.Bounds().Size(); got != (image.Point{32, 16}) {
				t.Fatalf("size %v", got)
			}
			for _, p := range []image.Point{{4, 4}, {28, 4}, {4, 12}, {28, 12}} {
				if !near(img.At(p.X, p.Y), src.At(p.X, p.Y), tc.tol) {
					t.Errorf("pixel %v = %v, want %v", p, img.At(p.X, p.Y), src.At(p.X, p.Y))
				}
			}
		})
	}
}

func TestDecodeFixtures(t *testing.T) {
	for _, tc := range []struct {
		file string
		w, h int
	}{
		{"blue-purple-pink.lossy.webp", 150, 100},
		{"gopher-doc.8bpp.lossless.webp", 0, 0},
		{"video-001.cmyk.jpeg", 150, 103},
	} {
		t.Run(tc.file, func(t *testing.T) {
			img, err := DecodeFile(filepath.Join("..", "testdata", "data", tc.file), DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.w > 0 && img.Bounds().Size() != (image.Point{tc.w, tc.h}) {
				t.Fatalf("size %v, want %dx%d", img.Bounds().Size(), tc.w, tc.h)
			}
		})
	}
}

// TestDecodeCMYK checks that a 4-component Adobe JPEG comes out in the right colours
// (against Go's reference PNG of the same picture) all the way through Preprocess.
func TestDecodeCMYK(t *testing.T) {
	cmyk, err := DecodeFile("../testdata/data/video-001.cmyk.jpeg", DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := DecodeFile("../testdata/data/video-001.cmyk.png", DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{Resize: 64, Crop: 64, Color: "rgb", Scale: 1, Std: [3]float32{1, 1, 1}}
	a, err := PreprocessBatch([]image.Image{cmyk, ref}, spec)
	if err != nil {
		t.Fatal(err)
	}
	n := len(a) / 2
	var sum float64
	for i := 0; i < n; i++ {
		d := float64(a[i] - a[n+i])
		sum += d * d
	}
	if rms := sum / float64(n); rms > 4 { // mean squared difference in 0-255 units
		t.Errorf("CMYK JPEG differs from its reference: mean squared error %.2f", rms)
	}
}

func TestDecodeKinds(t *testing.T) {
	gray := image.NewGray(image.Rect(0, 0, 8, 8))
	gray16 := image.NewGray16(image.Rect(0, 0, 8, 8))
	rgba64 := image.NewRGBA64(image.Rect(0, 0, 8, 8))
	pal := image.NewPaletted(image.Rect(0, 0, 8, 8), palette.Plan9)
	for i := range gray.Pix {
		gray.Pix[i] = 200
	}
	for y := 0; y < 8; y++ {
		for x := 0; x < 8; x++ {
			gray16.SetGray16(x, y, color.Gray16{Y: 200 * 257})
			rgba64.SetRGBA64(x, y, color.RGBA64{R: 200 * 257, G: 200 * 257, B: 200 * 257, A: 0xffff})
			pal.Set(x, y, color.Gray{200})
		}
	}
	for name, img := range map[string]image.Image{"gray": gray, "gray16": gray16, "rgba64": rgba64, "paletted": pal} {
		t.Run(name, func(t *testing.T) {
			got, err := Decode(bytes.NewReader(encode(t, "png", img)), DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := img.At(3, 3)
			if !near(got.At(3, 3), want, 0) {
				t.Errorf("pixel = %v, want %v", got.At(3, 3), want)
			}
			dst := make([]float32, 3*4*4)
			if err := Preprocess(got, Spec{Resize: 4, Crop: 4, Color: "rgb", Scale: 1, Std: [3]float32{1, 1, 1}}, dst); err != nil {
				t.Fatal(err)
			}
			r, _, _, _ := want.RGBA()
			for i, v := range dst {
				if v != float32(r>>8) {
					t.Fatalf("dst[%d] = %v, want %v", i, v, r>>8)
				}
			}
		})
	}
}

func TestDecodeGIFFirstFrame(t *testing.T) {
	pal := color.Palette{color.NRGBA{255, 0, 0, 255}, color.NRGBA{0, 0, 255, 255}}
	anim := &gif.GIF{}
	for i := 0; i < 3; i++ {
		fr := image.NewPaletted(image.Rect(0, 0, 4, 4), pal)
		for j := range fr.Pix {
			fr.Pix[j] = uint8(i % 2)
		}
		anim.Image = append(anim.Image, fr)
		anim.Delay = append(anim.Delay, 10)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, anim); err != nil {
		t.Fatal(err)
	}
	img, err := Decode(&buf, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !near(img.At(1, 1), pal[0], 0) {
		t.Errorf("got %v, want the first frame's red", img.At(1, 1))
	}
}

// pngHeader is a PNG signature and a valid IHDR chunk announcing w×h RGBA pixels, with
// no pixel data: what an attacker sends to make a naive decoder allocate w·h·4 bytes.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	chunk := append([]byte("IHDR"), ihdr...)
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func TestDecodePixelCap(t *testing.T) {
	bomb := pngHeader(30000, 30000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Decode(bytes.NewReader(bomb), DecodeOptions{})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooManyPixels) {
		t.Fatalf("err = %v, want ErrTooManyPixels", err)
	}
	if !strings.Contains(err.Error(), "30000x30000") {
		t.Errorf("error %q does not name the dimensions", err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("rejecting the header allocated %d bytes", d)
	}

	if _, err := Decode(bytes.NewReader(pngHeader(100_000, 1)), DecodeOptions{}); !errors.Is(err, ErrTooManyPixels) {
		t.Errorf("100000x1: err = %v, want ErrTooManyPixels (side cap)", err)
	}
	small := encode(t, "png", quadrants(100, 100))
	if _, err := Decode(bytes.NewReader(small), DecodeOptions{MaxPixels: 5000}); !errors.Is(err, ErrTooManyPixels) {
		t.Errorf("configured cap: err = %v, want ErrTooManyPixels", err)
	}
	if _, err := Decode(bytes.NewReader(small), DecodeOptions{MaxPixels: 10000}); err != nil {
		t.Errorf("at the cap: %v", err)
	}
	if _, err := Decode(bytes.NewReader(small), DecodeOptions{MaxBytes: 10}); !errors.Is(err, ErrInputTooLarge) {
		t.Errorf("byte cap: err = %v, want ErrInputTooLarge", err)
	}
}

func TestDecodeBadInputs(t *testing.T) {
	good := encode(t, "jpeg", quadrants(64, 64))
	for _, tc := range []struct {
		name  string
		in    []byte
		is    error
		words string
	}{
		{"empty", nil, ErrEmpty, "empty"},
		{"text", []byte("hello, this is not an image\n"), ErrUnsupportedFormat, "text"},
		{"truncated jpeg", good[:len(good)/2], nil, "jpeg"},
		{"jpeg magic only", good[:3], nil, "jpeg"},
		{"png header only", pngHeader(10, 10), nil, "png"},
		{"heic", append([]byte("\x00\x00\x00\x18ftypheic"), make([]byte, 20)...), ErrUnsupportedFormat, "HEIC"},
		{"zero width", pngHeader(0, 10), nil, "png"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := Decode(bytes.NewReader(tc.in), DecodeOptions{})
			if err == nil {
				t.Fatalf("no error, image %v", img.Bounds())
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.words) {
				t.Errorf("err %q does not mention %q", err, tc.words)
			}
		})
	}
	p := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(p, []byte("just text"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeFile(p, DecodeOptions{}); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("DecodeFile error %v does not name the file", err)
	}
	if _, err := DecodeFile(filepath.Join(t.TempDir(), "missing.jpg"), DecodeOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, name := range []string{"png", "jpeg", "gif", "bmp", "tiff"} {
		f.Add(encode(f, name, quadrants(8, 6)))
	}
	f.Add(exifJPEG(f, quadrants(8, 6), 6, binary.LittleEndian))
	f.Add(pngHeader(30000, 30000))
	// Work-share and block-count bombs, small enough to decode (decode_cost_test.go).
	f.Add(pngBomb(64, 48, 16, 6, true))
	f.Add(pngBomb(33, 17, 1, 3, true))
	f.Add(tiffBomb(64, 48, 4, 16, 8, 1, 0, deflated(64*8)))
	f.Add(tiffBomb(40, 40, 1, 8, 8, 0, 16, deflated(256)))
	f.Add(tiffBomb(64, 48, 3, 16, 5, 48, 0, lzwZeros(64*48*6)))
	f.Add(tiffBomb(64, 48, 4, 8, 32773, 1, 0, []byte{0x81, 0, 0x81, 0}))
	f.Add(riffWebP(riffChunk("VP8 ", vp8Frame(64, 48, 2048))))
	for _, file := range []string{"blue-purple-pink.lossy.webp", "gopher-doc.8bpp.lossless.webp"} {
		if b, err := os.ReadFile(filepath.Join("..", "testdata", "data", file)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		const cap = 1 << 20
		img, err := Decode(bytes.NewReader(b), DecodeOptions{MaxPixels: cap})
		if err != nil {
			return
		}
		r := img.Bounds()
		if r.Empty() || r.Dx()*r.Dy() > cap {
			t.Fatalf("decoded %v past the cap", r)
		}
	})
}

// TestDecodeSharedPhotos decodes the real photos beside the checkout: darknet-photos
// and the coco128 val2017 images.
func TestDecodeSharedPhotos(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes 135 photos")
	}
	var paths []string
	for _, g := range []string{
		filepath.Join(testenv.SharedData(t, "darknet-photos"), "*.jpg"),
		filepath.Join(testenv.SharedData(t, "coco128", "images", "val2017"), "*.jpg"),
	} {
		m, _ := filepath.Glob(g)
		paths = append(paths, m...)
	}
	spec := spec.Caffe()
	dst := make([]float32, 3*224*224)
	for _, p := range paths {
		img, err := DecodeFile(p, DecodeOptions{})
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if err := Preprocess(img, spec, dst); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if len(paths) < 100 {
		t.Errorf("only %d photos found", len(paths))
	}
}

// TestDecodeBytes checks that DecodeBytes decodes as Decode does and applies the
// encoded-size cap.
func TestDecodeBytes(t *testing.T) {
	b := encode(t, "jpeg", quadrants(40, 30))
	want, err := Decode(bytes.NewReader(b), DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeBytes(b, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("DecodeBytes differs from Decode")
	}
	if _, err := DecodeBytes(b, DecodeOptions{MaxBytes: 10}); !errors.Is(err, ErrInputTooLarge) {
		t.Errorf("10-byte cap: err = %v, want ErrInputTooLarge", err)
	}
	if _, err := DecodeBytes(nil, DecodeOptions{}); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty: err = %v, want ErrEmpty", err)
	}
}
