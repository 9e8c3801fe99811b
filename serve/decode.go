package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"net/http"
	"runtime/debug"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/autotag/autotag"
	"github.com/autotag/autotag/data/jpeg"
)

// DecodeFunc decodes one uploaded image, refusing images of more than maxPixels
// pixels before decoding them. Left nil in Config, the server decodes with the
// engine's Decoder when it has one, else with data.DecodeBytes.
//
// RequestContext(r) is the context of the request the upload came with: a decoder
// should stop when it is done (the request's deadline, a client that went away),
// because the server holds one of its DecodeConcurrency slots until the function
// returns. Returning an error that wraps the context's error then answers 504.
type DecodeFunc func(r io.Reader, maxPixels int) (image.Image, error)

// RequestContext returns the context of the request whose upload r is, when r is
// the reader the server hands a DecodeFunc; for any other reader,
// context.Background(). It lets a custom decoder honour the request's deadline
// without a change to DecodeFunc's signature.
func RequestContext(r io.Reader) context.Context {
	if u, ok := r.(*uploadReader); ok {
		return u.ctx
	}
	return context.Background()
}

// uploadReader is an upload as a DecodeFunc reads it (a *bytes.Reader, with its
// Seek and ReadAt), carrying its request's context.
type uploadReader struct {
	*bytes.Reader
	ctx context.Context
}

// byteBudget bounds bytes held at once by all requests together: decoded images
// (decoding, queued or in a batch) and request bodies (from receiving to the
// answer). A request that cannot get its share at once is refused with 503 instead
// of pushing the process into swap: this, not the per-request caps alone, is what
// keeps a flood of decompression bombs or large uploads within a fixed memory.
type byteBudget struct {
	mu    sync.Mutex
	used  int64
	max   int64
	gauge prometheus.Gauge // the bytes in use, exported; nil for none
}

// tryAcquire takes n bytes of budget if they are free now.
func (b *byteBudget) tryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return false
	}
	b.used += n
	b.report()
	return true
}

// release gives back n bytes.
func (b *byteBudget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.report()
	b.mu.Unlock()
}

// report exports the bytes in use; b.mu is held.
func (b *byteBudget) report() {
	if b.gauge != nil {
		b.gauge.Set(float64(b.used))
	}
}

// decodedSize estimates the bytes a decoded image of cfg takes (and what
// preprocessing may copy): 8 per pixel for 16-bit colour models, 4 otherwise.
func decodedSize(cfg image.Config) int64 {
	bpp := int64(4)
	switch cfg.ColorModel {
	case color.RGBA64Model, color.NRGBA64Model, color.Gray16Model:
		bpp = 8
	}
	return int64(cfg.Width) * int64(cfg.Height) * bpp
}

// decodeMemory is what decoding data (of header cfg) holds at its peak: the
// decoded image, plus a progressive JPEG's coefficients, which the decoder keeps
// for the whole frame until its last scan.
func decodeMemory(data []byte, cfg image.Config, format string) int64 {
	need := decodedSize(cfg)
	if format == "jpeg" {
		need += jpeg.CoefficientBytes(data)
	}
	return need
}

