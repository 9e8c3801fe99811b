package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// tagResponse is the 200 body of POST /v1/tag (DESIGN.md §5).
type tagResponse struct {
	Model     string      `json:"model"`
	RequestID string      `json:"request_id"`
	Results   []tagResult `json:"results"`
	TimingMS  timingMS    `json:"timing_ms"`
}

// tagResult is one image's answer.
type tagResult struct {
	Name   string `json:"name"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Tags   []Tag  `json:"tags"`
}

// timingMS splits a request's wall time: reading the body, decoding (and, for an
// engine that prepares its inputs, preprocessing), waiting in the
// batch queue and the engine batch (the longest of the request's images for the
// last two), and the total.
type timingMS struct {
	Read      float64 `json:"read"`
	Decode    float64 `json:"decode"`
	Queue     float64 `json:"queue"`
	Inference float64 `json:"inference"`
	Total     float64 `json:"total"`
	BatchSize int     `json:"batch_size"`
}

// pending is an image submitted to the batcher, awaiting its tags.
type pending struct {
	name          string
	width, height int
	job           *job
}

// parseSelection reads the threshold and top_k query parameters.
func parseSelection(q url.Values) (Selection, error) {
	var sel Selection
	if v := q.Get("threshold"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1 || f != f {
			return sel, errorf(http.StatusBadRequest, codeBadRequest, "threshold must be a number between 0 and 1, got %q", v)
		}
		sel.Threshold = &f
	}
	if v := q.Get("top_k"); v != "" {
		k, err := strconv.Atoi(v)
		if err != nil || k < 0 || k > 100000 {
			return sel, errorf(http.StatusBadRequest, codeBadRequest, "top_k must be a whole number ≥ 0, got %q", v)
		}
		sel.TopK = k
	}
	return sel, nil
}

// isRawImageType reports whether a raw body of media type mt is taken as one image:
// image/*, application/x-image (what the original endpoint took),
// application/octet-stream, or application/x-www-form-urlencoded (what
// `curl --data-binary @photo.jpg` sends unless told otherwise). The bytes are sniffed
// either way; a body that is not an image gets 415.
func isRawImageType(mt string) bool {
	return strings.HasPrefix(mt, "image/") || mt == "application/x-image" || mt == "application/octet-stream" ||
		mt == "application/x-www-form-urlencoded"
}

// handleTag is POST /v1/tag: one raw image body or a multipart form with image parts.
func (s *Server) handleTag(w http.ResponseWriter, r *http.Request) error {
	start := time.Now()
	if !s.ready.Load() {
		s.m.rejections.WithLabelValues("not_ready").Inc()
		return errorf(http.StatusServiceUnavailable, codeNotReady, "server is shutting down")
	}
	sel, err := parseSelection(r.URL.Query())
	if err != nil {
		return err
	}
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		return errorf(http.StatusUnsupportedMediaType, codeUnsupportedMedia,
			"send the photo as the body with Content-Type image/jpeg (or another image/*), or as multipart/form-data with an \"image\" field; got Content-Type %q", ct)
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		// Refused before reading anything, so a client that asked for
		// `100 Continue` is not sent it and sends nothing.
		s.m.rejections.WithLabelValues("body_too_large").Inc()
		return errorf(http.StatusRequestEntityTooLarge, codePayloadTooLarge,
			"request body of %d bytes is larger than the limit of %d bytes", r.ContentLength, s.cfg.MaxBodyBytes)
	}
	var t timingMS
	// Read every image before taking queue slots; then admit them all at once.
	br := s.newBodyReader(w, r)
	defer br.release()
	readStart := time.Now()
	var uploads []upload
	switch {
	case mt == "multipart/form-data":
		uploads, err = s.readMultipart(br, params["boundary"])
	case isRawImageType(mt):
		uploads, err = s.readRaw(r, br)
	default:
		return errorf(http.StatusUnsupportedMediaType, codeUnsupportedMedia,
			"Content-Type %q is not an image: use image/* (e.g. image/jpeg), application/x-image, or multipart/form-data", mt)
	}
	t.Read = msSince(readStart)
	if err != nil {
		return err
	}
	br.finish()
	for i := range uploads {
		if uploads[i].hdr, err = s.checkUpload(uploads[i]); err != nil {
			return err
		}
	}
	if err := s.admit(len(uploads)); err != nil {
		return err
	}
	// On an error after some images were queued, their jobs still run and release
	// their budget; nothing has to be undone here but the slots never used.
	pend := make([]pending, 0, len(uploads))
	for i, u := range uploads {
		p, err := s.submitImage(r.Context(), u, sel, &t)
		if err != nil {
			s.batch.unreserve(len(uploads) - i - 1)
			return err
		}
		pend = append(pend, p)
	}
	resp := tagResponse{RequestID: requestID(r.Context()), Results: make([]tagResult, len(pend)), TimingMS: t}
	for i, p := range pend {
		var res jobResult
		select {
		case res = <-p.job.done:
		case <-r.Context().Done():
			return contextError(r.Context())
		}
		if res.err != nil {
			if ctxErr := r.Context().Err(); ctxErr != nil {
				return contextError(r.Context())
			}
			return res.err
		}
		tags, err := roundTags(res.tags)
		if err != nil {
			return err
		}
		resp.Model = res.model
		resp.Results[i] = tagResult{Name: p.name, Width: p.width, Height: p.height, Tags: tags}
		resp.TimingMS.Queue = max(resp.TimingMS.Queue, ms(res.wait))
		resp.TimingMS.Inference = max(resp.TimingMS.Inference, ms(res.inference))
		resp.TimingMS.BatchSize = max(resp.TimingMS.BatchSize, res.batch)
	}
	resp.TimingMS.Total = msSince(start)
	resp.TimingMS.round()
	return writeJSONChecked(w, http.StatusOK, &resp)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// scoreDecimals and timingDecimals are the precision of scores and milliseconds in
// API answers: more digits than these are float noise, not information.
const (
	scoreDecimals  = 4
	timingDecimals = 2
)

// roundTo rounds v to d decimals.
func roundTo(v float64, d int) float64 {
	p := math.Pow10(d)
	return math.Round(v*p) / p
}

// roundTags rounds each score to scoreDecimals (into a new slice), refusing a score
// that is not a finite number in [0, 1]: an engine that produced one is broken,
// and the client must get an error, not a misleading or unencodable answer.
func roundTags(tags []Tag) ([]Tag, error) {
	out := make([]Tag, len(tags))
	for i, t := range tags {
		if math.IsNaN(t.Score) || math.IsInf(t.Score, 0) || t.Score < 0 || t.Score > 1 {
			return nil, fmt.Errorf("engine selected tag %q with score %v, not a probability", t.Label, t.Score)
		}
		out[i] = Tag{Label: t.Label, Score: roundTo(t.Score, scoreDecimals)}
	}
	return out, nil
}

// round rounds every duration to timingDecimals.
func (t *timingMS) round() {
	for _, v := range []*float64{&t.Read, &t.Decode, &t.Queue, &t.Inference, &t.Total} {
		*v = roundTo(*v, timingDecimals)
	}
}

// contextError turns the end of a request's context into 504 (our deadline) or 499
// (the client went away).
func contextError(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return wrapErr(http.StatusGatewayTimeout, codeTimeout, ctx.Err(), "request took longer than the server's deadline")
	}
	return wrapErr(499, codeClientGone, ctx.Err(), "client closed the request")
}

// admit reserves n queue slots, refusing at once when the queue is full.
func (s *Server) admit(n int) error {
	switch err := s.batch.admit(n); {
	case errors.Is(err, errQueueFull):
		s.m.rejections.WithLabelValues("queue_full").Inc()
		e := errorf(http.StatusServiceUnavailable, codeOverloaded, "server is at capacity; retry shortly")
		e.retryAfter = 1
		return e
	case err != nil:
		s.m.rejections.WithLabelValues("not_ready").Inc()
		return wrapErr(http.StatusServiceUnavailable, codeNotReady, err, "server is shutting down")
	}
	return nil
}

// readError maps a body read error to 413 (body limit), 408 (timeout) or 400.
func (s *Server) readError(err error, what string) error {
	switch {
	case errors.Is(err, errBodyTooLarge):
		s.m.rejections.WithLabelValues("body_too_large").Inc()
		return errorf(http.StatusRequestEntityTooLarge, codePayloadTooLarge, "request body is larger than the limit of %d bytes", s.cfg.MaxBodyBytes)
	case errorIsTimeout(err):
		return wrapErr(http.StatusRequestTimeout, codeTimeout, err, "timed out reading %s", what)
	default:
		return wrapErr(http.StatusBadRequest, codeBadRequest, err, "cannot read %s", what)
	}
}

// upload is one image read from a request, not yet admitted; hdr is its header,
// once checkUpload has read it.
type upload struct {
	name string
	data []byte
	hdr  header
}

// readRaw reads a raw image body.
func (s *Server) readRaw(r *http.Request, br *bodyReader) ([]upload, error) {
	data, err := br.read(br.body, r.ContentLength, "the request body")
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, errorf(http.StatusBadRequest, codeBadRequest, "empty request body: send the image bytes")
	}
	return []upload{{name: "image", data: data}}, nil
}

// submitImage decodes one image on a reserved slot and queues it.
func (s *Server) submitImage(ctx context.Context, u upload, sel Selection, t *timingMS) (pending, error) {
	name := u.name
	decStart := time.Now()
	j, size, err := s.decodeUpload(ctx, u)
	t.Decode += msSince(decStart)
	if err != nil {
		s.batch.unreserve(1)
		return pending{}, err
	}
	j.ctx, j.sel = ctx, sel
	if err := s.batch.submit(j); err != nil {
		if j.release != nil {
			j.release()
		}
		s.batch.unreserve(1)
		return pending{}, wrapErr(http.StatusServiceUnavailable, codeNotReady, err, "server is shutting down")
	}
	return pending{name: name, width: size.X, height: size.Y, job: j}, nil
}

// readMultipart reads multipart/form-data: every part named "image" is an image;
// other parts are read and dropped; more than MaxParts parts in all is refused.
func (s *Server) readMultipart(br *bodyReader, boundary string) ([]upload, error) {
	if boundary == "" {
		return nil, errorf(http.StatusBadRequest, codeBadRequest, "malformed multipart/form-data request: no boundary in the Content-Type")
	}
	mr := multipart.NewReader(br.body, boundary)
	var uploads []upload
	parts := 0
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, s.readError(err, "the multipart/form-data body")
		}
		parts++
		if parts > s.cfg.MaxParts {
			s.m.rejections.WithLabelValues("too_many_parts").Inc()
			return nil, errorf(http.StatusRequestEntityTooLarge, codeTooManyParts, "more than %d parts in the multipart body", s.cfg.MaxParts)
		}
		if part.FormName() != "image" {
			if _, err := br.read(part, -1, "a multipart part"); err != nil {
				return nil, err
			}
			continue
		}
		name := uploadName(part.FileName())
		data, err := br.read(part, -1, "an image part")
		if err != nil {
			return nil, err
		}
		if len(data) == 0 {
			return nil, errorf(http.StatusBadRequest, codeBadRequest, "%s: empty image part", name)
		}
		uploads = append(uploads, upload{name: name, data: data})
	}
	if len(uploads) == 0 {
		return nil, errorf(http.StatusBadRequest, codeBadRequest, "no \"image\" part in the multipart/form-data body")
	}
	return uploads, nil
}

// maxNameBytes bounds an upload's file name as echoed in answers and logs.
const maxNameBytes = 255

// uploadName is the name an image part is answered and logged under: its file name
// (the client's, so untrusted) with characters that are not visible text (controls
// such as newlines and ESC, invisible formatting such as right-to-left overrides)
// replaced by U+FFFD and cut to maxNameBytes, so that a part header of megabytes or
// of terminal escapes is not repeated into every answer and log line; "image" when
// it has none.
func uploadName(fn string) string {
	if fn == "" {
		return "image"
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(fn, "\uFFFD") {
		if !unicode.IsGraphic(r) && r != ' ' {
			r = unicode.ReplacementChar
		}
		if b.Len()+utf8.RuneLen(r) > maxNameBytes {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
