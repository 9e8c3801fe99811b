package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
)

// apiError is an error with the HTTP status and stable machine-readable code it is
// rendered with. Handlers return them (or plain errors, which become 500 internal).
type apiError struct {
	status     int
	code       string
	msg        string
	retryAfter int // seconds; 0: no Retry-After header
	err        error
}

func (e *apiError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *apiError) Unwrap() error { return e.err }

// errorf builds an apiError; the message is shown to the client as is.
func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// wrapErr builds an apiError that keeps err for logs and errors.Is.
func wrapErr(status int, code string, err error, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...), err: err}
}

// Error codes of the HTTP API (also listed in openapi.yaml).
const (
	codeBadRequest       = "bad_request"
	codeUnsupportedMedia = "unsupported_media_type"
	codeInvalidImage     = "invalid_image"
	codePayloadTooLarge  = "payload_too_large"
	codeImageTooLarge    = "image_too_large"
	codeTooManyParts     = "too_many_parts"
	codeUnauthorized     = "unauthorized"
	codeForbidden        = "forbidden"
	codeNotFound         = "not_found"
	codeMethodNotAllowed = "method_not_allowed"
	codeRateLimited      = "rate_limited"
	codeOverloaded       = "overloaded"
	codeNotReady         = "not_ready"
	codeTimeout          = "timeout"
	codeClientGone       = "client_closed_request"
	codeInternal         = "internal"
)

// errorBody is the JSON error envelope: {"error":{"code","message","request_id"}}.
type errorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id,omitempty"`
	} `json:"error"`
}

// renderError is the one place errors become responses: JSON envelope, status,
// Retry-After, request id, and one slog line. Internal errors show a generic message
// to the client and the full error in the log.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{status: http.StatusInternalServerError, code: codeInternal, msg: "internal error", err: err}
	}
	var body errorBody
	body.Error.Code = ae.code
	body.Error.Message = ae.msg
	body.Error.RequestID = requestID(r.Context())
	if ae.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ae.retryAfter))
	}
	if bodyUnread(r) {
		// The rest of the body is read and dropped (linger); no next request follows.
		w.Header().Set("Connection", "close")
	}
	if ae.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="autotag"`)
	}
	level := slog.LevelInfo
	if ae.status >= 500 && ae.code != codeOverloaded && ae.code != codeNotReady {
		level = slog.LevelError
	}
	attrs := []any{"status", ae.status, "code", ae.code}
	if ae.err != nil {
		attrs = append(attrs, "err", ae.err.Error())
	} else {
		attrs = append(attrs, "err", ae.msg)
	}
	s.log.Log(r.Context(), level, "request failed", attrs...)
	writeJSON(w, ae.status, &body)
}

// writeJSON writes v with status. A value that cannot be encoded (a NaN, say)
// becomes a 500 error envelope instead of a status with an empty body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	if err := writeJSONChecked(w, status, v); err != nil {
		_ = writeJSONChecked(w, http.StatusInternalServerError, internalErrorBody())
	}
}

// writeJSONChecked encodes v first and writes status and body only when that
// worked; otherwise it writes nothing and returns the error, for the caller to
// render (and log) as a 500.
func writeJSONChecked(w http.ResponseWriter, status int, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode the %d answer: %w", status, err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	// A known length ends the answer where it ends, even when it is flushed
	// before the handler returns (see linger).
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return nil
}

func internalErrorBody() *errorBody {
	var b errorBody
	b.Error.Code, b.Error.Message = codeInternal, "internal error"
	return &b
}
