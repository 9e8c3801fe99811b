package serve

import (
	"errors"
	"io"
	"net/http"
	"time"
)

// Reading an upload happens before it takes a queue slot (admit): a client that
// sends its body slowly holds only its own connection and the bytes it has sent, so
// slow clients cannot fill the queue and make every other request 503. What bounds
// them instead:
//   - a declared Content-Length over MaxBodyBytes is refused (413) before a byte is
//     read, so no `100 Continue` is sent;
//   - the body must arrive within BodyGrace plus one second per MinBodyRate bytes
//     (and within ReadTimeout in all), else 408;
//   - the body bytes held by all requests at once, from reading to the answer, are
//     capped by ReadBudgetBytes, else 503.
//
// A request refused with its body unread is answered with "Connection: close", and
// the rest of its body is read and dropped (up to lingerMaxBytes, for lingerTimeout)
// before the connection closes: closing a socket with unread data in it sends a TCP
// reset, which can destroy the answer before the client reads it.

// lingerMaxBytes and lingerTimeout bound how much of a refused body is read and
// dropped after the answer went out.
const (
	lingerMaxBytes = 64 << 20
	lingerTimeout  = 5 * time.Second
)

// readChunk is the size of one read from the body.
const readChunk = 64 << 10

// trackedBody wraps a request body to know whether it was read to the end.
type trackedBody struct {
	io.ReadCloser
	n   int64
	eof bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

// bodyUnread reports whether r, an HTTP/1 request, may still have body bytes the
// handler did not read. (HTTP/2 ends a refused stream without touching the
// connection, so nothing needs reading there.)
func bodyUnread(r *http.Request) bool {
	if r.ProtoMajor != 1 || r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return false
	}
	tb, ok := r.Body.(*trackedBody)
	return ok && !tb.eof
}

// linger reads and drops the rest of a refused request's body, bounded in bytes and
// time, so that closing the connection afterwards does not reset it under the
// client's feet. A client that asked for `100 Continue` and was never sent it is not
// waited for: it sends no body.
func (s *Server) linger(w http.ResponseWriter, r *http.Request) {
	tb, ok := r.Body.(*trackedBody)
	if !ok || tb.eof {
		return
	}
	if tb.n == 0 && r.Header.Get("Expect") != "" {
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	_ = rc.SetReadDeadline(time.Now().Add(lingerTimeout))
	_, _ = io.CopyN(io.Discard, tb.ReadCloser, lingerMaxBytes)
}

// bodyReader reads a request's body (or its parts) under the size limit, the read
// budget and a deadline that moves with the bytes received: BodyGrace plus one
// second per MinBodyRate bytes, never past ReadTimeout from the start. Its held
// budget is given back by release, once the request is answered.
type bodyReader struct {
	s      *Server
	rc     *http.ResponseController
	start  time.Time
	hard   time.Time // ReadTimeout from the start
	body   io.Reader // the request body, metered: every byte counts, boundaries and part headers too
	wire   int64     // bytes of the body received so far
	total  int64     // bytes of images and other parts kept so far
	held   int64     // read budget held
	closed bool
}

// errBodyTooLarge is returned by a metered body past MaxBodyBytes.
var errBodyTooLarge = errors.New("request body is too large")

// meteredBody counts every byte of a request body against MaxBodyBytes and moves
// the read deadline as they arrive.
type meteredBody struct {
	br *bodyReader
	r  io.Reader
}

func (m *meteredBody) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	br := m.br
	br.wire += int64(n)
	if br.wire > br.s.cfg.MaxBodyBytes {
		return n, errBodyTooLarge
	}
	if n > 0 {
		br.extend()
	}
	return n, err
}

func (s *Server) newBodyReader(w http.ResponseWriter, r *http.Request) *bodyReader {
	now := time.Now()
	limit := s.cfg.ReadTimeout
	// The deadline set here replaces the http.Server's: keep its ReadTimeout too
	// when the handler runs in another server than Serve's.
	if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok && srv.ReadTimeout > 0 {
		limit = min(limit, srv.ReadTimeout)
	}
	br := &bodyReader{s: s, rc: http.NewResponseController(w), start: now, hard: now.Add(limit)}
	br.body = &meteredBody{br: br, r: r.Body}
	br.extend()
	return br
}

// extend moves the connection's read deadline for the bytes received so far.
func (br *bodyReader) extend() {
	d := br.start.Add(br.s.cfg.BodyGrace)
	if br.s.cfg.MinBodyRate > 0 {
		d = d.Add(time.Duration(float64(br.wire) / float64(br.s.cfg.MinBodyRate) * float64(time.Second)))
	}
	if d.After(br.hard) {
		d = br.hard
	}
	_ = br.rc.SetReadDeadline(d) // unsupported on recorders in tests: the server's ReadTimeout still applies
}

// errReadBudget is returned when the bodies being read at once use up the budget.
var errReadBudget = errors.New("read budget exhausted")

// read reads all of rd (br.body, or one part read from it): at most MaxBodyBytes
// over the whole request, sized up front by hint (the declared length) when known.
// Errors are apiErrors: 413 over the limit, 408 too slow, 503 over the read budget,
// 400 else.
func (br *bodyReader) read(rd io.Reader, hint int64, what string) ([]byte, error) {
	limit := br.s.cfg.MaxBodyBytes - br.total
	size := int64(readChunk)
	if hint > 0 && hint <= limit {
		size = hint + 1 // +1: the read that sees EOF
	}
	if !br.grow(min(size, limit+1)) {
		return nil, br.budgetError()
	}
	buf := make([]byte, 0, min(size, limit+1))
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit {
				return nil, br.tooLarge()
			}
			// Double (by a chunk at least), never past the limit + 1 byte.
			grow := min(max(int64(cap(buf)), readChunk), limit+1-int64(cap(buf)))
			if !br.grow(grow) {
				return nil, br.budgetError()
			}
			buf = append(buf[:cap(buf)], make([]byte, grow)...)[:len(buf)]
		}
		n, err := rd.Read(buf[len(buf):min(cap(buf), len(buf)+readChunk)])
		buf = buf[:len(buf)+n]
		br.total += int64(n)
		if err == io.EOF {
			if int64(len(buf)) > limit {
				return nil, br.tooLarge()
			}
			return buf, nil
		}
		if err != nil {
			return nil, br.s.readError(err, what)
		}
	}
}

func (br *bodyReader) tooLarge() error {
	br.s.m.rejections.WithLabelValues("body_too_large").Inc()
	return errorf(http.StatusRequestEntityTooLarge, codePayloadTooLarge, "request body is larger than the limit of %d bytes", br.s.cfg.MaxBodyBytes)
}

// finish ends the moving deadline once the whole body is in: a read deadline
// passing while the request waits for its batch would cancel it.
func (br *bodyReader) finish() { _ = br.rc.SetReadDeadline(time.Time{}) }

// grow takes n more bytes of the read budget.
func (br *bodyReader) grow(n int64) bool {
	if !br.s.reading.tryAcquire(n) {
		return false
	}
	br.held += n
	return true
}

func (br *bodyReader) budgetError() error {
	br.s.m.rejections.WithLabelValues("read_budget").Inc()
	e := wrapErr(http.StatusServiceUnavailable, codeOverloaded, errReadBudget, "server is busy receiving other uploads; retry shortly")
	e.retryAfter = 1
	return e
}

// release gives back the read budget, once the request is answered.
func (br *bodyReader) release() {
	if br.closed {
		return
	}
	br.closed = true
	br.s.reading.release(br.held)
	br.held = 0
}
