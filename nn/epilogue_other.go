//go:build !amd64

package nn

// useAVX2 is false off amd64: epilogueRow runs its pure-Go loop.
var useAVX2 = false

func epilogueAVX2(y, r []float32, bias float32, relu bool) {
	panic("nn: AVX2 epilogue on a non-amd64 CPU")
}
