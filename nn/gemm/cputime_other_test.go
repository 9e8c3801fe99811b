//go:build !linux

package gemm

import "time"

// cpuTime falls back to wall time where CPU-time clocks are not wired up.
func cpuTime(bool) func() time.Duration {
	start := time.Now()
	return func() time.Duration { return time.Since(start) }
}
