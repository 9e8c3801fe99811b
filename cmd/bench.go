package cmd

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/autotag/autotag/internal/jsonnum"
	"github.com/autotag/autotag/model"
	"github.com/autotag/autotag/nn"
	"github.com/autotag/autotag/nn/gemm"
)

// benchResult is one (threads, batch) measurement of `autotag bench`; the JSON shape is
// shared with testdata/bench/ort_bench.js so the two can be compared line by line.
type benchResult struct {
	Threads          int     `json:"threads"`
	Winograd         bool    `json:"winograd"`
	Fused            bool    `json:"fused"`
	DataParallel     bool    `json:"data_parallel"`
	Batch            int     `json:"batch"`
	MsPerImage       float64 `json:"ms_per_image"`
	CPUMsPerImage    float64 `json:"cpu_ms_per_image"`
	ImagesPerS       float64 `json:"images_per_s"`
	Runs             int     `json:"runs"`
	PeakRSSMB        float64 `json:"peak_rss_mb"`
	AllocsPerForward float64 `json:"allocs_per_forward"`
	BytesPerForward  float64 `json:"bytes_per_forward"`
}

// benchReport is the --json document.
type benchReport struct {
	Engine  string        `json:"engine"`
	Model   string        `json:"model"`
	Kernel  string        `json:"gemm_kernel"`
	Size    int           `json:"size"`
	Results []benchResult `json:"results"`
}

func newBenchCmd() *cobra.Command {
	var (
		batches, threads, model string
		winograd, fused, dp     string
		asJSON                  bool
		seconds                 float64
		size                    int
	)
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure ResNet50 inference speed and memory (ms/image, images/s, peak RSS, allocs)",
		Long: "bench runs the ResNet50 forward pass on random input for each thread count and batch\n" +
			"size and reports ms/image, images/s, the peak resident memory (VmHWM, reset before each\n" +
			"measurement) and the allocations of one forward pass. Without --model it uses random\n" +
			"weights (speed does not depend on their values). Compare with ONNX Runtime through\n" +
			"testdata/bench/compare.sh, which runs testdata/bench/ort_bench.js in the same session.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			bs, err := parseInts(batches)
			if err != nil {
				return fmt.Errorf("--batch: %w", err)
			}
			ts, err := parseInts(threads)
			if err != nil {
				return fmt.Errorf("--threads: %w", err)
			}
			winos, err := onOffBoth("--winograd", winograd)
			if err != nil {
				return err
			}
			fuseds, err := onOffBoth("--fused", fused)
			if err != nil {
				return err
			}
			dps, err := onOffBoth("--data-parallel", dp)
			if err != nil {
				return err
			}
			// Bind keeps Winograd weights unless no configuration uses them
			m, name, err := benchModel(c.Context(), model, nn.Engine{DisableWinograd: winograd == "off"})
			if err != nil {
				return err
			}
			rep := benchReport{Engine: "autotag", Model: name, Kernel: gemm.Kernel(), Size: size}
			prev := runtime.GOMAXPROCS(0)
			defer runtime.GOMAXPROCS(prev)
			defer gemm.SetThreads(0)
			for _, t := range ts {
				runtime.GOMAXPROCS(t)
				gemm.SetThreads(t)
				for _, b := range bs {
					for _, wino := range winos {
						for _, fu := range fuseds {
							for _, d := range dps {
								if err := c.Context().Err(); err != nil {
									return err
								}
								e := nn.Engine{DisableWinograd: !wino, DisableFusedGEMM: !fu, DisableDataParallel: !d}
								r, err := benchOne(m.WithEngine(e), t, b, size, time.Duration(seconds*float64(time.Second)))
								if err != nil {
									return err
								}
								r.Winograd, r.Fused, r.DataParallel = wino, fu, d
								rep.Results = append(rep.Results, r)
								if !asJSON {
									fmt.Fprintf(c.ErrOrStderr(), "threads %d batch %d winograd %t fused %t data-parallel %t: %.1f ms/image\n", t, b, wino, fu, d, r.MsPerImage)
								}
							}
						}
					}
				}
			}
			return printBench(c, rep, asJSON)
		},
	}
	f := c.Flags()
	f.StringVar(&batches, "batch", "1,8", "batch sizes, comma-separated")
	f.StringVar(&threads, "threads", strconv.Itoa(min(runtime.NumCPU(), 2)), "thread counts (GOMAXPROCS and GEMM goroutines), comma-separated")
	f.StringVar(&model, "model", "", "model name or file (default: random keras-v1 weights)")
	f.BoolVar(&asJSON, "json", false, "print one JSON document")
	f.Float64Var(&seconds, "seconds", 3, "minimum measuring time per configuration")
	f.IntVar(&size, "size", 224, "input height and width")
	f.StringVar(&winograd, "winograd", "on", "Winograd F(2x2,3x3) for stride-1 3x3 convolutions: on, off or both (A/B in one run)")
	f.StringVar(&fused, "fused", "on", "GEMM with fused bias/residual/ReLU epilogue for batches > 1: on, off or both (A/B in one run)")
	f.StringVar(&dp, "data-parallel", "on", "batches split image-wise between single-threaded batch-1 runners (nn.Engine.DisableDataParallel): on, off or both (A/B in one run)")
	return c
}

