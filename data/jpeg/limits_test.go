package jpeg

import (
	"bytes"
	"context"
	"errors"
	"image"
	stdjpeg "image/jpeg"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// bitWriter packs bits MSB first and byte-stuffs 0xff as entropy-coded data needs.
type bitWriter struct {
	out  []byte
	acc  uint32
	nacc uint
}

func (w *bitWriter) put(v uint32, n uint) {
	for i := int(n) - 1; i >= 0; i-- {
		w.acc = w.acc<<1 | (v>>uint(i))&1
		w.nacc++
		if w.nacc == 8 {
			w.emit(byte(w.acc))
			w.acc, w.nacc = 0, 0
		}
	}
}

func (w *bitWriter) emit(b byte) {
	w.out = append(w.out, b)
	if b == 0xff {
		w.out = append(w.out, 0)
	}
}

// flush pads the last byte with ones (T.81 F.1.2.3) and returns the data.
func (w *bitWriter) flush() []byte {
	if w.nacc > 0 {
		w.emit(byte(w.acc<<(8-w.nacc) | (1<<(8-w.nacc) - 1)))
		w.acc, w.nacc = 0, 0
	}
	return w.out
}

// eob14 is the AC symbol of the longest end-of-band run (run 14: 2^14 plus 14 extra
// bits), which bombBuilder's only AC code, "0", stands for.
const eob14 = 0xe0

// bombKind is a kind of scan a hostile file repeats.
type bombKind int

const (
	// acRefine: AC refinement scans (Ss 1, Se 63, Ah 1) that cover every block with
	// end-of-band runs, so each block still walks its 63 coefficients: the costliest
	// work per input byte.
	acRefine bombKind = iota
	// acFirst: first AC scans, skipped with end-of-band runs.
	acFirst
	// dcFirst: interleaved DC scans, one bit per block.
	dcFirst
	// sequential: baseline scans, one DC bit per block and end-of-band runs.
	sequential
)

func (k bombKind) String() string {
	return [...]string{"acRefine", "acFirst", "dcFirst", "sequential"}[k]
}

// bomb builds, in memory, a w×h JPEG with nComp 1×1-sampled components made of
// `scans` scans of kind k (each component in turn for AC kinds), padded with a
// comment segments to about pad bytes in all. Every scan is valid; the file decodes
// to a flat image when nothing stops it.
func bomb(w, h, nComp int, k bombKind, scans, pad int) []byte {
	seg := func(marker byte, payload []byte) []byte {
		n := len(payload) + 2
		return append([]byte{0xff, marker, byte(n >> 8), byte(n)}, payload...)
	}
	out := []byte{0xff, soiMarker}
	q := make([]byte, 65)
	for i := 1; i < 65; i++ {
		q[i] = 1
	}
	out = append(out, seg(dqtMarker, q)...)
	// DC table 0: one code "0" for size 0; AC table 0: one code "0" for EOB14.
	dht := []byte{0x00, 1}
	dht = append(dht, make([]byte, 15)...)
	dht = append(dht, 0)
	dht = append(dht, 0x10, 1)
	dht = append(dht, make([]byte, 15)...)
	dht = append(dht, eob14)
	out = append(out, seg(dhtMarker, dht)...)
	sof := byte(sof2Marker)
	if k == sequential {
		sof = sof0Marker
	}
	f := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), byte(nComp)}
	for i := 0; i < nComp; i++ {
		f = append(f, byte(i+1), 0x11, 0)
	}
	out = append(out, seg(sof, f)...)
	if nComp == 4 {
		// Adobe APP14, transform 0: CMYK, which image/jpeg decodes.
		out = append(out, seg(app14Marker, []byte("Adobe\x00\x64\x00\x00\x00\x00\x00"))...)
	}
	blocks := ((w + 7) / 8) * ((h + 7) / 8)
	run := 0 // the end-of-band run, which carries from scan to scan
	var body []byte
	for s := 0; s < scans; s++ {
		var hdr []byte
		var bw bitWriter
		switch k {
		case acRefine, acFirst:
			ah := byte(0)
			if k == acRefine {
				ah = 1
			}
			hdr = []byte{1, byte(s%nComp + 1), 0x00, 1, 63, ah << 4}
			for n := 0; n < blocks; n += 32767 {
				bw.put(0, 1)
				bw.put(1<<14-1, 14)
			}
		case dcFirst:
			hdr = []byte{byte(nComp)}
			for i := 0; i < nComp; i++ {
				hdr = append(hdr, byte(i+1), 0x00)
			}
			hdr = append(hdr, 0, 0, 0)
			for n := 0; n < blocks*nComp; n++ {
				bw.put(0, 1)
			}
		case sequential:
			hdr = []byte{byte(nComp)}
			for i := 0; i < nComp; i++ {
				hdr = append(hdr, byte(i+1), 0x00)
			}
			hdr = append(hdr, 0, 63, 0)
			for n := 0; n < blocks*nComp; n++ {
				bw.put(0, 1) // DC: size 0
				if run == 0 {
					bw.put(0, 1)
					bw.put(1<<14-1, 14)
					run = 32767
				}
				run--
			}
		}
		body = append(body, seg(sosMarker, hdr)...)
		body = append(body, bw.flush()...)
	}
	for pad > len(out)+len(body)+6 {
		n := min(pad-len(out)-len(body)-6, 65533)
		out = append(out, seg(comMarker, make([]byte, n))...)
	}
	out = append(out, body...)
	return append(out, 0xff, eoiMarker)
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestScanBombRefused: a small file of many progressive refinement scans over a
// large frame asks for minutes of CPU; Decode refuses it after doing no more than
// the budget's work, and Precheck refuses it without decoding.
func TestScanBombRefused(t *testing.T) {
	data := bomb(1024, 1024, 1, acRefine, 20000, 0)
	blocks := int64(128 * 128)
	asked := 20000 * blocks * (63 + blockOverhead)
	d := newDecoder(data, Options{})
	start := cpuTime()
	_, err := d.decode()
	cpu := cpuTime() - start
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("%d-byte bomb asking for %d units of work: err %v, want ErrLimit", len(data), asked, err)
	}
	budget := d.work.budget(&d.geom)
	if budget <= 0 || d.work.used-budget > blocks*(63+blockOverhead) {
		t.Fatalf("charged %d units against a budget of %d", d.work.used, budget)
	}
	if d.work.scans > 20 {
		t.Errorf("refused only after %d of 20000 scans", d.work.scans)
	}
	if cpu > 5*time.Second {
		t.Errorf("refusing took %v of CPU", cpu)
	}
	if err := Precheck(data, Options{}); !errors.Is(err, ErrLimit) {
		t.Errorf("Precheck: %v, want ErrLimit", err)
	}
	// The same file is honest work when the limits are lifted: the accounting, not
	// a format check, is what refuses it.
	few := bomb(1024, 1024, 1, acRefine, 3, 0)
	if _, err := Decode(few, Options{}); err != nil {
		t.Fatalf("three refinement scans: %v", err)
	}
}

