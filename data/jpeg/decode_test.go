package jpeg

import (
	"bytes"
	"errors"
	"image"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// fixtures returns the committed synthetic JPEGs (testdata/gen.sh makes them).
func fixtures(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*.jpg"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures in testdata (run testdata/gen.sh): %v", err)
	}
	out := make(map[string][]byte, len(paths))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = data
	}
	return out
}

// sortedNames returns m's keys in order.
func sortedNames(m map[string][]byte) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func TestFixturesMatchStdlib(t *testing.T) {
	fx := fixtures(t)
	for _, name := range sortedNames(fx) {
		data := fx[name]
		t.Run(name, func(t *testing.T) {
			_, gerr := Decode(data, Options{})
			if strings.HasPrefix(name, "stdfail_") {
				// image/jpeg rejects these; so must Decode.
				if _, werr := stdDecode(data); werr == nil || gerr == nil {
					t.Fatalf("image/jpeg: %v, Decode: %v; want both to fail", werr, gerr)
				}
				return
			}
			if strings.HasPrefix(name, "unsup_") {
				if !errors.Is(gerr, ErrUnsupported) {
					t.Fatalf("got error %v, want ErrUnsupported", gerr)
				}
				return
			}
			if gerr != nil && !isProgressiveGap(gerr, name) {
				t.Fatalf("Decode: %v", gerr)
			}
			if err := differential(data); err != nil && !isProgressiveGap(err, name) {
				t.Fatal(err)
			}
		})
	}
}

