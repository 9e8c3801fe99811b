//go:build ignore

// synth writes a synthetic test picture as a binary PPM (or PGM with -gray) to
// stdout: smooth gradients, hard-edged discs and stripes, and seeded noise, so that
// the JPEGs made from it use small and large coefficients, short and long Huffman
// codes. gen.sh runs it; it never touches real photos.
//
//	go run synth.go -w 61 -h 47 [-gray] [-seed 1] > out.ppm
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
)

func main() {
	w := flag.Int("w", 64, "width")
	h := flag.Int("h", 48, "height")
	gray := flag.Bool("gray", false, "write a PGM")
	seed := flag.Uint64("seed", 1, "noise seed")
	flag.Parse()
	rng := rand.New(rand.NewPCG(*seed, 7))
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	if *gray {
		fmt.Fprintf(out, "P5\n%d %d\n255\n", *w, *h)
	} else {
		fmt.Fprintf(out, "P6\n%d %d\n255\n", *w, *h)
	}
	clamp := func(v float64) byte { return byte(math.Max(0, math.Min(255, math.Round(v)))) }
	for y := 0; y < *h; y++ {
		for x := 0; x < *w; x++ {
			fx, fy := float64(x)/float64(max(*w-1, 1)), float64(y)/float64(max(*h-1, 1))
			r := 255 * fx
			g := 255 * fy
			b := 128 + 100*math.Sin(float64(x+y)/5)
			// A disc and vertical stripes with hard edges.
			if dx, dy := fx-0.6, fy-0.4; dx*dx+dy*dy < 0.05 {
				r, g, b = 250, 30, 40
			}
			if x%11 < 2 {
				r, g, b = 10, 10, 10
			}
			n := rng.NormFloat64() * 12
			r, g, b = r+n, g+n, b-n
			if *gray {
				out.WriteByte(clamp(0.3*r + 0.59*g + 0.11*b))
			} else {
				out.Write([]byte{clamp(r), clamp(g), clamp(b)})
			}
		}
	}
}
