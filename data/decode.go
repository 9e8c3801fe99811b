package data

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"os"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"

	fastjpeg "github.com/autotag/autotag/data/jpeg"
)

// DefaultMaxPixels is the pixel cap (width×height) applied when DecodeOptions.MaxPixels
// is zero: 40 megapixels, enough for any phone or DSLR photo, small enough that a
// decompression bomb cannot take the process down (40 MP as NRGBA is 160 MB).
const DefaultMaxPixels = 40_000_000

// DefaultMaxBytes is the largest encoded input Decode reads when DecodeOptions.MaxBytes
// is zero.
const DefaultMaxBytes = 256 << 20

// MaxSide is the largest width or height Decode accepts, whatever the pixel cap: no
// format we read can encode more than 65535 in JPEG or WebP, and a longer side in PNG
// or TIFF is a malformed or hostile file.
const MaxSide = 1 << 16

// ErrTooManyPixels is returned (wrapped) when an image's header announces more pixels
// than the cap, or a side longer than MaxSide. It is detected from the header alone,
// before any pixel memory is allocated.
var ErrTooManyPixels = errors.New("image too large")

// ErrUnsupportedFormat is returned (wrapped) when the input is not one of the formats
// Decode reads: JPEG, PNG, GIF, WebP, BMP, TIFF.
var ErrUnsupportedFormat = errors.New("unsupported image format")

// ErrInputTooLarge is returned (wrapped) when the encoded input is longer than
// DecodeOptions.MaxBytes.
var ErrInputTooLarge = errors.New("encoded input too large")

// ErrTooMuchWork is returned (wrapped) when a JPEG asks for more decoding work than
// DecodeOptions.JPEGLimits allow: too many scans, or scans whose coefficients add up
// to more than the frame and the input justify (see jpeg.Limits). It is found from
// the scan headers before the work is done, for every JPEG, including those
// image/jpeg decodes.
var ErrTooMuchWork = fastjpeg.ErrLimit

// ErrEmpty is returned (wrapped) for an empty input.
var ErrEmpty = errors.New("empty input")

// DecodeOptions bounds what Decode accepts and, optionally, tells it what the image
// is for. The zero value is the defaults: every pixel decoded at full size.
type DecodeOptions struct {
	// MaxPixels is the width×height cap checked before decoding; 0 →
	// DefaultMaxPixels, <0 → no cap. Images whose decoders spend more per pixel get
	// a share of it: a lossless (VP8L-coded) WebP and a 16-bit colour TIFF a
	// quarter, a 16-bit colour PNG or an interlaced one half (both: a quarter).
	MaxPixels int
	MaxBytes  int64 // encoded size cap; 0 → DefaultMaxBytes, <0 → no cap

	// For, when set, is the preprocessing the decoded image is for (Preprocess with
	// this spec, and nothing else). A JPEG is then decoded only as far as that reads:
	// the 8×8 blocks under Spec.SourceWindow are reconstructed, the others only
	// entropy-decoded, so the image's pixels outside that window are undefined.
	// Preprocess's output is the same, bit for bit, as after a full decode.
	For *Spec
	// Reduce, with For, lets a JPEG large enough be decoded at 1/2, 1/4 or 1/8 of its
	// size by scaled inverse DCTs (libjpeg's scaled decoding; PIL's draft mode), as
	// long as the reduced image is still at least twice the resize's size: its
	// shorter side at least 2·For.Resize (both sides at least 2·For.Crop under
	// Squash), so the resize still downscales by two or more. A 12-megapixel phone
	// photo decodes at 1/4 for a 256-pixel resize. That skips most of the work for big
	// photos; Preprocess's output is then close to, not identical with, that of a full
	// decode (TestReducedDecodeAgreement in package autotag measures how close).
	Reduce bool

	// Context, when set, stops a decode once it is done (a request's deadline, a
	// client that went away, Ctrl-C): JPEG decoding checks it between scans and MCU
	// rows and returns an error wrapping its Err; the other formats, whose work the
	// pixel cap bounds, check it before decoding.
	Context context.Context
	// JPEGLimits bounds the work a JPEG may ask for (scans, coefficients per sample
	// and per input byte); the zero value is jpeg's defaults.
	JPEGLimits fastjpeg.Limits
	// Header, when set, is what DecodeHeader read from this same input, so that
	// DecodeBytes does not read the header again (a server that checked it before
	// admitting the upload). One read from an input of another length is ignored.
	Header *Header
}