// TestFixtureKinds checks the fixtures really exercise what their names say, so a
// regenerated set cannot silently lose coverage.
func TestFixtureKinds(t *testing.T) {
	fx := fixtures(t)
	ratio := map[string]image.YCbCrSubsampleRatio{
		"s444.jpg": image.YCbCrSubsampleRatio444, "s422.jpg": image.YCbCrSubsampleRatio422,
		"s440.jpg": image.YCbCrSubsampleRatio440, "s420.jpg": image.YCbCrSubsampleRatio420,
		"s411.jpg": image.YCbCrSubsampleRatio411, "s410.jpg": image.YCbCrSubsampleRatio410,
		"s422_mcu32.jpg": image.YCbCrSubsampleRatio422,
	}
	for name, want := range ratio {
		m, err := Decode(fx[name], Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := m.(*image.YCbCr).SubsampleRatio; got != want {
			t.Errorf("%s: ratio %v, want %v", name, got, want)
		}
	}
	for name, marker := range map[string]byte{
		"q2_extended.jpg": sof1Marker, "prog.jpg": sof2Marker, "s420.jpg": sof0Marker,
		"restart_1b.jpg": driMarker, "unsup_arith.jpg": 0xc9,
	} {
		if !bytes.Contains(fx[name], []byte{0xff, marker}) {
			t.Errorf("%s has no marker 0x%02x", name, marker)
		}
	}
}

// TestTruncated cuts fixtures and photos at many offsets: Decode must fail wherever
// image/jpeg fails, never panic, and finish promptly.
func TestTruncated(t *testing.T) {
	fx := fixtures(t)
	inputs := map[string][]byte{}
	for _, n := range []string{"s420.jpg", "restart_1b.jpg", "s411.jpg", "gray.jpg", "odd_17x33_420.jpg",
		"seq_scans_restart.jpg", "prog_sa.jpg", "prog_restart_444.jpg", "prog_sa_444_restart.jpg", "q100_opt.jpg"} {
		inputs[n] = fx[n]
	}
	for _, name := range sortedNames(inputs) {
		data := inputs[name]
		start := time.Now()
		step := max(1, len(data)/600)
		for cut := 0; cut <= len(data); cut += step {
			if err := differential(data[:cut]); err != nil && !isProgressiveGap(err, name) {
				t.Fatalf("%s cut at %d of %d: %v", name, cut, len(data), err)
			}
		}
		// Every cut in the last 64 bytes, where the EOI and scan end live.
		for cut := max(0, len(data)-64); cut < len(data); cut++ {
			if err := differential(data[:cut]); err != nil && !isProgressiveGap(err, name) {
				t.Fatalf("%s cut at %d of %d: %v", name, cut, len(data), err)
			}
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%s: truncations took %v", name, d)
		}
	}
}

// isProgressiveGap excuses ErrUnsupported for progressive fixtures while progressive
// decoding is not implemented.
func isProgressiveGap(err error, name string) bool {
	return !progressiveSupported && strings.HasPrefix(name, "prog")
}

// progressiveSupported says whether SOF2 is decoded (else ErrUnsupported).
const progressiveSupported = true

// segment builds a marker segment with its length.
func segment(marker byte, payload ...byte) []byte {
	n := len(payload) + 2
	return append([]byte{0xff, marker, byte(n >> 8), byte(n)}, payload...)
}

// TestHostile feeds hand-made malformed streams: each must be an error (and agree
// with image/jpeg about failing), never a panic.
func TestHostile(t *testing.T) {
	fx := fixtures(t)
	base := fx["s420.jpg"]
	gray := fx["gray.jpg"]
	find := func(data []byte, marker byte) int {
		i := bytes.Index(data, []byte{0xff, marker})
		if i < 0 {
			t.Fatalf("marker 0x%02x not found", marker)
		}
		return i
	}
	patch := func(data []byte, off int, b ...byte) []byte {
		out := bytes.Clone(data)
		copy(out[off:], b)
		return out
	}
	sof := find(base, sof0Marker)
	sos := find(base, sosMarker)
	dht := find(base, dhtMarker)
	soi := []byte{0xff, soiMarker}
	hugeSOF := append(append([]byte{}, soi...), segment(sof0Marker, 8, 0xff, 0xff, 0xff, 0xff, 1, 1, 0x11, 0)...)
	cases := map[string]struct {
		data        []byte
		unsupported bool
	}{
		"empty":                 {data: nil},
		"soi only":              {data: soi},
		"no soi":                {data: base[2:]},
		"zero height sof":       {data: patch(base, sof+5, 0, 0)},
		"12-bit precision":      {data: patch(base, sof+4, 12), unsupported: true},
		"huge, no data":         {data: append(append(hugeSOF, segment(sosMarker, 1, 1, 0, 0, 63, 0)...), 0, 0, 0xff, 0xd9)},
		"huge, header only":     {data: append(hugeSOF, 0xff, 0xd9)},
		"bad component in scan": {data: patch(base, sos+5, 77)},
		"dht index 5":           {data: patch(base, dht+4, 0x05)},
		"dht class 2":           {data: patch(base, dht+4, 0x20)},
		"oversubscribed dht":    {data: patch(base, dht+5, 3)},
		"sos before sof":        {data: append(append(append([]byte{}, soi...), segment(sosMarker, 1, 1, 0, 0, 63, 0)...), 0xff, 0xd9)},
		"four components, header only": {data: append(append([]byte{}, soi...),
			segment(sof0Marker, 8, 0, 8, 0, 8, 4, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0, 4, 0x11, 0)...)},
		"four components, 2x1 sampling": {data: append(append([]byte{}, soi...),
			segment(sof0Marker, 8, 0, 8, 0, 8, 4, 1, 0x21, 0, 2, 0x11, 0, 3, 0x11, 0, 4, 0x21, 0)...), unsupported: true},
		"arithmetic sof":    {data: patch(base, sof+1, 0xc9), unsupported: true},
		"lossless sof":      {data: patch(base, sof+1, 0xc3), unsupported: true},
		"gray cut mid-scan": {data: gray[:len(gray)/2]},
		"missing huffman table": {data: func() []byte {
			// Point the first scan component at DC table 1, which s420 defines
			// only for chroma... so use table 3 in an SOF1 stream instead.
			out := patch(base, sof+1, sof1Marker)
			return patch(out, sos+6, 0x33)
		}()},
	}
	for name, c := range cases {
		got, err := Decode(c.data, Options{})
		if err == nil {
			// Only acceptable where image/jpeg accepts it too (and matches).
			if derr := differential(c.data); derr != nil {
				t.Errorf("%s: %v", name, derr)
			} else if _, werr := stdDecode(c.data); werr == nil {
				t.Logf("%s: accepted by image/jpeg too: %T %v", name, got, got.Bounds())
			}
			continue
		}
		if c.unsupported && !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: %v, want ErrUnsupported", name, err)
		}
		if derr := differential(c.data); derr != nil {
			t.Errorf("%s: %v", name, derr)
		}
	}
}

// TestZeroSize documents that a zero-height frame is accepted, as image/jpeg
// accepts it, with an empty image: the exactness contract wins over rejecting it.
func TestZeroSize(t *testing.T) {
	fx := fixtures(t)
	data := bytes.Clone(fx["s420.jpg"])
	sof := bytes.Index(data, []byte{0xff, sof0Marker})
	data[sof+5], data[sof+6] = 0, 0
	if err := differential(data); err != nil {
		t.Fatal(err)
	}
}

// TestHugeHeaderAllocatesLittle: a frame announcing 65535×65535 pixels over a few
// bytes of scan data fails before the planes are allocated (image/jpeg allocates
// them, about 6 GB, before failing).
func TestHugeHeaderAllocatesLittle(t *testing.T) {
	fx := fixtures(t)
	for _, name := range []string{"s420.jpg", "prog.jpg", "gray.jpg"} {
		data := bytes.Clone(fx[name])
		sof := bytes.Index(data, []byte{0xff, sof0Marker})
		if sof < 0 {
			sof = bytes.Index(data, []byte{0xff, sof2Marker})
		}
		copy(data[sof+5:], []byte{0xff, 0xff, 0xff, 0xff})
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Decode(data, Options{})
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Fatalf("%s: huge header accepted", name)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
			t.Errorf("%s: %d bytes allocated for a header-only failure", name, n)
		}
	}
}
