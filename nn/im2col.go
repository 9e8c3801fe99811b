package nn

// im2col unrolls channels [lo, hi) of one image into the rows of col, a (c·k·k) ×
// (ho·wo) row-major matrix with rows ldcol apart, whose row (ch·k + i)·k + j holds
// input pixel (oy·s − p + i, ox·s − p + j) of channel ch for every output position
// (zero outside the image). Channel ch's h×w plane starts at x[ch·chStride] (h·w in
// NCHW, B·h·w in CNHW). Then conv(x, W) = W[out, c·k·k] · col, as in Chellapilla et
// al. 2006, "High Performance Convolutional Neural Networks for Document Processing".
func im2col(x []float32, chStride, h, w, k, s, p, ho, wo int, col []float32, ldcol, lo, hi int) {
	plane := ho * wo
	same := s == 1 && ho == h && wo == w
	for ch := lo; ch < hi; ch++ {
		xc := x[ch*chStride : ch*chStride+h*w]
		for i := 0; i < k; i++ {
			for j := 0; j < k; j++ {
				row := col[((ch*k+i)*k+j)*ldcol:][:plane]
				if same {
					shiftPlane(xc, row, h, w, i-p, j-p)
					continue
				}
				oxLo, oxHi := validRange(w, wo, s, p, j)
				for oy := 0; oy < ho; oy++ {
					dst := row[oy*wo : (oy+1)*wo]
					iy := oy*s - p + i
					if iy < 0 || iy >= h {
						clear(dst)
						continue
					}
					src := xc[iy*w : (iy+1)*w]
					clear(dst[:oxLo])
					clear(dst[oxHi:])
					if s == 1 {
						copy(dst[oxLo:oxHi], src[oxLo-p+j:])
						continue
					}
					for ox := oxLo; ox < oxHi; ox++ {
						dst[ox] = src[ox*s-p+j]
					}
				}
			}
		}
	}
}

// shiftPlane writes dst[y][x] = src[y+dy][x+dx] (0 outside) for h×w planes: the row
// of a stride-1 "same" convolution's im2col. The bulk is one contiguous copy of the
// flattened plane shifted by dy·w + dx; the columns that wrapped around a row edge are
// zeroed afterwards (a position whose source row is outside the plane is either outside
// the copied span or in such a column).
func shiftPlane(src, dst []float32, h, w, dy, dx int) {
	off, n := dy*w+dx, h*w
	lo := min(max(0, -off), n)
	hi := max(min(n, n-off), lo)
	clear(dst[:lo])
	if hi > lo {
		copy(dst[lo:hi], src[lo+off:hi+off])
	}
	clear(dst[hi:n])
	switch {
	case dx < 0:
		for y := 0; y < h; y++ {
			clear(dst[y*w : y*w-dx])
		}
	case dx > 0:
		for y := 0; y < h; y++ {
			clear(dst[(y+1)*w-dx : (y+1)*w])
		}
	}
}

// col2im is the adjoint of im2col for one NCHW image with a dense col (ldcol = ho·wo):
// it adds each entry of col back onto the input pixel it was copied from (channels
// [lo, hi)). Used by the convolution's input gradient.
func col2im(col []float32, h, w, k, s, p, ho, wo int, dx []float32, lo, hi int) {
	plane := ho * wo
	for ch := lo; ch < hi; ch++ {
		xc := dx[ch*h*w : (ch+1)*h*w]
		for i := 0; i < k; i++ {
			for j := 0; j < k; j++ {
				row := col[((ch*k+i)*k+j)*plane:][:plane]
				oxLo, oxHi := validRange(w, wo, s, p, j)
				for oy := 0; oy < ho; oy++ {
					iy := oy*s - p + i
					if iy < 0 || iy >= h {
						continue
					}
					src := row[oy*wo : (oy+1)*wo]
					dst := xc[iy*w : (iy+1)*w]
					for ox := oxLo; ox < oxHi; ox++ {
						dst[ox*s-p+j] += src[ox]
					}
				}
			}
		}
	}
}

// validRange is the range [lo, hi) of output columns ox whose input column
// ox·s − p + j falls inside [0, w).
func validRange(w, wo, s, p, j int) (lo, hi int) {
	if p-j > 0 {
		lo = (p - j + s - 1) / s
	}
	if last := w - 1 + p - j; last >= 0 {
		hi = min(wo, last/s+1)
	}
	lo = min(lo, wo)
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

// subsample copies channels [lo, hi) of one image (planes chStride apart, as in
// im2col) at stride s into the rows of dst (ho·wo wide, ldd apart): the input of a
// strided 1x1 convolution, which is otherwise a plain GEMM.
func subsample(x []float32, chStride, h, w, s, ho, wo int, dst []float32, ldd, lo, hi int) {
	for ch := lo; ch < hi; ch++ {
		xc := x[ch*chStride:]
		dc := dst[ch*ldd:]
		for oy := 0; oy < ho; oy++ {
			src := xc[oy*s*w:]
			d := dc[oy*wo : (oy+1)*wo]
			for ox := range d {
				d[ox] = src[ox*s]
			}
		}
	}
}