// ctxErr is the error of opt.Context once it is done, else nil.
func (o DecodeOptions) ctxErr() error {
	if o.Context == nil {
		return nil
	}
	if err := o.Context.Err(); err != nil {
		return fmt.Errorf("decoding stopped: %w", err)
	}
	return nil
}

func (o DecodeOptions) maxPixels() int {
	if o.MaxPixels == 0 {
		return DefaultMaxPixels
	}
	return o.MaxPixels
}

func (o DecodeOptions) maxBytes() int64 {
	if o.MaxBytes == 0 {
		return DefaultMaxBytes
	}
	return o.MaxBytes
}

// format is one image codec: how to recognise it and how to decode it.
type format struct {
	name         string
	decodeConfig func(io.Reader) (image.Config, error)
	decode       func(io.Reader) (image.Image, error)
}

var (
	formatJPEG = format{"jpeg", jpeg.DecodeConfig, jpeg.Decode}
	formatPNG  = format{"png", png.DecodeConfig, png.Decode}
	formatGIF  = format{"gif", gif.DecodeConfig, gif.Decode} // gif.Decode returns the first frame
	formatWebP = format{"webp", webp.DecodeConfig, webp.Decode}
	formatBMP  = format{"bmp", bmp.DecodeConfig, bmp.Decode}
	formatTIFF = format{"tiff", tiff.DecodeConfig, tiff.Decode}
)

// sniff recognises the format from the leading magic bytes, without trusting a file
// name or a Content-Type.
func sniff(b []byte) (format, error) {
	switch {
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return formatJPEG, nil
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return formatPNG, nil
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return formatGIF, nil
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return formatWebP, nil
	case bytes.HasPrefix(b, []byte("BM")) && len(b) >= 26:
		return formatBMP, nil
	case bytes.HasPrefix(b, []byte("II*\x00")), bytes.HasPrefix(b, []byte("MM\x00*")):
		return formatTIFF, nil
	}
	return format{}, fmt.Errorf("%w: %s", ErrUnsupportedFormat, describeUnknown(b))
}

// describeUnknown names what an unrecognised input looks like, for the error message.
func describeUnknown(b []byte) string {
	switch {
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		brand := string(b[8:12])
		switch brand {
		case "heic", "heix", "hevc", "heim", "heis", "mif1", "msf1":
			return "HEIC/HEIF (convert to JPEG first)"
		case "avif", "avis":
			return "AVIF (convert to JPEG first)"
		}
		return fmt.Sprintf("ISO media file (brand %q)", brand)
	case len(b) >= 2 && b[0] == 0xFF && b[1] == 0xD8:
		return "truncated JPEG"
	case bytes.HasPrefix(b, []byte("%PDF")):
		return "PDF document"
	case bytes.HasPrefix(b, []byte("<svg")), bytes.HasPrefix(b, []byte("<?xml")):
		return "XML/SVG document"
	}
	// The input's own bytes are never quoted: it may be a secret that a dataset or a
	// request pointed at instead of an image.
	for _, c := range b[:min(len(b), 512)] {
		if c < 0x09 || (c > 0x0D && c < 0x20) {
			return "unknown signature"
		}
	}
	return "looks like text"
}

// Decode reads an image of any supported format (JPEG, PNG, GIF — first frame only —,
// WebP, BMP, TIFF) from r. It reads the whole input once, through a size bound, sniffs
// the format from its magic bytes, checks the header's dimensions against the pixel cap
// with DecodeConfig BEFORE decoding (so a 30000×30000 header costs no pixel memory),
// decodes, and applies the EXIF orientation (JPEG APP1, TIFF IFD0, PNG eXIf, WebP EXIF)
// so that the result is upright as a viewer shows it.
//
// When r is a regular file (an *os.File, or anything with Stat, ReadAt and Seek), its
// size is checked against the byte cap and its header against the pixel cap before
// the body is read, and the body is then read into one buffer of its exact size: an
// oversize or overlarge file costs no memory.
//
// Every failure is a wrapped error (ErrEmpty, ErrUnsupportedFormat, ErrTooManyPixels,
// ErrInputTooLarge, ErrTooMuchWork or the codec's own); panics inside third-party
// decoders are recovered into errors.
func Decode(r io.Reader, opt DecodeOptions) (image.Image, error) {
	if f, ok := r.(statReaderAt); ok {
		if b, ok, err := readFile(f, opt); ok {
			if err != nil {
				return nil, err
			}
			return decodeBytes(b, opt)
		}
	}
	b, err := readStream(r, opt.maxBytes())
	if err != nil {
		return nil, err
	}
	return decodeBytes(b, opt)
}

