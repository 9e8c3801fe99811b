package serve

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
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
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		return errorf(http.StatusUnsupportedMediaType, codeUnsupportedMedia,
			"send the photo as the body with Content-Type image/jpeg (or another image/*), or as multipart/form-data with an \"image\" field; got Content-Type %q", ct)
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	var t timingMS
	// On an error after some images were queued, their jobs still run and release
	// their budget; nothing has to be undone here.
	var pend []pending
	switch {
	case mt == "multipart/form-data":
		pend, err = s.readMultipart(r, sel, &t)
	case isRawImageType(mt):
		var p pending
		p, err = s.readRaw(r, sel, &t)
		if err == nil {
			pend = []pending{p}
		}
	default:
		return errorf(http.StatusUnsupportedMediaType, codeUnsupportedMedia,
			"Content-Type %q is not an image: use image/* (e.g. image/jpeg), application/x-image, or multipart/form-data", mt)
	}
	if err != nil {
		return err
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
		resp.Model = res.model
		resp.Results[i] = tagResult{Name: p.name, Width: p.width, Height: p.height, Tags: res.tags}
		resp.TimingMS.Queue = max(resp.TimingMS.Queue, ms(res.wait))
		resp.TimingMS.Inference = max(resp.TimingMS.Inference, ms(res.inference))
		resp.TimingMS.BatchSize = max(resp.TimingMS.BatchSize, res.batch)
	}
	resp.TimingMS.Total = msSince(start)
	writeJSON(w, http.StatusOK, &resp)
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// contextError turns the end of a request's context into 504 (our deadline) or 499
// (the client went away).
func contextError(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return wrapErr(http.StatusGatewayTimeout, codeTimeout, ctx.Err(), "request took longer than the server's deadline")
	}
	return wrapErr(499, codeClientGone, ctx.Err(), "client closed the request")
}

// admit reserves one queue slot, refusing at once when the queue is full.
func (s *Server) admit() error {
	switch err := s.batch.admit(1); {
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

// readBody reads all of rd, mapping the body limit to 413 and timeouts to 408.
func (s *Server) readBody(rd io.Reader, what string) ([]byte, error) {
	data, err := io.ReadAll(rd)
	if err == nil {
		return data, nil
	}
	return nil, s.readError(err, what)
}

// readError maps a body read error to 413 (body limit), 408 (timeout) or 400.
func (s *Server) readError(err error, what string) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		s.m.rejections.WithLabelValues("body_too_large").Inc()
		return errorf(http.StatusRequestEntityTooLarge, codePayloadTooLarge, "request body is larger than the limit of %d bytes", mbe.Limit)
	case errorIsTimeout(err):
		return wrapErr(http.StatusRequestTimeout, codeTimeout, err, "timed out reading %s", what)
	default:
		return wrapErr(http.StatusBadRequest, codeBadRequest, err, "cannot read %s", what)
	}
}

// readRaw handles a raw image body.
func (s *Server) readRaw(r *http.Request, sel Selection, t *timingMS) (pending, error) {
	if err := s.admit(); err != nil {
		return pending{}, err
	}
	readStart := time.Now()
	data, err := s.readBody(r.Body, "the request body")
	t.Read = msSince(readStart)
	if err != nil {
		s.batch.unreserve(1)
		return pending{}, err
	}
	if len(data) == 0 {
		s.batch.unreserve(1)
		return pending{}, errorf(http.StatusBadRequest, codeBadRequest, "empty request body: send the image bytes")
	}
	return s.submitImage(r.Context(), data, "image", sel, t)
}

// submitImage decodes one image on a reserved slot and queues it.
func (s *Server) submitImage(ctx context.Context, raw []byte, name string, sel Selection, t *timingMS) (pending, error) {
	decStart := time.Now()
	j, size, err := s.decodeUpload(ctx, raw, name)
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

// readMultipart handles multipart/form-data: every part named "image" is an image;
// other parts are skipped; more than MaxParts parts in all is refused.
func (s *Server) readMultipart(r *http.Request, sel Selection, t *timingMS) ([]pending, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, wrapErr(http.StatusBadRequest, codeBadRequest, err, "malformed multipart/form-data request")
	}
	var pend []pending
	parts := 0
	readStart := time.Now()
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
			if _, err := s.readBody(part, "a multipart part"); err != nil {
				return nil, err
			}
			continue
		}
		name := part.FileName()
		if name == "" {
			name = "image"
		}
		if err := s.admit(); err != nil {
			return nil, err
		}
		data, err := s.readBody(part, "an image part")
		if err != nil {
			s.batch.unreserve(1)
			return nil, err
		}
		if len(data) == 0 {
			s.batch.unreserve(1)
			return nil, errorf(http.StatusBadRequest, codeBadRequest, "%s: empty image part", name)
		}
		p, err := s.submitImage(r.Context(), data, name, sel, t)
		if err != nil {
			return nil, err
		}
		pend = append(pend, p)
	}
	t.Read = msSince(readStart) - t.Decode
	if len(pend) == 0 {
		return nil, errorf(http.StatusBadRequest, codeBadRequest, "no \"image\" part in the multipart/form-data body")
	}
	return pend, nil
}
