package gemm

import (
	"time"

	"golang.org/x/sys/unix"
)

// cpuTime returns a reader of this thread's CPU time (thread; the caller must hold
// runtime.LockOSThread) or the whole process's. Benchmarks on a shared, loaded machine
// report rates by CPU time too, which preemption by other processes does not inflate.
func cpuTime(thread bool) func() time.Duration {
	clock := int32(unix.CLOCK_PROCESS_CPUTIME_ID)
	if thread {
		clock = unix.CLOCK_THREAD_CPUTIME_ID
	}
	return func() time.Duration {
		var ts unix.Timespec
		if err := unix.ClockGettime(clock, &ts); err != nil {
			panic(err)
		}
		return time.Duration(ts.Nano())
	}
}
