//go:build !amd64 || purego

package nn

// useAVX2 is false off amd64 and under the purego tag: epilogueRow runs its pure-Go
// loop (epilogueRowGo), the reference TestEpilogueRowMatchesGo compares the AVX2 body with.
var useAVX2 = false

func epilogueAVX2(y, r []float32, bias float32, relu bool) {
	panic("nn: AVX2 epilogue called in a build without assembly")
}
