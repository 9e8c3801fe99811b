package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// handlerFunc is a handler that returns its error; errorHandler renders it once.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route registers a handler under a method pattern, adding per-route metrics and the
// error renderer. api marks /v1 routes, which get auth, CORS and rate limiting.
func (s *Server) route(mux *http.ServeMux, pattern string, api bool, h handlerFunc) {
	name := pattern[strings.IndexByte(pattern, ' ')+1:]
	mux.Handle(pattern, s.instrument(name, func(w http.ResponseWriter, r *http.Request) error {
		if api || name == "/metrics" && s.cfg.MetricsAuth {
			if err := s.authorize(r); err != nil {
				return err
			}
		}
		if api {
			if err := s.rateLimit(r); err != nil {
				return err
			}
		}
		return h(w, r)
	}))
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	s.route(mux, "POST /v1/tag", true, s.handleTag)
	s.route(mux, "GET /v1/model", true, s.handleModel)
	s.route(mux, "GET /healthz", false, s.handleHealth)
	s.route(mux, "GET /readyz", false, s.handleReady)
	s.route(mux, "GET /openapi.yaml", false, s.handleOpenAPI)
	metricsHandler := promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{})
	s.route(mux, "GET /metrics", false, func(w http.ResponseWriter, r *http.Request) error {
		metricsHandler.ServeHTTP(w, r)
		return nil
	})
	s.webRoutes(mux)
	return s.middleware(mux)
}

// statusWriter records the status code for metrics and logs.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// middleware runs around every request: request id (X-Request-Id in and out), the
// per-request deadline, the Host and cross-site checks, CORS, JSON 404/405 for
// unknown routes, panic recovery, one access-log line, and reading off what is left
// of a refused request's body (see linger).
func (s *Server) middleware(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = newRequestID()
		}
		ctx, cancel := context.WithTimeout(withRequestID(r.Context(), id), s.cfg.RequestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		if r.ProtoMajor == 1 && r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
			r.Body = &trackedBody{ReadCloser: r.Body}
			// Reading a refused body after its answer is written needs full duplex.
			_ = http.NewResponseController(w).EnableFullDuplex()
		}
		w.Header().Set("X-Request-Id", id)
		sw := &statusWriter{ResponseWriter: w}
		s.serveHTTP(sw, r, mux, start)
		if bodyUnread(r) {
			s.linger(sw, r)
		}
	})
}

// serveHTTP is the middleware's work for one request, recovering panics.
func (s *Server) serveHTTP(sw *statusWriter, r *http.Request, mux *http.ServeMux, start time.Time) {
	ctx := r.Context()
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.ErrorContext(ctx, "handler panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if sw.status == 0 {
				s.renderError(sw, r, fmt.Errorf("panic: %v", p))
			}
		}
		level := slog.LevelInfo
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || r.URL.Path == "/metrics" {
			level = slog.LevelDebug
		}
		s.log.Log(ctx, level, "request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"bytes", sw.bytes, "remote", r.RemoteAddr, "duration_ms", msSince(start))
	}()
	if err := s.checkHost(r); err != nil {
		s.renderError(sw, r, err)
		return
	}
	if err := s.checkCrossSite(r); err != nil {
		s.renderError(sw, r, err)
		return
	}
	if s.cors[r.Header.Get("Origin")] && strings.HasPrefix(r.URL.Path, "/v1/") {
		h := sw.Header()
		h.Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-Id")
			h.Set("Access-Control-Max-Age", "600")
			sw.WriteHeader(http.StatusNoContent)
			return
		}
	}
	if _, pattern := mux.Handler(r); pattern == "" {
		s.renderError(sw, r, s.unrouted(mux, r))
		return
	}
	mux.ServeHTTP(sw, r)
}

// unrouted tells 404 from 405 for a request the mux has no pattern for.
func (s *Server) unrouted(mux *http.ServeMux, r *http.Request) error {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := mux.Handler(probe); p != "" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		return errorf(http.StatusMethodNotAllowed, codeMethodNotAllowed, "%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allowed, " or "))
	}
	return errorf(http.StatusNotFound, codeNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path)
}

// instrument adapts a handlerFunc: errors go to renderError; requests are counted
// and timed under the route's name.
func (s *Server) instrument(name string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.m.inflight.Inc()
		defer s.m.inflight.Dec()
		sw, ok := w.(*statusWriter)
		if !ok {
			sw = &statusWriter{ResponseWriter: w}
		}
		if err := h(sw, r); err != nil {
			if sw.status != 0 {
				s.log.WarnContext(r.Context(), "error after the response started", "err", err.Error())
			} else {
				s.renderError(sw, r, err)
			}
		}
		code := sw.status
		if code == 0 {
			code = http.StatusOK
		}
		s.m.requests.WithLabelValues(name, strconv.Itoa(code)).Inc()
		s.m.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
	})
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// handleHealth: the process is alive.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// handleReady: a model is loaded and the server is not draining.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) error {
	if !s.ready.Load() {
		s.m.rejections.WithLabelValues("not_ready").Inc()
		return errorf(http.StatusServiceUnavailable, codeNotReady, "server is shutting down")
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "model": s.engine.Load().e.Info().Name})
	return nil
}

// modelResponse is GET /v1/model.
type modelResponse struct {
	ModelInfo
	MaxBatch   int     `json:"max_batch"`
	BatchDelay float64 `json:"batch_delay_ms"`
	MaxPixels  int     `json:"max_pixels"`
	MaxBody    int64   `json:"max_body_bytes"`
	MaxParts   int     `json:"max_parts"`
}

func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) error {
	info := s.engine.Load().e.Info()
	if info.Classes == nil {
		info.Classes = []string{}
	}
	// Local file system paths are nobody's business over HTTP.
	info.Path = ""
	if filepath.IsAbs(info.Source) {
		info.Source = filepath.Base(info.Source)
	}
	writeJSON(w, http.StatusOK, &modelResponse{
		ModelInfo: info, MaxBatch: s.cfg.MaxBatch, BatchDelay: float64(max(s.cfg.BatchDelay, 0).Microseconds()) / 1000,
		MaxPixels: s.maxPixels, MaxBody: s.cfg.MaxBodyBytes, MaxParts: s.cfg.MaxParts,
	})
	return nil
}

// errorIsTimeout reports whether err is a deadline or a network timeout.
func errorIsTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