// readStream reads all of a stream that cannot be sized first (a pipe, a device, a
// request body) through the byte cap, after sniffing its first bytes: what is no
// image (/dev/zero, a log piped by mistake) is refused from them, not after
// reading, and holding, up to the cap.
func readStream(r io.Reader, max int64) ([]byte, error) {
	head := make([]byte, 512)
	k, err := io.ReadFull(r, head)
	head = head[:k]
	switch {
	case k == 0 && err == io.EOF:
		return nil, ErrEmpty
	case err == nil:
		if _, err := sniff(head); err != nil {
			return nil, err
		}
	case err != io.ErrUnexpectedEOF:
		return nil, fmt.Errorf("reading image: %w", err)
	}
	return readBounded(io.MultiReader(bytes.NewReader(head), r), max)
}

// statReaderAt is a file Decode can size and check before reading it.
type statReaderAt interface {
	io.ReaderAt
	io.Seeker
	Stat() (fs.FileInfo, error)
}

// readFile reads the rest of a regular file f from its current offset, after
// checking its size against the byte cap and its header against the pixel cap
// without reading the body. ok is false when f is not a regular file (a pipe, a
// device), which the caller reads as a stream.
func readFile(f statReaderAt, opt DecodeOptions) (b []byte, ok bool, err error) {
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil, false, nil
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, false, nil
	}
	n := st.Size() - off
	if max := opt.maxBytes(); max >= 0 && n > max {
		return nil, true, fmt.Errorf("%w: the file is %s, more than the limit of %s", ErrInputTooLarge, sizeString(n), sizeString(max))
	}
	if n <= 0 {
		return nil, true, ErrEmpty
	}
	if err := checkHeader(io.NewSectionReader(f, off, n), opt); err != nil {
		return nil, true, err
	}
	b = make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil && !(errors.Is(err, io.EOF) && len(b) == int(n)) {
		return nil, true, fmt.Errorf("reading image: %w", err)
	}
	if _, err := f.Seek(n, io.SeekCurrent); err != nil {
		return nil, true, fmt.Errorf("reading image: %w", err)
	}
	return b, true, nil
}

// checkHeader sniffs the format of the image in r and checks its header's
// dimensions against the pixel cap, reading only as far as the header.
func checkHeader(r *io.SectionReader, opt DecodeOptions) error {
	var magic [512]byte
	k, _ := r.ReadAt(magic[:], 0)
	f, err := sniff(magic[:k])
	if err != nil {
		return err
	}
	// r itself, not a bufio.Reader over it: the TIFF decoder reads an io.ReaderAt
	// where its IFD is, but buffers any other reader from the start up to there.
	cfg, err := guard(f.name, func() (image.Config, error) { return f.decodeConfig(r) })
	if err != nil {
		return fmt.Errorf("%s header: %w", f.name, err)
	}
	if err := checkSize(cfg.Width, cfg.Height, opt.maxPixels()); err != nil {
		return fmt.Errorf("%s: %w", f.name, err)
	}
	return nil
}

// sizeString renders a byte count for messages: "3.2 MB", "512 bytes".
func sizeString(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}

// DecodeBytes is Decode of an input already in memory (an HTTP body, a file read
// whole): the same checks, EXIF orientation and errors, without copying b.
func DecodeBytes(b []byte, opt DecodeOptions) (image.Image, error) {
	if max := opt.maxBytes(); max >= 0 && int64(len(b)) > max {
		return nil, fmt.Errorf("%w: %s, more than the limit of %s", ErrInputTooLarge, sizeString(int64(len(b))), sizeString(max))
	}
	return decodeBytes(b, opt)
}

// DecodeFile opens path and decodes it as Decode does (size and header checked
// before the body is read); errors name the file.
func DecodeFile(path string, opt DecodeOptions) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *PathError already names the file
	}
	defer f.Close()
	img, err := Decode(f, opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// readBounded reads all of r, failing once more than max bytes arrive (max < 0: no bound).
func readBounded(r io.Reader, max int64) ([]byte, error) {
	if max < 0 {
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("reading image: %w", err)
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading image: %w", err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: more than the limit of %s", ErrInputTooLarge, sizeString(max))
	}
	return b, nil
}