// TestEachBombKindRefused checks every bomb kind, through Decode and Precheck.
func TestEachBombKindRefused(t *testing.T) {
	for _, k := range []bombKind{acRefine, acFirst, dcFirst, sequential} {
		t.Run(k.String(), func(t *testing.T) {
			data := bomb(512, 512, 3, k, 300, 0)
			if _, err := Decode(data, Options{}); !errors.Is(err, ErrLimit) {
				t.Errorf("Decode: %v, want ErrLimit", err)
			}
			if err := Precheck(data, Options{}); !errors.Is(err, ErrLimit) {
				t.Errorf("Precheck: %v, want ErrLimit", err)
			}
		})
	}
}

// TestMaxScans: a tiny frame with more scans than MaxScans is refused for that
// reason, however little work each scan is.
func TestMaxScans(t *testing.T) {
	data := bomb(8, 8, 1, acFirst, 50, 0)
	lim := Limits{MaxScans: 40, CoefficientsPerSample: -1}
	if _, err := Decode(data, Options{Limits: lim}); !errors.Is(err, ErrLimit) {
		t.Fatalf("Decode: %v, want ErrLimit", err)
	}
	if err := Precheck(data, Options{Limits: lim}); !errors.Is(err, ErrLimit) {
		t.Fatalf("Precheck: %v, want ErrLimit", err)
	}
	lim.MaxScans = 50
	if _, err := Decode(data, Options{Limits: lim}); err != nil {
		t.Fatalf("50 scans with MaxScans 50: %v", err)
	}
}

