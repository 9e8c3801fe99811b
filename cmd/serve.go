package cmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/autotag/autotag"
	"github.com/autotag/autotag/nn/gemm"
	"github.com/autotag/autotag/serve"
)

// serveFlags are the flags of `autotag serve`.
type serveFlags struct {
	cfg       serve.Config
	model     string
	threshold float64
	topK      int
	rules     string
	logFormat string
	logLevel  string

	engineBatch int
	spareProc   bool
	fast        bool
}

// reserveHTTPProc keeps the engine's GEMM at one goroutine per CPU and gives the Go
// scheduler one more P, so that accepting connections, refusing overload (503) and
// decoding are not queued behind long GEMM slices on every P.
func reserveHTTPProc() {
	n := runtime.NumCPU()
	if runtime.GOMAXPROCS(0) == n {
		gemm.SetThreads(n)
		runtime.GOMAXPROCS(n + 1)
	}
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve tags over HTTP (POST /v1/tag) with a web page at /",
		Long: "Serve the model over HTTP: POST /v1/tag takes a raw image body (image/*,\n" +
			"application/x-image) or multipart/form-data with \"image\" parts and answers JSON tags;\n" +
			"GET / is a web page to drop photos on; also /v1/model, /healthz, /readyz, /metrics\n" +
			"(Prometheus) and /openapi.yaml. Concurrent requests are batched (--max-batch,\n" +
			"--batch-delay); a full queue answers 503 at once. SIGTERM/SIGINT drain and exit 0;\n" +
			"SIGHUP reloads the model and keeps the old one if the new one fails to load.\n\n" +
			"Binding a non-loopback address needs --api-key (clients send\n" +
			"\"Authorization: Bearer KEY\") unless --insecure is given. Requests naming another\n" +
			"host than the bound address or a loopback name get 403 unless --allowed-hosts lists\n" +
			"it; cross-site browser posts get 403 unless --cors-origin allows their origin.\n" +
			"--tls-cert and --tls-key serve HTTPS (needed for the phone camera on a LAN address);\n" +
			"behind a TLS reverse proxy, bind 127.0.0.1 and list the proxy's public name in\n" +
			"--allowed-hosts.",
		Example: "  autotag serve --addr 127.0.0.1:8080\n" +
			"  curl -s -H 'Content-Type: image/jpeg' --data-binary @dog.jpg localhost:8080/v1/tag\n" +
			"  curl -s -F image=@dog.jpg -F image=@cat.png 'localhost:8080/v1/tag?top_k=3'\n" +
			"  autotag serve --addr 0.0.0.0:8443 --api-key \"$KEY\" --tls-cert cert.pem --tls-key key.pem --allowed-hosts photos.lan",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runServe(c, &f) },
	}
	fl := c.Flags()
	fl.StringVar(&f.cfg.Addr, "addr", "127.0.0.1:8080", "listen address")
	fl.StringVar(&f.model, "model", "", "model file or cached name (default: the default cached model)")
	fl.Float64Var(&f.threshold, "threshold", 0, "default minimum tag score in [0,1] (default: the model's thresholds)")
	fl.IntVar(&f.topK, "top-k", 0, "default maximum tags per image (0: no limit)")
	fl.StringVar(&f.rules, "rules", "", "label rules file, or \"none\" for the model's raw labels (default: built-in rules for ImageNet models)")
	fl.IntVar(&f.cfg.MaxBatch, "max-batch", 8, "images per engine batch")
	fl.IntVar(&f.engineBatch, "engine-batch", 0, "graph batch size of the engine; 0: --max-batch, so a gathered batch runs data-parallel, one image per thread at a time (compare with 'autotag bench')")
	fl.DurationVar(&f.cfg.BatchDelay, "batch-delay", 5*time.Millisecond, "longest wait for a batch to fill")
	fl.IntVar(&f.cfg.Workers, "workers", 2, "batches in flight at once; they share the engine's threads, so two keep every core busy across batch boundaries")
	fl.IntVar(&f.cfg.QueueSize, "queue", 0, "images waiting for a batch before new requests get 503 (default 4×max-batch×workers)")
	fl.DurationVar(&f.cfg.MaxQueueWait, "max-queue-wait", 5*time.Second, "refuse (503) requests that would wait longer than this for a batch at the engine's recent speed")
	fl.Int64Var(&f.cfg.MaxBodyBytes, "max-body", 32<<20, "request body limit in bytes; a larger declared Content-Length gets 413 before anything is read")
	fl.Int64Var(&f.cfg.ReadBudgetBytes, "read-budget", 0, "bytes of request bodies held at once by all requests, from receiving to answering; beyond it 503 (default 8×max-body)")
	fl.DurationVar(&f.cfg.BodyGrace, "body-grace", 10*time.Second, "time a request body may take before --min-body-rate applies")
	fl.Int64Var(&f.cfg.MinBodyRate, "min-body-rate", 32<<10, "slowest accepted upload, bytes per second after --body-grace; slower gets 408 (-1: only --read-timeout)")
	fl.IntVar(&f.cfg.MaxPixels, "max-pixels", 40_000_000, "per-image pixel cap, checked before decoding")
	fl.IntVar(&f.cfg.MaxParts, "max-parts", 16, "multipart parts per request")
	fl.Int64Var(&f.cfg.DecodeBudgetBytes, "decode-budget", 192<<20, "bytes of decoded images held at once by all requests; beyond it 503")
	fl.IntVar(&f.cfg.DecodeConcurrency, "decode-concurrency", 0, "images decoded at once (default GOMAXPROCS)")
	fl.Int64Var(&f.cfg.MemoryLimit, "memory-limit", -1, "Go soft memory limit in bytes (-1: memory in use at start + decode budget + 48 MiB; 0: none)")
	fl.DurationVar(&f.cfg.RequestTimeout, "request-timeout", 30*time.Second, "per-request deadline")
	fl.DurationVar(&f.cfg.ReadHeaderTimeout, "read-header-timeout", 5*time.Second, "time to read request headers")
	fl.DurationVar(&f.cfg.ReadTimeout, "read-timeout", 60*time.Second, "time to read a whole request")
	fl.DurationVar(&f.cfg.WriteTimeout, "write-timeout", 0, "time to write a response (default request-timeout + read-timeout)")
	fl.DurationVar(&f.cfg.IdleTimeout, "idle-timeout", 120*time.Second, "keep-alive idle timeout")
	fl.StringSliceVar(&f.cfg.APIKeys, "api-key", nil, "API key clients must send as \"Authorization: Bearer KEY\" (repeat or comma-separate for several)")
	fl.BoolVar(&f.cfg.Insecure, "insecure", false, "allow a non-loopback --addr without --api-key")
	fl.StringSliceVar(&f.cfg.CORSOrigins, "cors-origin", nil, "exact origin allowed to call /v1/* from a browser, cross-site form posts included (repeatable; default: CORS off, cross-site posts refused)")
	fl.StringSliceVar(&f.cfg.AllowedHosts, "allowed-hosts", nil, "host names clients may use in the Host header besides loopback names and the --addr address, comma-separated; \"*\" allows any (default: none, which stops DNS rebinding)")
	fl.IntVar(&f.cfg.AuthFailures, "auth-failures", 10, "failed API keys a client IP may send per minute before its requests get 429 (-1: unlimited)")
	fl.IntVar(&f.cfg.MaxConns, "max-conns", 1024, "connections open at once; past it an idle keep-alive connection is closed, else the new one (-1: no cap)")
	fl.IntVar(&f.cfg.MaxConnsPerClient, "max-conns-per-client", 64, "connections open at once from one client IP (an IPv6 /64); behind a reverse proxy raise it to the proxy's pool (-1: no cap)")
	fl.IntVar(&f.cfg.MaxStreams, "max-streams", 16, "concurrent requests on one HTTP/2 (TLS) connection")
	fl.BoolVar(&f.cfg.MetricsAuth, "metrics-auth", false, "require the API key on /metrics too")
	fl.StringVar(&f.cfg.TLSCertFile, "tls-cert", "", "PEM certificate (chain) file: serve HTTPS (needs --tls-key)")
	fl.StringVar(&f.cfg.TLSKeyFile, "tls-key", "", "PEM private key file of --tls-cert")
	fl.Float64Var(&f.cfg.RateLimit, "rate-limit", 0, "requests per second per client IP on /v1/* (0: unlimited)")
	fl.IntVar(&f.cfg.RateBurst, "rate-burst", 0, "rate-limit bucket size (default 2×rate-limit)")
	fl.BoolVar(&f.fast, "fast-decode", false, "decode JPEGs 4× or more the model's resize at 1/2-1/8 scale in the DCT domain (faster for big photos; scores close to, not equal to, a full decode's)")
	fl.BoolVar(&f.spareProc, "spare-proc", false, "keep one more scheduler slot than CPUs for HTTP (the engine yields at every convolution, so 503s are fast without it; with it ~3% of the CPU idles)")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return c
}

