package jpeg

import (
	"context"
	"errors"
	"fmt"
	"image"
)

// Options tunes a decode for a consumer that needs less than the full-resolution image.
type Options struct {
	// Scale divides both sides by 1, 2, 4 or 8 (0 means 1) using scaled inverse DCTs on
	// the low-frequency coefficients (libjpeg's scaled decoding, as in jidctred.c):
	// the output is ceil(W/Scale)×ceil(H/Scale).
	Scale int
	// Region, when not empty, is the part of the output (in output, i.e. scaled, pixel
	// coordinates) the caller will read. Blocks none of whose output pixels (for chroma:
	// none of the luma-grid pixels they cover) fall inside Region are entropy-decoded
	// but not dequantised / inverse-transformed / stored; their pixels are undefined.
	Region image.Rectangle
	// Context, when set, stops the decode once it is done: Decode checks it before
	// every scan and every MCU row and returns an error wrapping its Err.
	Context context.Context
	// Limits bounds the work the file may ask for (scans, coefficients); the zero
	// value is the defaults.
	Limits Limits
}

// ErrUnsupported (wrapped) means a valid JPEG this decoder does not handle; callers fall back to image/jpeg.
var ErrUnsupported = errors.New("jpeg: unsupported")

// FormatError reports that the input is not a valid JPEG (or not one image/jpeg accepts).
type FormatError string

// Error implements error.
func (e FormatError) Error() string { return "jpeg: invalid format: " + string(e) }

// unsupported returns an error wrapping ErrUnsupported that names the feature.
func unsupported(what string) error { return fmt.Errorf("%w: %s", ErrUnsupported, what) }

// errShortData is returned when the input ends before the image does.
var errShortData = FormatError("unexpected end of data")

// Marker codes, Table B.1 of ITU-T T.81.
const (
	sof0Marker  = 0xc0 // Start Of Frame, baseline sequential DCT.
	sof1Marker  = 0xc1 // Start Of Frame, extended sequential DCT.
	sof2Marker  = 0xc2 // Start Of Frame, progressive DCT.
	dhtMarker   = 0xc4 // Define Huffman Tables.
	dacMarker   = 0xcc // Define Arithmetic Conditioning (arithmetic coding only).
	rst0Marker  = 0xd0 // ReSTart 0 (RST0..RST7 are 0xd0..0xd7).
	rst7Marker  = 0xd7 // ReSTart 7.
	eoiMarker   = 0xd9 // End Of Image.
	soiMarker   = 0xd8 // Start Of Image.
	sosMarker   = 0xda // Start Of Scan.
	dqtMarker   = 0xdb // Define Quantization Tables.
	driMarker   = 0xdd // Define Restart Interval.
	app0Marker  = 0xe0 // APP0, where JFIF lives.
	app14Marker = 0xee // APP14, where Adobe's colour-transform flag lives.
	app15Marker = 0xef
	comMarker   = 0xfe // COMment.
)

// Adobe APP14 colour transforms (see the exiftool JPEG tag table): 0 means RGB or
// CMYK stored as is, 1 YCbCr, 2 YCCK.
const adobeTransformUnknown = 0

// maxComponents is the most components a frame may have that image/jpeg decodes.
const maxComponents = 4

// component is one frame component's header (T.81 B.2.2).
type component struct {
	id   uint8 // C_i, the identifier scans refer to
	h, v int   // sampling factors, as image/jpeg uses them (forced to 1 for grayscale)
	tq   uint8 // quantization table selector
}