// TestFourComponentBombRefused: a 4-component (CMYK) progressive bomb, once left
// to image/jpeg, is decoded by Decode under the same limits and refused, and so
// is the same bomb as YCCK and as a 3-component RGB one; a few scans of each
// decode to what image/jpeg makes of them.
func TestFourComponentBombRefused(t *testing.T) {
	for _, c := range []struct {
		name      string
		nComp     int
		transform byte
	}{{"cmyk", 4, 0}, {"ycck", 4, 2}, {"rgb", 3, 0}} {
		t.Run(c.name, func(t *testing.T) {
			data := withAdobe(bomb(512, 512, c.nComp, acRefine, 2000, 0), c.transform)
			if _, err := Decode(data, Options{}); !errors.Is(err, ErrLimit) {
				t.Fatalf("Decode: %v, want ErrLimit", err)
			}
			if err := Precheck(data, Options{}); !errors.Is(err, ErrLimit) {
				t.Fatalf("Precheck: %v, want ErrLimit", err)
			}
			few := withAdobe(bomb(512, 512, c.nComp, acRefine, 5, 0), c.transform)
			if err := differential(few); err != nil {
				t.Fatalf("five scans: %v", err)
			}
			if _, err := Decode(few, Options{}); err != nil {
				t.Fatalf("five scans: %v", err)
			}
		})
	}
}

// withAdobe gives a bomb an Adobe APP14 segment with the given colour transform
// (bomb itself writes one, transform 0, for 4 components only).
func withAdobe(data []byte, transform byte) []byte {
	if i := bytes.Index(data, []byte("Adobe")); i >= 0 {
		out := bytes.Clone(data)
		out[i+11] = transform
		return out
	}
	app := segment(app14Marker, append([]byte("Adobe\x00\x64\x00\x00\x00\x00"), transform)...)
	return append(append(append([]byte{}, data[:2]...), app...), data[2:]...)
}

