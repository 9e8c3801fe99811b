//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

//go:generate go run gen_kernels.go

// kernelAVX512x8x32 is the AVX-512F micro-kernel (mr=8, nr=32; kernel_amd64.s). It follows
// the kernel contract with pointers for slices; kernelRef is its Go twin.
//
//go:noescape
func kernelAVX512x8x32(kc int, a, b, c *float32, ldc, rows, cols int, alpha, beta float32)

// kernelAVX2x6x16 is the AVX2+FMA micro-kernel (mr=6, nr=16; kernel_amd64.s). masks points
// at 16 int32 lane masks (-1 for the live columns) used when cols < 16.
//
//go:noescape
func kernelAVX2x6x16(kc int, a, b, c *float32, ldc, rows, cols int, alpha, beta float32, masks *int32)

// avx2Masks[c] enables the first c of 16 lanes, for kernelAVX2x6x16's ragged tiles.
var avx2Masks = func() (m [17][16]int32) {
	for c := range m {
		for j := 0; j < c; j++ {
			m[c][j] = -1
		}
	}
	return m
}()

// avx512Kernel: per k step 2 zmm loads of B, 8 broadcasts of A, 16 FMAs; 16 accumulators
// cover the FMA latency. kc=384 keeps the A micro-panel (12 KB) in L1 and a kc×nc B block
// (384·320·4 = 480 KB) in L2.
var avx512Kernel = &kernel{name: "avx512", mr: 8, nr: 32, kc: 384, mc: 1536, nc: 320,
	fn: func(kc int, a, b, c []float32, ldc, rows, cols int, alpha, beta float32) {
		_, _ = a[8*kc-1], b[32*kc-1]
		_ = c[(rows-1)*ldc+cols-1]
		kernelAVX512x8x32(kc, &a[0], &b[0], &c[0], ldc, rows, cols, alpha, beta)
	}}

// avx2Kernel: per k step 2 ymm loads of B, 6 broadcasts of A, 12 FMAs (the 6×16 shape of
// BLIS's Haswell sgemm kernel).
var avx2Kernel = &kernel{name: "avx2", mr: 6, nr: 16, kc: 256, mc: 1536, nc: 512,
	fn: func(kc int, a, b, c []float32, ldc, rows, cols int, alpha, beta float32) {
		_, _ = a[6*kc-1], b[16*kc-1]
		_ = c[(rows-1)*ldc+cols-1]
		kernelAVX2x6x16(kc, &a[0], &b[0], &c[0], ldc, rows, cols, alpha, beta, &avx2Masks[cols][0])
	}}

func init() {
	kernels = nil
	if cpu.X86.HasAVX512F {
		kernels = append(kernels, avx512Kernel)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		kernels = append(kernels, avx2Kernel)
	}
	kernels = append(kernels, goKernel)
}