// decoder holds the state of one Decode call. Everything the entropy decoder touches
// per block lives here or in bitReader, allocated once per image.
type decoder struct {
	data []byte // the whole file
	pos  int    // read position in data for marker segments

	opts  Options
	scale int // 1, 2, 4 or 8
	bs    int // output pixels per block side: 8/scale

	width, height int
	nComp         int
	comp          [maxComponents]component
	baseline      bool // SOF0: Huffman table selectors are limited to 0 and 1
	progressive   bool // SOF2
	seenSOF       bool
	ri            int // restart interval in MCUs, 0 for none

	jfif           bool // the last APP0 with at least 5 bytes said "JFIF\x00"
	adobeValid     bool // an Adobe APP14 segment was seen
	adobeTransform uint8

	quant [4][64]int32 // quantization tables, zig-zag order
	huff  [2][4]huffTable

	// Output. Exactly one of gray and ycc is set once the first scan starts; a
	// 4-component image keeps its fourth (K) component in planes[3].
	gray    *image.Gray
	ycc     *image.YCbCr
	mxx     int // MCUs per row (from component 0's sampling factors)
	myy     int // MCU rows
	planes  [maxComponents][]byte
	strides [maxComponents]int
	// regionBlocks[i] is the half-open range of component i's block coordinates whose
	// reconstruction the caller needs: x0, y0, x1, y1.
	regionBlocks [maxComponents][4]int

	// eobRun is the remaining end-of-band run (T.81 G.1.2.2). Like image/jpeg, it
	// survives from one scan to the next and is reset only at restart markers.
	eobRun uint16

	// progressive coefficient store, one []int32 of 64 per block, per component,
	// allocated at the component's first scan.
	coeffs [maxComponents][]int32
	// nonzero[ci][k] has bit z set when coefficient z (zig-zag order) of block k is
	// non-zero, so that a refinement's end-of-band run visits only those: without
	// it, a file of empty refinement scans makes every block walk its whole band.
	nonzero [maxComponents][]uint64
	// dcs[ci][k] is block k's DC coefficient, kept apart from coeffs so that a DC
	// scan touches four bytes a block instead of a cache line; reconstruction puts it
	// back in place.
	dcs [maxComponents][]int32

	blk block // scratch coefficients for the sequential path, zero between blocks

	geom   frameGeometry // the frame header, for the work accounting
	work   workMeter
	cancel canceller
}

// testHookRecovered is set by tests; Decode calls it when its last-resort recover
// catches a panic, so that fuzzing fails instead of hiding a bug.
var testHookRecovered func(v any)

// Decode decodes a JPEG held in memory.
//
// With Scale 1 and an empty Region the result is identical to image/jpeg.Decode's
// (same concrete type, rectangle, subsampling and samples: *image.Gray,
// *image.YCbCr, *image.RGBA for Adobe RGB and *image.CMYK for CMYK and YCCK), and
// every input image/jpeg rejects is rejected here too. Arithmetic-coded, 12-bit,
// lossless and hierarchical JPEGs, and sampling layouts image/jpeg does not take,
// give an error wrapping ErrUnsupported.
func Decode(data []byte, o Options) (img image.Image, err error) {
	defer func() {
		if v := recover(); v != nil {
			if testHookRecovered != nil {
				testHookRecovered(v)
			}
			img, err = nil, fmt.Errorf("jpeg: internal error: %v", v)
		}
	}()
	switch o.Scale {
	case 0, 1, 2, 4, 8:
	default:
		return nil, fmt.Errorf("jpeg: Scale %d is not 1, 2, 4 or 8", o.Scale)
	}
	return newDecoder(data, o).decode()
}

// newDecoder sets up the decoder of one Decode call; o.Scale is valid.
func newDecoder(data []byte, o Options) *decoder {
	d := &decoder{data: data, opts: o, scale: max(o.Scale, 1)}
	d.bs = 8 / d.scale
	d.work = newWorkMeter(o.Limits, len(data))
	d.cancel = newCanceller(o.Context)
	return d
}

// readFull returns the next n bytes of a marker segment.
func (d *decoder) readFull(n int) ([]byte, error) {
	if n < 0 || len(d.data)-d.pos < n {
		d.pos = len(d.data)
		return nil, errShortData
	}
	p := d.data[d.pos : d.pos+n]
	d.pos += n
	return p, nil
}

// readByte returns the next byte.
func (d *decoder) readByte() (byte, error) {
	if d.pos >= len(d.data) {
		return 0, errShortData
	}
	b := d.data[d.pos]
	d.pos++
	return b, nil
}

