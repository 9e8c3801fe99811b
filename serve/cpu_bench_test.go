package serve

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autotag/autotag/data/spec"

	"github.com/autotag/autotag/data"
	"github.com/autotag/autotag/internal/testenv"
)

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in /proc/PID/stat
// (100 on every Linux platform Go supports).
const clockTicks = 100

// procCPU returns the user+system CPU time pid has used so far, from /proc/PID/stat
// (proc(5): fields 14 and 15, counted after the parenthesised command name).
func procCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(f))
	}
	var ut, st int64
	if _, err := fmt.Sscan(f[11], &ut); err != nil {
		return 0, err
	}
	if _, err := fmt.Sscan(f[12], &st); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// machineIdle is the idle time of all CPUs since boot (/proc/stat, first line: the
// idle and iowait columns, in USER_HZ ticks).
func machineIdle() time.Duration {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	var idle int64
	for _, i := range []int{4, 5} {
		if i < len(f) {
			var v int64
			fmt.Sscan(f[i], &v)
			idle += v
		}
	}
	return time.Duration(idle) * time.Second / clockTicks
}

// selfCPU is this process's user+system CPU time (getrusage(2), RUSAGE_SELF).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkServeCPU measures CPU time per image rather than wall time, which on a
// shared 2-core machine drifts with other processes' load: at saturation a server
// that keeps the cores busy serves images at a rate inversely proportional to the
// CPU it spends on each, so the ratio of CPU per image of the engine alone to that
// of the whole served path estimates served/engine throughput. It reports, per image
// of the load benchmark's photos:
//
//   - decode_ms, preprocess_ms: data.Decode and data.Preprocess, one image at a time
//     (process CPU: imaging's resize fans out to goroutines);
//   - engine_ms: the engine's Probabilities on pre-decoded photos in batches of
//     loadConfig.MaxBatch (process CPU, RUSAGE_SELF), and forward_ms = engine_ms −
//     preprocess_ms, the model alone;
//   - served_ms: the server subprocess's CPU (/proc/PID/stat) per 200 answer under a
//     closed loop of 2·MaxBatch clients (raw JPEG bodies, as BenchmarkServeLoad), with
//     the wall-clock goodput beside it;
//   - client_ms: the load generator's CPU per answer (it shares the machine), and
//     idle_%: the machine's idle share while served (/proc/stat);
//   - other_ms = served_ms − engine_ms − decode_ms: what the server adds (HTTP, JSON,
//     batching, scheduling);
//   - cpu_ratio = forward_ms / served_ms (the "served ÷ `autotag bench`"
//     estimate) and cpu_ratio_engine = engine_ms / served_ms.
//
// AUTOTAG_LOAD_PHASE sets each phase's length (default 8s); AUTOTAG_LOAD_SPARE=1 as
// for BenchmarkServeLoad; AUTOTAG_SERVE_CPUPROFILE=FILE writes the server's CPU
// profile for the served phase.
//
//	go test -run XXX -bench ServeCPU -benchtime 1x ./serve
func BenchmarkServeCPU(b *testing.B) {
	d := 8 * time.Second
	if v, err := time.ParseDuration(os.Getenv("AUTOTAG_LOAD_PHASE")); err == nil {
		d = v
	}
	path := testenv.KerasModel(b)
	encoded, decoded := loadPhotos(b)
	spec := spec.Caffe()

	// Stages, one image at a time (process CPU: a resize may fan out to goroutines).
	const reps = 8
	t0 := selfCPU()
	for range reps {
		for _, e := range encoded {
			if _, err := data.Decode(bytes.NewReader(e), data.DecodeOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	decodeMs := cpuMs(selfCPU()-t0) / float64(reps*len(encoded))
	dst := make([]float32, 3*spec.Crop*spec.Crop)
	t0 = selfCPU()
	for range reps {
		for _, img := range decoded {
			if err := data.Preprocess(img, spec, dst); err != nil {
				b.Fatal(err)
			}
		}
	}
	preMs := cpuMs(selfCPU()-t0) / float64(reps*len(decoded))

	// The engine alone, in this process.
	eng := realEngine(b, loadEngineBatch)
	in := make([]image.Image, loadConfig.MaxBatch)
	for i := range in {
		in[i] = decoded[i%len(decoded)]
	}
	if _, err := eng.Probabilities(context.Background(), in); err != nil { // warm-up
		b.Fatal(err)
	}
	n := 0
	c0, w0 := selfCPU(), time.Now()
	for time.Since(w0) < d {
		if _, err := eng.Probabilities(context.Background(), in); err != nil {
			b.Fatal(err)
		}
		n += len(in)
	}
	engineMs := cpuMs(selfCPU()-c0) / float64(n)
	engineIPS := float64(n) / time.Since(w0).Seconds()
	eng.Close()

	// The whole served path, in a subprocess.
	base, cmd, _ := startChild(b, "load", path)
	tg := loadTarget{url: base + "/v1/tag", ct: "image/jpeg", bodies: encoded}
	closedLoop(tg, saturating, d/4) // warm-up
	pid := cmd.Process.Pid
	s0, err := procCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	c0, i0 := selfCPU(), machineIdle()
	r := closedLoop(tg, saturating, d)
	clientMs := cpuMs(selfCPU()-c0) / float64(max(r.ok, 1))
	idle := (machineIdle() - i0).Seconds() / (r.dur.Seconds() * float64(runtime.NumCPU()))
	s1, err := procCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if r.ok == 0 {
		b.Fatalf("no request served: %v", r)
	}
	servedMs := cpuMs(s1-s0) / float64(r.ok)
	forwardMs := engineMs - preMs
	b.Logf("per image CPU: decode %.1f ms, preprocess %.1f ms ; engine %.1f ms (%.2f img/s wall), forward ≈ %.1f ms; served %.1f ms (%v)",
		decodeMs, preMs, engineMs, engineIPS, forwardMs, servedMs, r)
	b.ReportMetric(decodeMs, "decode_ms")
	b.ReportMetric(preMs, "preprocess_ms")
	b.ReportMetric(engineMs, "engine_ms")
	b.ReportMetric(forwardMs, "forward_ms")
	b.ReportMetric(servedMs, "served_ms")
	b.ReportMetric(servedMs-engineMs-decodeMs, "other_ms") // HTTP, batching, scheduling: what serve itself adds
	b.ReportMetric(forwardMs/servedMs, "cpu_ratio")
	b.ReportMetric(engineMs/servedMs, "cpu_ratio_engine")
	b.ReportMetric(clientMs, "client_ms")
	b.ReportMetric(100*idle, "idle_%")
	b.Logf("while served: load generator %.1f ms CPU per image, machine idle %.1f %%", clientMs, 100*idle)
	b.ReportMetric(engineIPS, "engine_img/s")
	b.ReportMetric(r.steady(), "served_img/s")
}

func cpuMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