// checkUpload parses the header of one uploaded image, once, and applies every
// check the header allows before any decoding: the format, the pixel and per-side
// caps, and the memory its decode needs against the whole decode budget. The
// header it returns travels with the upload down to decodeUpload.
func (s *Server) checkUpload(u upload) (header, error) {
	name := u.name
	dh, err := s.headerOf(u.data)
	cfg, format := dh.Config, dh.Format
	switch {
	case err == nil:
	case isEmptyImage(err):
		return header{}, errorf(http.StatusBadRequest, codeBadRequest, "%s: empty image", name)
	case isUnsupportedFormat(err):
		return header{}, wrapErr(http.StatusUnsupportedMediaType, codeUnsupportedMedia, err,
			"%s: not an image in a supported format (JPEG, PNG, GIF, WebP, BMP, TIFF): %v", name, err)
	default:
		return header{}, wrapErr(http.StatusUnprocessableEntity, codeInvalidImage, err, "%s: cannot read the image header (%v)", name, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return header{}, errorf(http.StatusUnprocessableEntity, codeInvalidImage, "%s: image has no pixels (%dx%d)", name, cfg.Width, cfg.Height)
	}
	if cfg.Width > maxSide || cfg.Height > maxSide {
		// Named for the side: such an image may well be under the pixel cap
		// (1,000,000×1), so the pixel count is not the reason.
		s.m.rejections.WithLabelValues("too_many_pixels").Inc()
		return header{}, errorf(http.StatusRequestEntityTooLarge, codeImageTooLarge,
			"%s: %dx%d %s image has a side longer than the limit of %d pixels per side", name, cfg.Width, cfg.Height, format, maxSide)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > int64(s.maxPixels) {
		s.m.rejections.WithLabelValues("too_many_pixels").Inc()
		return header{}, errorf(http.StatusRequestEntityTooLarge, codeImageTooLarge,
			"%s: %dx%d %s image has %d pixels, more than the limit of %d", name, cfg.Width, cfg.Height, format, px, s.maxPixels)
	}
	h := header{Header: dh, need: decodeMemory(u.data, cfg, format)}
	if h.need > s.budget.max {
		s.m.rejections.WithLabelValues("too_many_pixels").Inc()
		return header{}, errorf(http.StatusRequestEntityTooLarge, codeImageTooLarge,
			"%s: %dx%d %s image needs about %.1f MB to decode, more than the server's decode budget of %.1f MB (--decode-budget)", name, cfg.Width, cfg.Height, format, float64(h.need)/(1<<20), float64(s.budget.max)/(1<<20))
	}
	return h, nil
}

// decodeUpload takes the share of the decode budget that u's header (checked by
// checkUpload) asks for and decodes u with the server's decoder under a recover,
// so no decoder bug can take the server down; when the engine is a Preparer it also
// preprocesses the image and gives the budget back at once. It returns the job to
// queue (its release, if still set, must be called once the image is no longer
// used) and the image's size as the client knows it.
//
// At most DecodeConcurrency images decode at once: a CPU-bound decoder per core is
// as fast as more, and keeps the scheduler's run queue short, so new connections
// (and the 503s that refuse them) are not stuck behind dozens of decoding goroutines.
func (s *Server) decodeUpload(ctx context.Context, u upload) (j *job, size image.Point, err error) {
	data, name, need := u.data, u.name, u.hdr.need
	if !s.budget.tryAcquire(need) {
		s.m.rejections.WithLabelValues("decode_budget").Inc()
		e := errorf(http.StatusServiceUnavailable, codeOverloaded, "server is busy decoding other images; retry shortly")
		e.retryAfter = 1
		return nil, size, e
	}
	var once sync.Once
	release := func() { once.Do(func() { s.budget.release(need) }) }
	select {
	case s.decoders <- struct{}{}:
	case <-ctx.Done():
		release()
		return nil, size, contextError(ctx)
	}
	slot := s.engine.Load()
	img, by, err := s.safeDecode(ctx, data, &u.hdr, slot)
	if err != nil {
		<-s.decoders
		release()
		if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			return nil, size, contextError(ctx) // the request's deadline or its client stopped the decode
		}
		return nil, size, s.classifyDecodeError(err, name)
	}
	size = img.Bounds().Size()
	if by != nil { // the size the client knows: an engine's decoder may reduce the image
		size = uprightSize(u.hdr, data)
	}
	j = &job{img: img, decodedFor: by, raw: data, hdr: &u.hdr, release: release}
	// Preprocess now, in this goroutine, and keep only the model input.
	if prepared, err := j.prepare(slot); err != nil {
		<-s.decoders
		release()
		return nil, size, wrapErr(http.StatusUnprocessableEntity, codeInvalidImage, err, "%s: cannot preprocess the image: %v", name, err)
	} else if prepared {
		release()
		j.release = nil
	}
	<-s.decoders
	return j, size, nil
}

// prepare turns j's decoded image into the model input of slot's engine when that
// engine is a Preparer, under a recover, and drops the image; for any other engine
// the image is what it runs on, and stays. prepared reports whether it did.
func (j *job) prepare(slot *engineSlot) (prepared bool, err error) {
	p, ok := slot.e.(Preparer)
	if !ok {
		return false, nil
	}
	defer func() {
		if r := recover(); r != nil {
			prepared, err = false, fmt.Errorf("preprocessing panicked: %v", r)
		}
	}()
	in, err := p.Prepare(j.img)
	if err != nil {
		return false, err
	}
	j.in, j.inFor, j.img = in, slot, nil
	return true, nil
}

// ContextDecoder is a Decoder whose decoding a context can stop, as
// autotag.Tagger's DecodeBytesContext. The server passes each request's context, so
// that its deadline, or a client that goes away, stops the decode and frees the
// decode slot.
type ContextDecoder interface {
	DecodeBytesContext(ctx context.Context, b []byte) (image.Image, error)
}

// *autotag.Tagger stops its decodes with the request's context.
var _ ContextDecoder = (*autotag.Tagger)(nil)

// decodeFunc decodes an upload's bytes, of header h (nil: not read yet), for engine
// e; forEngine reports an image only fit for e (its Decoder's), which another
// engine must not be given.
type decodeFunc func(ctx context.Context, data []byte, h *header, e Engine) (img image.Image, forEngine bool, err error)

// newDecodeFunc is the server's one decoder, chosen at New: Config.Decode when set
// (ctx reaches it through RequestContext), else the engine's Decoder when the engine
// has one (with ctx when it is a ContextDecoder, and the header already read when it
// takes one), else the default, stopped by ctx and given the header already read.
// Every header check was done by checkUpload before.
func newDecodeFunc(custom DecodeFunc, maxPixels int) decodeFunc {
	if custom != nil {
		return func(ctx context.Context, data []byte, _ *header, _ Engine) (image.Image, bool, error) {
			img, err := custom(&uploadReader{Reader: bytes.NewReader(data), ctx: ctx}, maxPixels)
			return img, false, err
		}
	}
	return func(ctx context.Context, data []byte, h *header, e Engine) (image.Image, bool, error) {
		if d, ok := e.(Decoder); ok {
			var img image.Image
			var err error
			if hd, ok := e.(headerDecoder); ok {
				img, err = hd.DecodeBytesHeader(ctx, data, dataHeader(h))
			} else if cd, ok := e.(ContextDecoder); ok {
				img, err = cd.DecodeBytesContext(ctx, data)
			} else {
				img, err = d.DecodeBytes(data)
			}
			return img, true, err
		}
		img, err := defaultDecodeBytesContext(ctx, data, h, maxPixels)
		return img, false, err
	}
}

// safeDecode runs the server's decoder on data, of header h (nil: not read yet),
// for the engine in slot under a recover; by is slot when the image is only fit
// for that engine, else nil.
func (s *Server) safeDecode(ctx context.Context, data []byte, h *header, slot *engineSlot) (img image.Image, by *engineSlot, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("image decoder panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			img, by, err = nil, nil, fmt.Errorf("%w: decoder panicked: %v", errCorrupt, p)
		}
	}()
	img, forEngine, err := s.decode(ctx, data, h, slot.e)
	if err == nil && forEngine {
		by = slot
	}
	return img, by, err
}

// errCorrupt marks a decoder failure on malformed data.
var errCorrupt = errors.New("corrupt image")

// classifyDecodeError maps a decoder error to 413 (too many pixels), 415
// (unsupported format) or 422 (corrupt or truncated data, or more decoding work
// than the limits allow).
func (s *Server) classifyDecodeError(err error, name string) error {
	switch {
	case isTooMuchWork(err):
		s.m.rejections.WithLabelValues("too_much_work").Inc()
		return wrapErr(http.StatusUnprocessableEntity, codeInvalidImage, err,
			"%s: the image asks for more decoding work than the server allows (%v)", name, err)
	case isTooManyPixels(err):
		s.m.rejections.WithLabelValues("too_many_pixels").Inc()
		return wrapErr(http.StatusRequestEntityTooLarge, codeImageTooLarge, err, "%s: image is too large", name)
	case isUnsupportedFormat(err):
		return wrapErr(http.StatusUnsupportedMediaType, codeUnsupportedMedia, err, "%s: unsupported image format", name)
	default:
		return wrapErr(http.StatusUnprocessableEntity, codeInvalidImage, err, "%s: cannot decode the image (%v)", name, err)
	}
}