// decode walks the marker segments (T.81 B.2) until EOI. Its tolerance of junk
// between segments copies image/jpeg's, which copies libjpeg's: bytes that are not a
// marker are skipped, "\xff\x00" is skipped, fill bytes "\xff" before a marker are
// allowed, and a stray RSTn outside a scan is ignored.
func (d *decoder) decode() (image.Image, error) {
	p, err := d.readFull(2)
	if err != nil {
		return nil, err
	}
	if p[0] != 0xff || p[1] != soiMarker {
		return nil, FormatError("missing SOI marker")
	}
	for {
		p, err := d.readFull(2)
		if err != nil {
			return nil, err
		}
		b0, b1 := p[0], p[1]
		for b0 != 0xff {
			b0 = b1
			if b1, err = d.readByte(); err != nil {
				return nil, err
			}
		}
		marker := b1
		if marker == 0 {
			continue // "\xff\x00" outside a scan: extraneous data
		}
		for marker == 0xff {
			if marker, err = d.readByte(); err != nil {
				return nil, err
			}
		}
		if marker == eoiMarker {
			break
		}
		if rst0Marker <= marker && marker <= rst7Marker {
			continue // a restart marker after the last interval: harmless
		}
		p, err = d.readFull(2)
		if err != nil {
			return nil, err
		}
		n := int(p[0])<<8 | int(p[1]) - 2
		if n < 0 {
			return nil, FormatError("short segment length")
		}
		switch {
		case marker == sof0Marker || marker == sof1Marker || marker == sof2Marker:
			d.baseline = marker == sof0Marker
			d.progressive = marker == sof2Marker
			err = d.processSOF(n)
		case marker == dhtMarker:
			err = d.processDHT(n)
		case marker == dqtMarker:
			err = d.processDQT(n)
		case marker == sosMarker:
			err = d.processSOS(n)
		case marker == driMarker:
			err = d.processDRI(n)
		case marker == app0Marker:
			err = d.processApp0(n)
		case marker == app14Marker:
			err = d.processApp14(n)
		case app0Marker <= marker && marker <= app15Marker || marker == comMarker:
			_, err = d.readFull(n)
		case marker < 0xc0: // Table B.1: reserved or TEM
			err = FormatError(fmt.Sprintf("unknown marker 0x%02x", marker))
		case marker == 0xc3 || 0xc5 <= marker && marker <= 0xcf && marker != 0xc8:
			// SOF3 (lossless), SOF5-7 (hierarchical), SOF9-11 and SOF13-15
			// (arithmetic coding) and DAC.
			err = unsupported(fmt.Sprintf("coding process of marker 0x%02x", marker))
		default:
			err = unsupported(fmt.Sprintf("marker 0x%02x", marker))
		}
		if err != nil {
			return nil, err
		}
	}
	if d.progressive && (d.gray != nil || d.ycc != nil) {
		if err := d.reconstructProgressive(); err != nil {
			return nil, err
		}
	}
	if d.gray != nil {
		return d.gray, nil
	}
	if d.ycc != nil {
		// The colour model is settled only now: an APP segment after the first
		// scan can still make a 3-component image RGB, or give a 4-component one
		// the Adobe marker it needs.
		switch {
		case d.nComp == 4:
			return d.applyBlack()
		case d.isRGB():
			return d.convertToRGB(), nil
		}
		return d.ycc, nil
	}
	return nil, FormatError("missing SOS marker")
}

// isRGB reports whether image/jpeg would treat a 3-component image as RGB rather
// than YCbCr: no JFIF marker and either an Adobe "unknown" transform or component
// identifiers 'R', 'G', 'B'.
func (d *decoder) isRGB() bool {
	if d.jfif {
		return false
	}
	if d.adobeValid && d.adobeTransform == adobeTransformUnknown {
		return true
	}
	return d.comp[0].id == 'R' && d.comp[1].id == 'G' && d.comp[2].id == 'B'
}

