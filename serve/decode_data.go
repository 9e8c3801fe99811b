package serve

import (
	"context"
	"errors"
	"image"

	"github.com/autotag/autotag"
	"github.com/autotag/autotag/data"
)

// defaultMaxPixels is the per-image pixel cap unless Config.MaxPixels says otherwise.
const defaultMaxPixels = data.DefaultMaxPixels

// defaultDecodeBytesContext is data.DecodeBytes (format sniffing, pixel cap before
// decoding, EXIF orientation, first frame) of a body already in memory and bounded
// by MaxBodyBytes, without copying it, stopped by ctx (the request's context: its
// deadline, a client that went away), from b's header h when it was read before
// (nil: read it). The server decodes with it when Config.Decode is left nil and
// the engine has no Decoder.
func defaultDecodeBytesContext(ctx context.Context, b []byte, h *header, maxPixels int) (image.Image, error) {
	return data.DecodeBytes(b, data.DecodeOptions{MaxPixels: maxPixels, MaxBytes: -1, Context: ctx, Header: dataHeader(h)})
}

// isTooMuchWork reports a JPEG refused for the decoding work it asks for.
func isTooMuchWork(err error) bool { return errors.Is(err, data.ErrTooMuchWork) }

// header is what an upload's header says, parsed once by checkUpload and handed
// down with the upload to its decode: format, dimensions (data.Header, which the
// decoder takes instead of reading the header again), and the bytes its decode
// needs at its peak (decodeMemory).
type header struct {
	data.Header
	need int64
}

// headerFunc reads an upload's header: decodeHeader, or a test's wrapper of it.
type headerFunc = func(b []byte) (data.Header, error)

// decodeHeader reads an upload's format and dimensions without decoding pixels.
func decodeHeader(b []byte) (data.Header, error) { return data.DecodeHeader(b) }

// headerDecoder is a Decoder that takes the header the server already read, so
// that it does not read it again (*autotag.Tagger's DecodeBytesHeader).
type headerDecoder interface {
	DecodeBytesHeader(ctx context.Context, b []byte, h *data.Header) (image.Image, error)
}

// *autotag.Tagger decodes an upload from the header the server read.
var _ headerDecoder = (*autotag.Tagger)(nil)

// dataHeader is h's data.Header, nil for none.
func dataHeader(h *header) *data.Header {
	if h == nil {
		return nil
	}
	return &h.Header
}

func isTooManyPixels(err error) bool { return errors.Is(err, data.ErrTooManyPixels) }

func isUnsupportedFormat(err error) bool {
	return errors.Is(err, data.ErrUnsupportedFormat) || errors.Is(err, image.ErrFormat)
}

func isEmptyImage(err error) bool { return errors.Is(err, data.ErrEmpty) }

// maxSide is the longest image side accepted, whatever the pixel count.
const maxSide = data.MaxSide

// uprightSize is the size of encoded image b, of header h, as a full decode
// returns it (the header's dimensions after the EXIF orientation).
func uprightSize(h header, b []byte) image.Point { return data.UprightSizeOf(h.Config, h.Format, b) }