// newLogger builds the slog logger of --log-format and --log-level; every line of
// a request carries its request id.
func newLogger(format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	switch strings.ToLower(format) {
	case "text":
		h = slog.NewTextHandler(os.Stderr, opts)
	case "json":
		h = slog.NewJSONHandler(os.Stderr, opts)
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
	return slog.New(serve.NewLogHandler(h)), nil
}

func runServe(c *cobra.Command, f *serveFlags) error {
	log, err := newLogger(f.logFormat, f.logLevel)
	if err != nil {
		return withExitCode(2, err)
	}
	if err := serve.CheckBind(f.cfg.Addr, len(f.cfg.APIKeys) > 0, f.cfg.Insecure); err != nil {
		return withExitCode(2, err)
	}
	if err := serve.CheckConfig(f.cfg); err != nil {
		return withExitCode(2, err)
	}
	var opts []autotag.Option
	if c.Flags().Changed("threshold") {
		opts = append(opts, autotag.WithThreshold(f.threshold))
	}
	if f.topK > 0 {
		opts = append(opts, autotag.WithTopK(f.topK))
	}
	switch f.rules {
	case "":
	case "none":
		opts = append(opts, autotag.WithoutRules())
	default:
		r, err := autotag.LoadRules(f.rules)
		if err != nil {
			return withExitCode(2, err)
		}
		opts = append(opts, autotag.WithRules(r))
	}
	workers := max(1, f.cfg.Workers)
	engineBatch := f.engineBatch
	if engineBatch <= 0 {
		engineBatch = max(1, f.cfg.MaxBatch)
	}
	opts = append(opts, autotag.WithBatchSize(engineBatch), autotag.WithWorkers(workers),
		autotag.WithMaxPixels(f.cfg.MaxPixels))
	if f.fast {
		opts = append(opts, autotag.WithFastDecode())
	}
	if f.spareProc {
		reserveHTTPProc()
	}
	ctx := c.Context()
	load := func(ctx context.Context) (serve.Engine, error) {
		start := time.Now()
		t, err := autotag.Open(ctx, f.model, opts...)
		if err != nil {
			return nil, err
		}
		log.Info("model loaded", "model", t.Info().Name, "path", t.Info().Path, "took", time.Since(start).Round(time.Millisecond).String())
		return t, nil
	}
	eng, err := load(ctx)
	if err != nil {
		return err
	}
	if err := serve.ProbeEngine(ctx, eng); err != nil {
		if c, ok := eng.(serve.Closer); ok {
			_ = c.Close()
		}
		return fmt.Errorf("model %s: %w", eng.Info().Name, err)
	}
	f.cfg.Logger = log
	f.cfg.Reload = load
	s, err := serve.New(f.cfg, eng)
	if err != nil {
		return withExitCode(2, err)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				log.Info("SIGHUP: reloading the model")
				_ = s.Reload(ctx) // logs its own outcome; the old model stays on failure
			case <-ctx.Done():
				return
			}
		}
	}()
	err = s.ListenAndServe(ctx)
	if cerr := s.Close(); cerr != nil && !errors.Is(cerr, autotag.ErrClosed) {
		log.Warn("closing the model", "err", cerr.Error())
	}
	return err
}
