package gemm

import (
	"fmt"
	"sync/atomic"
)

// A kernel is one register-blocked micro-kernel with the panel shape it needs.
//
// fn multiplies an mr×kc packed A micro-panel by a kc×nr packed B micro-panel and writes
// the top-left rows×cols corner of the mr×nr product into C:
//
//	C[i][j] = alpha·Σp a[p·mr+i]·b[p·nr+j] + beta·C[i][j]   (i < rows, j < cols)
//
// where C[i][j] is c[i·ldc+j]. When beta is zero C is only written. kc ≥ 1, 1 ≤ rows ≤ mr,
// 1 ≤ cols ≤ nr; a holds kc·mr and b kc·nr elements (packing pads with zeros).
type kernel struct {
	name       string
	mr, nr     int // tile shape
	kc, mc, nc int // cache blocking, see blockSizes
	fn         func(kc int, a, b, c []float32, ldc, rows, cols int, alpha, beta float32)
	// fnT is fn with a transposed store: tile element (i, j) goes to c[j·ldc+i]. Nil when
	// the kernel has none; the driver then never runs products transposed (orient.go).
	fnT func(kc int, a, b, c []float32, ldc, rows, cols int, alpha, beta float32)
}

// kernels lists the micro-kernels this CPU can run, fastest first; it always ends with
// the pure-Go kernel. Filled by the per-architecture files.
var kernels []*kernel

// current is the kernel Sgemm uses; nil means kernels[0].
var current atomic.Pointer[kernel]

// active returns the kernel in use.
func active() *kernel {
	if k := current.Load(); k != nil {
		return k
	}
	return kernels[0]
}

// Kernels names the micro-kernels this CPU can run, fastest (the default) first:
// "avx512" and "avx2" on amd64 CPUs that have them, and always "go", the pure-Go kernel.
func Kernels() []string {
	names := make([]string, len(kernels))
	for i, k := range kernels {
		names[i] = k.name
	}
	return names
}

// Kernel names the micro-kernel Sgemm uses now.
func Kernel() string { return active().name }

// SetKernel makes Sgemm use the named micro-kernel (one of Kernels(); "" restores the
// default). It exists for tests and benchmarks, which exercise every path on one machine;
// products should leave the default. PackedA values keep the kernel they were packed for.
func SetKernel(name string) error {
	if name == "" {
		current.Store(nil)
		return nil
	}
	for _, k := range kernels {
		if k.name == name {
			current.Store(k)
			return nil
		}
	}
	return fmt.Errorf("gemm: kernel %q not available on this CPU (have %v)", name, Kernels())
}