// processSOF reads a frame header (T.81 B.2.2) and validates its sampling factors
// against the layouts image/jpeg decodes.
func (d *decoder) processSOF(n int) error {
	if d.seenSOF {
		return FormatError("multiple SOF markers")
	}
	switch n {
	case 6 + 3*1:
		d.nComp = 1
	case 6 + 3*3:
		d.nComp = 3
	case 6 + 3*4:
		d.nComp = 4 // CMYK, or YCCK with an Adobe transform
	default:
		return unsupported("number of components")
	}
	d.seenSOF = true
	p, err := d.readFull(n)
	if err != nil {
		return err
	}
	if p[0] != 8 {
		return unsupported(fmt.Sprintf("%d-bit precision", p[0]))
	}
	d.height = int(p[1])<<8 | int(p[2])
	d.width = int(p[3])<<8 | int(p[4])
	if int(p[5]) != d.nComp {
		return FormatError("SOF has wrong length")
	}
	for i := 0; i < d.nComp; i++ {
		c := &d.comp[i]
		c.id = p[6+3*i]
		for j := 0; j < i; j++ {
			if d.comp[j].id == c.id {
				return FormatError("repeated component identifier")
			}
		}
		c.tq = p[8+3*i]
		if c.tq > 3 {
			return FormatError("bad Tq value")
		}
		hv := p[7+3*i]
		h, v := int(hv>>4), int(hv&0x0f)
		if h < 1 || 4 < h || v < 1 || 4 < v {
			return FormatError("bad sampling factors")
		}
		if h == 3 || v == 3 {
			return unsupported("sampling factor 3")
		}
		switch d.nComp {
		case 1:
			// A single component is non-interleaved: one block per MCU whatever its
			// nominal factors (T.81 A.2, 4.8.2).
			h, v = 1, 1
		case 4:
			// image/jpeg takes only the two layouts encoders write: all 1x1, or
			// the first and fourth 2x2 with the middle two 1x1.
			switch i {
			case 0:
				if hv != 0x11 && hv != 0x22 {
					return unsupported("4-component sampling factors")
				}
			case 1, 2:
				if hv != 0x11 {
					return unsupported("4-component sampling factors")
				}
			case 3:
				if d.comp[0].h != h || d.comp[0].v != v {
					return unsupported("4-component sampling factors")
				}
			}
		default:
			switch i {
			case 0:
				if v == 4 {
					return unsupported("luma/chroma subsampling ratio")
				}
			case 1:
				if d.comp[0].h%h != 0 || d.comp[0].v%v != 0 {
					return unsupported("luma/chroma subsampling ratio")
				}
			case 2:
				if d.comp[1].h != h || d.comp[1].v != v {
					return unsupported("luma/chroma subsampling ratio")
				}
			}
		}
		c.h, c.v = h, v
	}
	d.geom = frameGeometry{width: d.width, height: d.height, nComp: d.nComp}
	for i := 0; i < d.nComp; i++ {
		d.geom.h[i], d.geom.v[i] = d.comp[i].h, d.comp[i].v
	}
	return nil
}

// processDQT reads quantization tables (T.81 B.2.4.1), 8- or 16-bit, kept in
// zig-zag order.
func (d *decoder) processDQT(n int) error {
	for n > 0 {
		n--
		x, err := d.readByte()
		if err != nil {
			return err
		}
		tq := x & 0x0f
		if tq > 3 {
			return FormatError("bad Tq value")
		}
		switch x >> 4 {
		case 0:
			if n < 64 {
				// image/jpeg stops here and accepts a segment that ends right
				// after the Pq/Tq byte.
				return d.dqtRemainder(n)
			}
			n -= 64
			p, err := d.readFull(64)
			if err != nil {
				return err
			}
			for i := range d.quant[tq] {
				d.quant[tq][i] = int32(p[i])
			}
		case 1:
			if n < 128 {
				return d.dqtRemainder(n)
			}
			n -= 128
			p, err := d.readFull(128)
			if err != nil {
				return err
			}
			for i := range d.quant[tq] {
				d.quant[tq][i] = int32(p[2*i])<<8 | int32(p[2*i+1])
			}
		default:
			return FormatError("bad Pq value")
		}
	}
	return nil
}

// dqtRemainder handles a DQT segment whose last table is cut short: n bytes remain.
func (d *decoder) dqtRemainder(n int) error {
	if n != 0 {
		return FormatError("DQT has wrong length")
	}
	return nil
}

// processDRI reads the restart interval (T.81 B.2.4.4).
func (d *decoder) processDRI(n int) error {
	if n != 2 {
		return FormatError("DRI has wrong length")
	}
	p, err := d.readFull(2)
	if err != nil {
		return err
	}
	d.ri = int(p[0])<<8 | int(p[1])
	return nil
}

// processApp0 notes whether the segment is JFIF, which decides YCbCr against RGB.
func (d *decoder) processApp0(n int) error {
	if n < 5 {
		_, err := d.readFull(n)
		return err
	}
	p, err := d.readFull(5)
	if err != nil {
		return err
	}
	d.jfif = string(p) == "JFIF\x00"
	_, err = d.readFull(n - 5)
	return err
}

// processApp14 notes Adobe's colour-transform flag.
func (d *decoder) processApp14(n int) error {
	if n < 12 {
		_, err := d.readFull(n)
		return err
	}
	p, err := d.readFull(12)
	if err != nil {
		return err
	}
	if string(p[:5]) == "Adobe" {
		d.adobeValid = true
		d.adobeTransform = p[11]
	}
	_, err = d.readFull(n - 12)
	return err
}