// TestHonestFilesWithinBudget: every fixture (sequential, progressive scripts with
// spectral selection and successive approximation, restarts) uses at most
// three quarters of its default budget, and Precheck accepts each.
func TestHonestFilesWithinBudget(t *testing.T) {
	fx := fixtures(t)
	for _, name := range sortedNames(fx) {
		data := fx[name]
		d := newDecoder(data, Options{})
		if _, err := d.decode(); err != nil {
			if errors.Is(err, ErrLimit) {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if b := d.work.budget(&d.geom); b > 0 && 4*d.work.used > 3*b {
			t.Errorf("%s: work %d is more than 3/4 of its budget %d", name, d.work.used, b)
		}
		if err := Precheck(data, Options{}); err != nil {
			t.Errorf("%s: Precheck: %v", name, err)
		}
	}
}

// TestDecodeCancelled: a cancelled context stops Decode before the first scan; a
// deadline stops a long decode (a bomb with the limits lifted) within a scan's
// MCU row, not at its end.
func TestDecodeCancelled(t *testing.T) {
	fx := fixtures(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, name := range []string{"s420.jpg", "prog.jpg"} {
		if _, err := Decode(fx[name], Options{Context: ctx}); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v, want context.Canceled", name, err)
		}
	}
	if err := Precheck(fx["prog.jpg"], Options{Context: ctx}); !errors.Is(err, context.Canceled) {
		t.Errorf("Precheck: %v, want context.Canceled", err)
	}

	data := bomb(1024, 1024, 1, acRefine, 20000, 0)
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	d := newDecoder(data, Options{Context: ctx, Limits: Limits{MaxScans: -1, CoefficientsPerSample: -1}})
	_, err := d.decode()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unlimited bomb under a deadline: %v, want DeadlineExceeded", err)
	}
	if d.work.scans >= 20000 {
		t.Fatalf("all %d scans decoded despite the deadline", d.work.scans)
	}
}

// BenchmarkBomb measures the worst case the default limits allow on a 40 MP 4:4:4
// frame (the most samples, so the largest budget) padded to 32 MB (the padding buys work through CoefficientsPerByte): each kind
// repeats as many scans as fit in the budget, so the file decodes, and the scans
// that follow are refused. cpu-ms/op is the process's CPU time per decode.
//
//	go test ./data/jpeg -run '^$' -bench Bomb -benchtime 1x
func BenchmarkBomb(b *testing.B) {
	const w, h, nComp, pad = 7744, 5168, 3, 32 << 20 // 40.0 MP
	b.Run("honest-baseline", func(b *testing.B) {
		// A sequential 4:2:0 photo-like 40 MP JPEG from image/jpeg, for scale.
		img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
		for i := range img.Y {
			img.Y[i] = byte(i*7 + i/w*3 + i*i>>11)
		}
		var buf bytes.Buffer
		if err := stdjpeg.Encode(&buf, img, &stdjpeg.Options{Quality: 90}); err != nil {
			b.Fatal(err)
		}
		data := buf.Bytes()
		runtime.GC()
		b.ResetTimer()
		start := cpuTime()
		for i := 0; i < b.N; i++ {
			if _, err := Decode(data, Options{}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64((cpuTime()-start).Milliseconds())/float64(b.N), "cpu-ms/op")
		b.ReportMetric(float64(len(data))/(1<<20), "MB")
	})
	for _, k := range []bombKind{acRefine, acFirst, dcFirst, sequential} {
		b.Run(k.String(), func(b *testing.B) {
			blocks := int64((w+7)/8*((h+7)/8)) * nComp
			per, scanBlocks := int64(63+blockOverhead), blocks/nComp // one component a scan
			switch k {
			case dcFirst:
				per, scanBlocks = 1+blockOverhead+dcOverhead, blocks
			case sequential:
				per, scanBlocks = 64+blockOverhead+dcOverhead, blocks
			}
			frame := int64(DefaultCoefficientsPerSample) * 64 * blocks
			budget := frame + min(int64(DefaultCoefficientsPerByte)*pad, frame)
			scans := int(budget / (per * scanBlocks))
			data := bomb(w, h, nComp, k, scans+1, pad)
			runtime.GC()
			b.ResetTimer()
			start := cpuTime()
			for i := 0; i < b.N; i++ {
				_, err := Decode(data, Options{})
				if !errors.Is(err, ErrLimit) {
					b.Fatalf("%d scans: %v, want ErrLimit at the last", scans+1, err)
				}
			}
			b.ReportMetric(float64((cpuTime()-start).Milliseconds())/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(scans), "scans")
			b.ReportMetric(float64(len(data))/(1<<20), "MB")
		})
	}
}

// FuzzPrecheck: Precheck never panics, and it charges exactly what Decode charges,
// so a file Decode accepts under some limits Precheck accepts too, and a file
// Decode refuses for its work Precheck refuses as well (unless Decode failed for
// another reason first).
//
//	go test ./data/jpeg -run '^$' -fuzz FuzzPrecheck -fuzztime 1m
func FuzzPrecheck(f *testing.F) {
	for _, name := range sortedNames(fixtures(f)) {
		f.Add(fixtures(f)[name], uint16(0))
	}
	f.Add(bomb(64, 64, 3, acRefine, 40, 0), uint16(0))
	f.Add(bomb(64, 64, 4, dcFirst, 40, 0), uint16(5))
	f.Fuzz(func(t *testing.T, data []byte, maxScans uint16) {
		lim := Limits{MaxScans: int(maxScans)}
		perr := Precheck(data, Options{Limits: lim})
		if perr != nil && !errors.Is(perr, ErrLimit) {
			t.Fatalf("Precheck returned %v, want nil or ErrLimit", perr)
		}
		if cfg, err := stdjpeg.DecodeConfig(bytes.NewReader(data)); err == nil && cfg.Width*cfg.Height > 1<<22 {
			return // too big to decode here
		}
		_, derr := Decode(data, Options{Limits: lim})
		switch {
		case derr == nil && perr != nil:
			t.Fatalf("Decode accepts what Precheck refuses: %v", perr)
		case errors.Is(derr, ErrLimit) && perr == nil:
			t.Fatalf("Decode refuses (%v) what Precheck accepts", derr)
		}
	})
}

// BenchmarkFallbackBomb measures the worst case the default limits allow for the
// kinds of JPEG once handed to image/jpeg (CMYK, YCCK, RGB), which Decode now
// decodes itself: a 40 MP frame of four components (the most samples, so the
// largest budget) padded to 32 MB, as many scans of each kind as the budget
// admits plus one that is refused. honest-cmyk decodes a 40 MP photo-like CMYK
// file for scale. cpu-ms/op is the process's CPU time per decode.
//
//	go test ./data/jpeg -run '^$' -bench FallbackBomb -benchtime 1x
func BenchmarkFallbackBomb(b *testing.B) {
	const w, h, pad = 7744, 5168, 32 << 20 // 40.0 MP
	b.Run("honest-cmyk", func(b *testing.B) {
		data := cmykFile(b, w, h)
		runtime.GC()
		b.ResetTimer()
		start := cpuTime()
		for i := 0; i < b.N; i++ {
			if _, err := Decode(data, Options{}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64((cpuTime()-start).Milliseconds())/float64(b.N), "cpu-ms/op")
		b.ReportMetric(float64(len(data))/(1<<20), "MB")
	})
	for _, c := range []struct {
		name      string
		nComp     int
		transform byte
		k         bombKind
	}{
		{"cmyk-acRefine", 4, 0, acRefine}, {"ycck-acRefine", 4, 2, acRefine},
		{"cmyk-dcFirst", 4, 0, dcFirst}, {"cmyk-sequential", 4, 0, sequential},
		{"rgb-acRefine", 3, 0, acRefine},
	} {
		b.Run(c.name, func(b *testing.B) {
			blocks := int64((w+7)/8*((h+7)/8)) * int64(c.nComp)
			per, scanBlocks := int64(63+blockOverhead), blocks/int64(c.nComp)
			switch c.k {
			case dcFirst:
				per, scanBlocks = 1+blockOverhead+dcOverhead, blocks
			case sequential:
				per, scanBlocks = 64+blockOverhead+dcOverhead, blocks
			}
			frame := int64(DefaultCoefficientsPerSample) * 64 * blocks
			budget := frame + min(int64(DefaultCoefficientsPerByte)*pad, frame)
			scans := int(budget / (per * scanBlocks))
			data := withAdobe(bomb(w, h, c.nComp, c.k, scans+1, pad), c.transform)
			runtime.GC()
			b.ResetTimer()
			start := cpuTime()
			for i := 0; i < b.N; i++ {
				if _, err := Decode(data, Options{}); !errors.Is(err, ErrLimit) {
					b.Fatalf("%d scans: %v, want ErrLimit at the last", scans+1, err)
				}
			}
			b.ReportMetric(float64((cpuTime()-start).Milliseconds())/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(scans), "scans")
		})
	}
}

// cmykFile builds a w×h Adobe CMYK JPEG with photo-like content: each channel is a
// grayscale JPEG from image/jpeg (same tables for all four), its scan re-labelled
// as one component of a 4-component frame, one non-interleaved scan per component.
func cmykFile(t testing.TB, w, h int) []byte {
	t.Helper()
	var sof []byte
	var head, scans []byte
	for c := 0; c < 4; c++ {
		g := image.NewGray(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			row := g.Pix[y*g.Stride:][:w]
			for x := range row {
				// Smooth gradients with some texture: a photo's entropy, not noise's.
				row[x] = byte(x/(c+3) + y/(5-c) + (x*y>>(11+c))&15 + (x^y)&3)
			}
		}
		var buf bytes.Buffer
		if err := stdjpeg.Encode(&buf, g, &stdjpeg.Options{Quality: 90}); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		sos := bytes.Index(data, []byte{0xff, sosMarker})
		if c == 0 {
			// Everything before the frame header (DQT, DHT) is shared.
			f := bytes.Index(data, []byte{0xff, sof0Marker})
			head = append(head, data[:f]...)
			n := int(data[f+2])<<8 | int(data[f+3])
			head = append(head, data[f+2+n:sos]...) // the DHT after the SOF
			sof = segment(sof0Marker, 8, byte(h>>8), byte(h), byte(w>>8), byte(w), 4,
				1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0, 4, 0x11, 0)
		}
		body := bytes.Clone(data[sos : len(data)-2]) // the scan, without EOI
		body[5] = byte(c + 1)                        // its component selector
		scans = append(scans, body...)
	}
	out := append(head[:2:2], segment(app14Marker, []byte("Adobe\x00\x64\x00\x00\x00\x00\x00")...)...)
	out = append(out, head[2:]...)
	out = append(out, sof...)
	out = append(out, scans...)
	return append(out, 0xff, eoiMarker)
}

// TestCMYKFile checks the benchmark's generator: image/jpeg and Decode agree on
// what it makes.
func TestCMYKFile(t *testing.T) {
	data := cmykFile(t, 67, 45)
	if err := differential(data); err != nil {
		t.Fatal(err)
	}
	if m, err := Decode(data, Options{}); err != nil {
		t.Fatal(err)
	} else if _, ok := m.(*image.CMYK); !ok {
		t.Fatalf("%T, want *image.CMYK", m)
	}
}
