package serve

import (
	"context"
	"errors"
	"image"
	"io"

	"github.com/autotag/autotag/data"
)

// defaultMaxPixels is the per-image pixel cap unless Config.MaxPixels says otherwise.
const defaultMaxPixels = data.DefaultMaxPixels

// defaultDecode is data.Decode (format sniffing, pixel cap before decoding, EXIF
// orientation, first frame); the body is already bounded by MaxBodyBytes.
func defaultDecode(r io.Reader, maxPixels int) (image.Image, error) {
	return data.Decode(r, data.DecodeOptions{MaxPixels: maxPixels, MaxBytes: -1})
}

// defaultDecodeBytesContext is defaultDecode of a body already in memory
// (data.DecodeBytes, which does not copy it), stopped by ctx (the request's
// context: its deadline, a client that went away); the server decodes with it
// when Config.Decode is left nil and the engine has no Decoder.
func defaultDecodeBytesContext(ctx context.Context, b []byte, maxPixels int) (image.Image, error) {
	return data.DecodeBytes(b, data.DecodeOptions{MaxPixels: maxPixels, MaxBytes: -1, Context: ctx})
}

// isTooMuchWork reports a JPEG refused for the decoding work it asks for.
func isTooMuchWork(err error) bool { return errors.Is(err, data.ErrTooMuchWork) }

// header is what an upload's header says, parsed once by checkUpload and handed
// down with the upload to its decode: format, dimensions, and the bytes its
// decode needs at its peak (decodeMemory).
type header struct {
	cfg    image.Config
	format string
	need   int64
}

// decodeHeader reads an upload's format and dimensions without decoding pixels.
func decodeHeader(b []byte) (image.Config, string, error) { return data.DecodeConfigBytes(b) }

func isTooManyPixels(err error) bool { return errors.Is(err, data.ErrTooManyPixels) }

func isUnsupportedFormat(err error) bool {
	return errors.Is(err, data.ErrUnsupportedFormat) || errors.Is(err, image.ErrFormat)
}

func isEmptyImage(err error) bool { return errors.Is(err, data.ErrEmpty) }

// maxSide is the longest image side accepted, whatever the pixel count.
const maxSide = data.MaxSide

// uprightSize is the size of encoded image b, of header h, as a full decode
// returns it (the header's dimensions after the EXIF orientation).
func uprightSize(h header, b []byte) image.Point { return data.UprightSizeOf(h.cfg, h.format, b) }