// onOffBoth maps "on", "off" and "both" to the settings to measure.
func onOffBoth(flag, v string) ([]bool, error) {
	switch v {
	case "on":
		return []bool{true}, nil
	case "off":
		return []bool{false}, nil
	case "both":
		return []bool{false, true}, nil
	}
	return nil, fmt.Errorf("%s %q: want on, off or both", flag, v)
}

// parseInts parses "1,8" into [1 8], every value ≥ 1.
func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// benchModel opens the named model through package model (a head-only file brings
// its cached backbone; the backbone is what runs), or random keras-v1 weights when
// name is "", with engine e.
func benchModel(ctx context.Context, name string, e nn.Engine) (*nn.ResNet50, string, error) {
	if name == "" {
		m := nn.NewResNet50(nn.Config{Layout: nn.KerasV1, Engine: e})
		return m, "random keras-v1", m.Bind(nn.RandomParams(m, 1))
	}
	m, err := model.Open(ctx, name, model.Options{FeaturesOnly: true, Engine: e})
	if err != nil {
		return nil, "", err
	}
	return m.Net, m.Path, nil
}

// benchOne measures one configuration: a warm-up forward, then forwards until minTime
// has passed (at least 3), then the allocations of 3 more.
func benchOne(m *nn.ResNet50, threads, batch, size int, minTime time.Duration) (benchResult, error) {
	r, err := m.NewRunner(batch, size, size)
	if err != nil {
		return benchResult{}, err
	}
	defer r.Close()
	x := make([]float32, batch*3*size*size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	if _, _, err := r.Forward(x); err != nil {
		return benchResult{}, err
	}
	debug.FreeOSMemory() // return what earlier configurations freed, then measure this one
	resetPeakRSS()
	runs := 0
	cpu0 := processCPUSeconds()
	start := time.Now()
	for runs < 3 || time.Since(start) < minTime {
		if _, _, err := r.Forward(x); err != nil {
			return benchResult{}, err
		}
		runs++
	}
	el := time.Since(start)
	cpu := processCPUSeconds() - cpu0
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < 3; i++ {
		if _, _, err := r.Forward(x); err != nil {
			return benchResult{}, err
		}
	}
	runtime.ReadMemStats(&after)
	ms := el.Seconds() * 1e3 / float64(runs*batch)
	return benchResult{
		Threads: threads, Batch: batch, Runs: runs,
		MsPerImage:       round(ms, 3),
		CPUMsPerImage:    round(cpu*1e3/float64(runs*batch), 3),
		ImagesPerS:       round(1e3/ms, 2),
		PeakRSSMB:        round(peakRSSMB(), 1),
		AllocsPerForward: float64(after.Mallocs-before.Mallocs) / 3,
		BytesPerForward:  float64(after.TotalAlloc-before.TotalAlloc) / 3,
	}, nil
}

func round(v float64, digits int) float64 {
	p, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', digits, 64), 64)
	return p
}

// resetPeakRSS asks Linux to reset VmHWM to the current RSS (clear_refs "5"); a no-op
// elsewhere or when not permitted.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// processCPUSeconds is the process's user + system CPU time from /proc/self/stat (0
// where unavailable). On a loaded machine it is steadier than wall time, though it also
// counts the GEMM workers' polling between products.
func processCPUSeconds() float64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state); utime, stime are fields 14, 15
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ, 100 on Linux
}

// peakRSSMB reads VmHWM from /proc/self/status in MB (0 where unavailable).
func peakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func printBench(c *cobra.Command, rep benchReport, asJSON bool) error {
	out := c.OutOrStdout()
	if asJSON {
		return jsonnum.Encode(out, rep, "  ")
	}
	fmt.Fprintf(out, "model %s, %dx%d, gemm kernel %s\n", rep.Model, rep.Size, rep.Size, rep.Kernel)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "threads\tbatch\twinograd\tfused\tdata-parallel\tms/image\tCPU ms/image\timages/s\tpeak RSS MB\tallocs/forward\tKB/forward\t")
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "%d\t%d\t%t\t%t\t%t\t%.1f\t%.1f\t%.1f\t%.0f\t%.0f\t%.1f\t\n", r.Threads, r.Batch, r.Winograd, r.Fused, r.DataParallel, r.MsPerImage, r.CPUMsPerImage, r.ImagesPerS, r.PeakRSSMB, r.AllocsPerForward, r.BytesPerForward/1024)
	}
	return tw.Flush()
}
