package gemm

// goKernel is the pure-Go micro-kernel: 4×4 scalar accumulators, which fit the 16 float
// registers of amd64 and leave room on arm64. It is the kernel on every CPU without an
// assembly kernel and the reference the assembly kernels are tested against.
var goKernel = &kernel{name: "go", mr: 4, nr: 4, kc: 256, mc: 1024, nc: 512,
	fn: func(kc int, a, b, c []float32, ldc, rows, cols int, alpha, beta float32) {
		t := tileGo4x4(kc, a, b)
		storeTile(t[:], 4, c, ldc, rows, cols, alpha, beta)
	},
	fnT: func(kc int, a, b, c []float32, ldc, rows, cols int, alpha, beta float32) {
		t := tileGo4x4(kc, a, b)
		storeTileT(t[:], 4, c, ldc, rows, cols, alpha, beta)
	},
}

// tileGo4x4 multiplies a 4×kc A micro-panel by a kc×4 B micro-panel into a 4×4 tile.
func tileGo4x4(kc int, a, b []float32) [16]float32 {
	a = a[:4*kc]
	b = b[:4*kc]
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	for len(a) >= 4 && len(b) >= 4 {
		ap, bp := a[:4:4], b[:4:4]
		a, b = a[4:], b[4:]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		a0 := ap[0]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		a1 := ap[1]
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a2 := ap[2]
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		a3 := ap[3]
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	return [16]float32{
		c00, c01, c02, c03,
		c10, c11, c12, c13,
		c20, c21, c22, c23,
		c30, c31, c32, c33,
	}
}

// storeTile writes C = alpha·t + beta·C for the rows×cols corner of the tile t (row stride
// nr); C is not read when beta is zero.
func storeTile(t []float32, nr int, c []float32, ldc, rows, cols int, alpha, beta float32) {
	for i := 0; i < rows; i++ {
		ti := t[i*nr : i*nr+cols]
		ci := c[i*ldc : i*ldc+cols]
		if beta == 0 {
			for j, v := range ti {
				ci[j] = alpha * v
			}
		} else {
			for j, v := range ti {
				ci[j] = alpha*v + beta*ci[j]
			}
		}
	}
}

// storeTileT is storeTile with C transposed: tile element (i, j) goes to c[j·ldc+i].
func storeTileT(t []float32, nr int, c []float32, ldc, rows, cols int, alpha, beta float32) {
	for i := 0; i < rows; i++ {
		for j, v := range t[i*nr : i*nr+cols] {
			if beta == 0 {
				c[j*ldc+i] = alpha * v
			} else {
				c[j*ldc+i] = alpha*v + beta*c[j*ldc+i]
			}
		}
	}
}

// kernelRef is the plain-Go twin of every micro-kernel: the kernel contract (see kernel)
// for any mr×nr, written as directly as possible. Tests compare each assembly kernel with
// it on the same packed panels.
func kernelRef(mr, nr, kc int, a, b, c []float32, ldc, rows, cols int, alpha, beta float32) {
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			var s float32
			for p := 0; p < kc; p++ {
				s += a[p*mr+i] * b[p*nr+j]
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}

// kernelRefT is kernelRef with the transposed store of kernel.fnT.
func kernelRefT(mr, nr, kc int, a, b, c []float32, ldc, rows, cols int, alpha, beta float32) {
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			var s float32
			for p := 0; p < kc; p++ {
				s += a[p*mr+i] * b[p*nr+j]
			}
			if beta == 0 {
				c[j*ldc+i] = alpha * s
			} else {
				c[j*ldc+i] = alpha*s + beta*c[j*ldc+i]
			}
		}
	}
}
