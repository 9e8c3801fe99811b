// Package serve is autotag's HTTP server: POST /v1/tag with dynamic micro-batching
// over a bounded queue, model info, health and readiness, Prometheus metrics, a
// hand-written OpenAPI description, and the embedded web page at /. It is hardened
// for the open internet: body, pixel, part-count and decoded-memory limits, timeouts,
// per-client rate limits, optional bearer API keys, CORS off unless allow-listed, and
// a graceful drain on shutdown. The contract is DESIGN.md §5.
package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/autotag/autotag"
)

// Config holds every server setting; zero values mean the documented defaults.
type Config struct {
	Addr string // listen address (default 127.0.0.1:8080)

	MaxBatch   int           // images per engine call (default 8)
	BatchDelay time.Duration // longest wait for a batch to fill (default 5ms; negative: none)
	Workers    int           // goroutines calling the engine, batches in flight at once (default 2)
	QueueSize  int           // images admitted and waiting; beyond it 503 (default 4×MaxBatch×Workers)
	// MaxQueueWait refuses (503) a request whose images would, at the engine's recent
	// speed, wait longer than this before their batch starts (default 5s; negative: off).
	MaxQueueWait time.Duration

	MaxBodyBytes int64 // request body limit (default 32 MiB); a larger declared Content-Length gets 413 before reading
	// ReadBudgetBytes caps the request body bytes held by all requests at once, from
	// the first byte read until the answer (bodies are read before a request is
	// admitted to the queue, so this, not the queue, bounds them); beyond it 503
	// (default 8×MaxBodyBytes).
	ReadBudgetBytes int64
	// BodyGrace and MinBodyRate bound a slow upload: the body must arrive within
	// BodyGrace plus one second per MinBodyRate bytes (and within ReadTimeout), else
	// 408 (defaults 10s and 32 KiB/s; a negative MinBodyRate: ReadTimeout alone).
	BodyGrace         time.Duration
	MinBodyRate       int64
	MaxPixels         int   // per-image pixel cap checked before decoding (default 40 000 000)
	MaxParts          int   // multipart parts per request (default 16)
	DecodeBudgetBytes int64 // decoded-image bytes held at once by all requests (default 192 MiB)
	DecodeConcurrency int   // images decoded at once (default GOMAXPROCS)

	// MemoryLimit, when negative, sets the Go runtime's soft memory limit when Serve
	// starts to the memory in use then plus DecodeBudgetBytes plus 48 MiB, so that a
	// flood of decompression bombs makes the GC work harder instead of growing the
	// heap to twice the budget; positive: that many bytes; 0: leave it alone.
	MemoryLimit int64

	RequestTimeout    time.Duration // per-request deadline (default 30s)
	ReadHeaderTimeout time.Duration // default 5s
	ReadTimeout       time.Duration // whole request incl. body (default 60s)
	WriteTimeout      time.Duration // default RequestTimeout + ReadTimeout
	IdleTimeout       time.Duration // keep-alive idle (default 120s)
	ShutdownTimeout   time.Duration // longest drain on shutdown (default WriteTimeout)

	APIKeys     []string // bearer keys for /v1/*; empty: no auth (loopback only unless Insecure)
	Insecure    bool     // allow a non-loopback address without API keys
	CORSOrigins []string // exact origins allowed cross-origin access to /v1/*; empty: CORS off
	RateLimit   float64  // requests per second per client IP on /v1/*; 0: unlimited
	RateBurst   int      // bucket size (default max(1, 2×RateLimit))
	// AuthFailures is how many failed API keys a client IP may send per minute
	// (as a bucket of that size) before every request from it gets 429, even with a
	// right key, so keys cannot be guessed fast (default 10; negative: unlimited).
	AuthFailures int
	// AllowedHosts lists host names (no port) that requests may name in their Host
	// header besides loopback names and addresses and the bound address; "*" allows
	// any. Other hosts get 403, so a web page cannot reach the server through DNS
	// rebinding.
	AllowedHosts []string
	MetricsAuth  bool // /metrics needs an API key too (needs APIKeys)
	// MaxConns caps the connections open at once (default 1024; negative: no cap)
	// and MaxConnsPerClient those from one client IP, an IPv6 client counted by its
	// /64 (default 64; negative: no cap). Past a cap an idle keep-alive connection is
	// closed to make room, else the new connection is closed at once, so one client
	// cannot run the server out of file descriptors. Behind a reverse proxy every
	// connection comes from the proxy: raise MaxConnsPerClient to its pool size.
	MaxConns, MaxConnsPerClient int
	// MaxStreams caps the concurrent requests on one HTTP/2 connection (default 16).
	MaxStreams int
	// TLSCertFile and TLSKeyFile, both set, make Serve answer HTTPS with that PEM
	// certificate (chain) and key.
	TLSCertFile, TLSKeyFile string

	Logger *slog.Logger                              // default slog.Default()
	Decode DecodeFunc                                // default: the engine's Decoder, else data.DecodeBytes
	Reload func(ctx context.Context) (Engine, error) // loads a fresh engine on SIGHUP / Reload
}

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 8
	}
	if c.BatchDelay == 0 {
		c.BatchDelay = 5 * time.Millisecond
	}
	if c.Workers <= 0 {
		// Two batches in flight: the Tagger runs both on one pool of threads
		// (nn.Pool), so the second fills the first's tail instead of a core idling.
		c.Workers = 2
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 4 * c.MaxBatch * c.Workers
	}
	if c.MaxQueueWait == 0 {
		c.MaxQueueWait = 5 * time.Second
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 32 << 20
	}
	if c.ReadBudgetBytes <= 0 {
		c.ReadBudgetBytes = 8 * c.MaxBodyBytes
	}
	if c.BodyGrace <= 0 {
		c.BodyGrace = 10 * time.Second
	}
	if c.MinBodyRate == 0 {
		c.MinBodyRate = 32 << 10
	}
	if c.MaxConns == 0 {
		c.MaxConns = 1024
	}
	if c.MaxConnsPerClient == 0 {
		c.MaxConnsPerClient = 64
	}
	if c.MaxStreams <= 0 {
		c.MaxStreams = 16
	}
	if c.AuthFailures == 0 {
		c.AuthFailures = 10
	}
	if c.MaxPixels <= 0 {
		c.MaxPixels = defaultMaxPixels
	}
	if c.MaxParts <= 0 {
		c.MaxParts = 16
	}
	if c.DecodeConcurrency <= 0 {
		c.DecodeConcurrency = runtime.GOMAXPROCS(0)
	}
	if c.DecodeBudgetBytes <= 0 {
		c.DecodeBudgetBytes = 192 << 20
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = 5 * time.Second
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 60 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = c.RequestTimeout + c.ReadTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 120 * time.Second
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = c.WriteTimeout
	}
	if c.RateLimit > 0 && c.RateBurst <= 0 {
		c.RateBurst = max(1, int(2*c.RateLimit))
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Server is the tag server. Create it with New, run it with Serve or ListenAndServe.
type Server struct {
	cfg       Config
	log       *slog.Logger
	m         *metrics
	engine    atomic.Pointer[engineSlot]
	batch     *batcher
	budget    *byteBudget
	decoders  chan struct{} // semaphore of DecodeConcurrency slots
	limiter   *rateLimiter
	authFails *rateLimiter // failed API keys per client; nil: unlimited
	keys      [][32]byte
	reading   *byteBudget
	conns     *connLimiter
	hosts     *hostPolicy
	crossSite *http.CrossOriginProtection
	tls       *tls.Config // nil: plain HTTP
	cors      map[string]bool
	decode    decodeFunc // the one decoder of uploads, chosen at New
	headerOf  headerFunc // an upload's header, read once per upload by checkUpload
	maxPixels int
	handler   http.Handler

	ready    atomic.Bool
	reloadMu sync.Mutex
}

// New builds a server around eng. It does not listen yet.
func New(cfg Config, eng Engine) (*Server, error) {
	if eng == nil {
		return nil, errors.New("serve: nil engine")
	}
	cfg.setDefaults()
	if cfg.QueueSize < cfg.MaxBatch {
		return nil, fmt.Errorf("serve: queue size %d is smaller than the max batch %d", cfg.QueueSize, cfg.MaxBatch)
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		m:         newMetrics(),
		decode:    newDecodeFunc(cfg.Decode, cfg.MaxPixels),
		headerOf:  decodeHeader,
		maxPixels: cfg.MaxPixels,
		cors:      map[string]bool{},
	}
	for _, k := range cfg.APIKeys {
		if k == "" {
			return nil, errors.New("serve: empty API key")
		}
		s.keys = append(s.keys, hashKey(k))
	}
	var err error
	if s.crossSite, err = crossOriginProtection(cfg.CORSOrigins); err != nil {
		return nil, err
	}
	for _, o := range cfg.CORSOrigins {
		s.cors[o] = true
	}
	if cfg.MetricsAuth && len(s.keys) == 0 {
		return nil, errMetricsAuth
	}
	if cfg.AuthFailures > 0 {
		s.authFails = newRateLimiter(float64(cfg.AuthFailures)/60, cfg.AuthFailures)
	}
	hp, err := newHostPolicy(cfg.Addr, cfg.AllowedHosts)
	if err != nil {
		return nil, err
	}
	s.hosts = hp
	if s.tls, err = loadTLS(cfg.TLSCertFile, cfg.TLSKeyFile); err != nil {
		return nil, err
	}
	s.reading = &byteBudget{max: cfg.ReadBudgetBytes}
	s.conns = newConnLimiter(cfg.MaxConns, cfg.MaxConnsPerClient, func() { s.m.rejections.WithLabelValues("too_many_conns").Inc() })
	s.engine.Store(&engineSlot{e: eng})
	s.budget = &byteBudget{max: cfg.DecodeBudgetBytes, gauge: s.m.decodeBytes}
	s.decoders = make(chan struct{}, cfg.DecodeConcurrency)
	if cfg.RateLimit > 0 {
		s.limiter = newRateLimiter(cfg.RateLimit, cfg.RateBurst)
	}
	s.batch = newBatcher(cfg.QueueSize, cfg.MaxBatch, cfg.Workers, cfg.BatchDelay, max(cfg.MaxQueueWait, 0), &s.engine, s.safeDecode, s.m, s.log)
	s.handler = s.routes()
	s.ready.Store(true)
	return s, nil
}

// Handler returns the server's HTTP handler (all routes and middleware).
func (s *Server) Handler() http.Handler { return s.handler }

// Ready reports whether the server takes new work (model loaded, not draining).
func (s *Server) Ready() bool { return s.ready.Load() }

// CheckBind refuses to listen on a non-loopback address without API keys unless
// Insecure is set: an open tagger on the network is a free GPU/CPU for anyone.
func CheckBind(addr string, haveKeys, insecure bool) error {
	if haveKeys || insecure {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("serve: bad address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("serve: refusing to listen on %s without an API key: set --api-key (or AUTOTAG_API_KEY), bind 127.0.0.1, or pass --insecure", addr)
}

// ListenAndServe checks the bind rule, listens on cfg.Addr and calls Serve.
func (s *Server) ListenAndServe(ctx context.Context) error {
	if err := CheckBind(s.cfg.Addr, len(s.keys) > 0, s.cfg.Insecure); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve answers requests on ln until ctx is cancelled, then drains: it marks the
// server unready, stops accepting connections, finishes every accepted request and
// every queued image, and returns nil. Errors are returned only for a failure to
// serve or a drain that ran past ShutdownTimeout.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ConnState:         s.conns.connState,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: s.cfg.MaxStreams},
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if s.tls != nil {
		srv.TLSConfig = s.tls.Clone()
	}
	s.hosts.addBound(ln.Addr())
	ln = &limitListener{Listener: ln, l: s.conns}
	s.applyMemoryLimit()
	info := s.engine.Load().e.Info()
	s.log.Info("serving", "addr", ln.Addr().String(), "model", info.Name, "classes", len(info.Classes),
		"max_batch", s.cfg.MaxBatch, "batch_delay", s.cfg.BatchDelay.String(), "workers", s.cfg.Workers,
		"queue", s.cfg.QueueSize, "auth", len(s.keys) > 0, "cors_origins", len(s.cors), "tls", s.tls != nil)
	errc := make(chan error, 1)
	go func() {
		if s.tls != nil {
			errc <- srv.ServeTLS(ln, "", "")
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		s.ready.Store(false)
		s.batch.close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down: draining accepted requests", "timeout", s.cfg.ShutdownTimeout.String())
	s.ready.Store(false)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx) // closes listeners, waits for active requests
	<-errc                    // http.ErrServerClosed
	s.batch.close()           // answers anything still queued
	if err != nil {
		return fmt.Errorf("serve: drain: %w", err)
	}
	s.log.Info("shut down cleanly")
	return nil
}

// Reload loads a fresh engine with cfg.Reload and swaps it in; the old engine keeps
// serving until the swap and is closed once its last batch is done. When loading
// fails the old engine stays and the error is returned.
func (s *Server) Reload(ctx context.Context) error {
	if s.cfg.Reload == nil {
		return errors.New("serve: no reload function configured")
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	start := time.Now()
	eng, err := s.cfg.Reload(ctx)
	if err == nil && eng == nil {
		err = errors.New("reload returned no engine")
	}
	if err == nil {
		if err = ProbeEngine(ctx, eng); err != nil {
			if c, ok := eng.(Closer); ok {
				_ = c.Close()
			}
		}
	}
	if err != nil {
		s.m.reloads.WithLabelValues("error").Inc()
		s.log.Error("model reload failed; keeping the current model", "err", err.Error(), "model", s.engine.Load().e.Info().Name)
		return fmt.Errorf("serve: reload: %w", err)
	}
	old := s.engine.Swap(&engineSlot{e: eng})
	s.m.reloads.WithLabelValues("ok").Inc()
	s.log.Info("model reloaded", "model", eng.Info().Name, "took", time.Since(start).String())
	go func() {
		old.mu.Lock()
		old.closed = true
		old.mu.Unlock()
		if c, ok := old.e.(Closer); ok {
			if err := c.Close(); err != nil {
				s.log.Warn("closing the replaced model", "err", err.Error())
			}
		}
	}()
	return nil
}

// ProbeEngine runs one plain grey image through eng and checks its answer, so that
// a model that loads but computes garbage (NaN or infinite weights, a head of the
// wrong size) is refused at start and at reload instead of serving garbage or
// replacing a working model.
func ProbeEngine(ctx context.Context, eng Engine) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("probe: engine panicked: %v", p)
		}
	}()
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for i := range img.Pix {
		img.Pix[i] = 128
	}
	var probs [][]float32
	if p, ok := eng.(Preparer); ok {
		in, perr := p.Prepare(img)
		if perr != nil {
			return fmt.Errorf("probe: %w", perr)
		}
		probs, err = p.ProbabilitiesOf(ctx, []*autotag.Input{in})
	} else {
		probs, err = eng.Probabilities(ctx, []image.Image{img})
	}
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	if len(probs) != 1 {
		return fmt.Errorf("probe: engine returned %d results for 1 image", len(probs))
	}
	if err := checkProbabilities(probs[0], len(eng.Info().Classes)); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	return nil
}

var errMetricsAuth = errors.New("serve: --metrics-auth needs an API key (--api-key)")

// crossOriginProtection refuses cross-site state-changing requests except from
// origins (the CORS allow list).
func crossOriginProtection(origins []string) (*http.CrossOriginProtection, error) {
	c := http.NewCrossOriginProtection()
	for _, o := range origins {
		if o == "*" {
			return nil, errors.New("serve: CORS origin \"*\" is not allowed; list exact origins like https://photos.example.com")
		}
		if err := c.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("serve: CORS origin %q: %w", o, err)
		}
	}
	return c, nil
}

// CheckConfig reports the errors New would find in cfg's settings (allowed hosts,
// CORS origins, TLS files, metrics auth) without an engine, so a command can
// refuse them before loading a model.
func CheckConfig(cfg Config) error {
	if _, err := crossOriginProtection(cfg.CORSOrigins); err != nil {
		return err
	}
	if cfg.MetricsAuth && len(cfg.APIKeys) == 0 {
		return errMetricsAuth
	}
	if _, err := newHostPolicy(cfg.Addr, cfg.AllowedHosts); err != nil {
		return err
	}
	_, err := loadTLS(cfg.TLSCertFile, cfg.TLSKeyFile)
	return err
}

// loadTLS loads the PEM certificate and key for HTTPS; both or neither must be given.
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	switch {
	case certFile == "" && keyFile == "":
		return nil, nil
	case certFile == "":
		return nil, errors.New("serve: a TLS key (--tls-key) needs its certificate too (--tls-cert)")
	case keyFile == "":
		return nil, errors.New("serve: a TLS certificate (--tls-cert) needs its key too (--tls-key)")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("serve: load the TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// Close closes the current engine if it implements Closer. Call it after Serve
// returned.
func (s *Server) Close() error {
	slot := s.engine.Load()
	slot.mu.Lock()
	defer slot.mu.Unlock()
	if slot.closed {
		return nil
	}
	slot.closed = true
	if c, ok := slot.e.(Closer); ok {
		return c.Close()
	}
	return nil
}

// applyMemoryLimit sets the runtime's soft memory limit per Config.MemoryLimit.
func (s *Server) applyMemoryLimit() {
	limit := s.cfg.MemoryLimit
	if limit == 0 {
		return
	}
	if limit < 0 {
		limit = goMemoryInUse() + s.cfg.DecodeBudgetBytes + 48<<20
	}
	debug.SetMemoryLimit(limit)
	s.log.Info("memory limit set", "bytes", limit, "decode_budget", s.cfg.DecodeBudgetBytes)
}

// goMemoryInUse is the memory the Go runtime holds from the OS and has not returned
// (close to the process's RSS for a pure-Go program).
func goMemoryInUse() int64 {
	ms := []rtmetrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	rtmetrics.Read(ms)
	return int64(ms[0].Value.Uint64() - ms[1].Value.Uint64())
}