// Header is what an encoded image's header says, read by DecodeHeader without
// decoding pixels: its format and its dimensions before EXIF orientation.
type Header struct {
	image.Config
	Format string // "jpeg", "png", "gif", "webp", "bmp" or "tiff"
	f      format
	n      int // the length of the input it was read from
}

// DecodeHeader sniffs an encoded image's format and reads its header, decoding no
// pixels. Passed on in DecodeOptions.Header, it spares the decode reading it again.
func DecodeHeader(b []byte) (Header, error) {
	if len(b) == 0 {
		return Header{}, ErrEmpty
	}
	f, err := sniff(b)
	if err != nil {
		return Header{}, err
	}
	cfg, err := guard(f.name, func() (image.Config, error) { return f.decodeConfig(bytes.NewReader(b)) })
	if err != nil {
		return Header{Format: f.name}, fmt.Errorf("%s header: %w", f.name, err)
	}
	return Header{Config: cfg, Format: f.name, f: f, n: len(b)}, nil
}

// DecodeConfigBytes reports an encoded image's format and header dimensions (before
// EXIF orientation) without decoding pixels.
func DecodeConfigBytes(b []byte) (image.Config, string, error) {
	h, err := DecodeHeader(b)
	return h.Config, h.Format, err
}

// UprightSize is the size of an encoded image as Decode returns it at full scale:
// the header's width and height, swapped when the EXIF orientation turns the image
// a quarter turn. It decodes no pixels.
func UprightSize(b []byte) (image.Point, error) {
	cfg, name, err := DecodeConfigBytes(b)
	if err != nil {
		return image.Point{}, err
	}
	return UprightSizeOf(cfg, name, b), nil
}

// UprightSizeOf is UprightSize of b when its header (cfg, format, as
// DecodeConfigBytes reported them) was read before: it reads only the EXIF
// orientation.
func UprightSizeOf(cfg image.Config, format string, b []byte) image.Point {
	w, h := uprightSize(cfg.Width, cfg.Height, orientationOf(format, b))
	return image.Pt(w, h)
}

// decodeBytes is Decode on an in-memory input.
func decodeBytes(b []byte, opt DecodeOptions) (image.Image, error) {
	if err := opt.ctxErr(); err != nil {
		return nil, err
	}
	h := opt.Header
	if h == nil || h.f.decode == nil || h.n != len(b) {
		hb, err := DecodeHeader(b)
		if err != nil {
			return nil, err
		}
		h = &hb
	}
	cfg, name, f := h.Config, h.Format, h.f
	if err := checkSize(cfg.Width, cfg.Height, opt.maxPixels()); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := checkDecodeWork(name, b, cfg, opt.maxPixels()); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	o := orientationOf(name, b)
	decode := func() (image.Image, error) { return f.decode(bytes.NewReader(b)) }
	if name == formatJPEG.name {
		decode = func() (image.Image, error) { return decodeJPEG(b, cfg, o, opt) }
	}
	img, err := guard(name, decode)
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", name, err)
	}
	if img == nil || img.Bounds().Empty() {
		return nil, fmt.Errorf("decoding %s: image has no pixels", name)
	}
	return applyOrientation(img, o), nil
}

// checkSize applies the per-side and total pixel caps to header dimensions.
func checkSize(w, h, maxPixels int) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("invalid dimensions %dx%d", w, h)
	}
	if w > MaxSide || h > MaxSide {
		return fmt.Errorf("%w: %dx%d has a side longer than %d", ErrTooManyPixels, w, h, MaxSide)
	}
	if maxPixels > 0 && int64(w)*int64(h) > int64(maxPixels) {
		return fmt.Errorf("%w: %dx%d is %.1f MP, over the %.1f MP cap", ErrTooManyPixels, w, h,
			float64(w)*float64(h)/1e6, float64(maxPixels)/1e6)
	}
	return nil
}

// guard runs a third-party decoder, turning a panic into an error (gonum's "panic deep,
// error at the boundary"): codecs have panicked on crafted inputs before.
func guard[T any](name string, fn func() (T, error)) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			var zero T
			v, err = zero, fmt.Errorf("%s decoder panicked: %v", name, p)
		}
	}()
	return fn()
}
