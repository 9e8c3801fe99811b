package gemm

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPackRows8MatchesTwin compares packRows8 (assembly where the CPU has it) with its Go
// twin packRows8Go on ragged lengths, strides and leading dimensions.
func TestPackRows8MatchesTwin(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, kc := range []int{1, 15, 16, 17, 31, 64, 100, 384} {
		for _, stride := range []int{8, 32, 13} {
			lda := kc + r.IntN(5)
			off := r.IntN(3)
			a := randSlice(r, off+8*lda)
			want := randSlice(r, kc*stride+8)
			got := slices.Clone(want)
			packRows8Go(want, stride, a, off, lda, kc)
			packRows8(got, stride, a, off, lda, kc)
			if !slices.Equal(got, want) {
				t.Fatalf("kc=%d stride=%d lda=%d: packRows8 differs from its Go twin", kc, stride, lda)
			}
		}
	}
}

// TestPackLayouts checks packA and packB against their definitions, padding included.
func TestPackLayouts(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	for _, kn := range kernels {
		for _, trans := range []bool{false, true} {
			rows, k, p0, kc := 2*kn.mr+3, 70, 5, 41
			ld := k + 2
			if trans {
				ld = rows + 2
			}
			src := randSlice(r, max(rows, k)*ld)
			at := func(i, p int) float32 {
				if trans {
					return src[p*ld+i]
				}
				return src[i*ld+p]
			}
			da := make([]float32, ceilDiv(rows, kn.mr)*kn.mr*kc)
			packA(da, trans, src, ld, 0, rows, p0, kc, kn.mr)
			for i := 0; i < ceilDiv(rows, kn.mr)*kn.mr; i++ {
				for p := 0; p < kc; p++ {
					want := float32(0)
					if i < rows {
						want = at(i, p0+p)
					}
					if got := da[(i/kn.mr)*kn.mr*kc+p*kn.mr+i%kn.mr]; got != want {
						t.Fatalf("%s packA trans=%v: (%d,%d) = %v, want %v", kn.name, trans, i, p, got, want)
					}
				}
			}
			// op(B) = op(src)ᵀ here: B-role column j is src's op-row j.
			db := make([]float32, ceilDiv(rows, kn.nr)*kn.nr*kc)
			packB(db, !trans, src, ld, p0, kc, 0, rows, kn.nr)
			for j := 0; j < ceilDiv(rows, kn.nr)*kn.nr; j++ {
				for p := 0; p < kc; p++ {
					want := float32(0)
					if j < rows {
						want = at(j, p0+p)
					}
					if got := db[(j/kn.nr)*kn.nr*kc+p*kn.nr+j%kn.nr]; got != want {
						t.Fatalf("%s packB trans=%v: (%d,%d) = %v, want %v", kn.name, !trans, p, j, got, want)
					}
				}
			}
		}
	}
}

// TestRepack checks that repacking A-role panels of op(A) gives the B-role panels of
// op(A)ᵀ (and back), for widths that divide each other and for ones that do not.
func TestRepack(t *testing.T) {
	r := rand.New(rand.NewPCG(45, 46))
	for _, kn := range kernels {
		for _, sz := range [][2]int{{37, 500}, {8, 3}, {64, 384}} {
			m, k := sz[0], sz[1]
			a := randSlice(r, m*k)
			asA := packAPanels(kn, false, a, k, m, k)
			asB := packBPanels(kn, true, a, k, k, m) // op(B) = Aᵀ: column j is row j of A
			if got := asA.repack(kn.nr); !slices.Equal(got.data, asB.data) {
				t.Fatalf("%s %dx%d: A-role repacked to width %d differs from B-role packing", kn.name, m, k, kn.nr)
			}
			if got := asB.repack(kn.mr); !slices.Equal(got.data, asA.data) {
				t.Fatalf("%s %dx%d: B-role repacked to width %d differs from A-role packing", kn.name, m, k, kn.mr)
			}
		}
	}
}
