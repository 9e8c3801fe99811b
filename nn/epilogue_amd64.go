//go:build !purego

package nn

import "golang.org/x/sys/cpu"

// useAVX2 selects the AVX2 epilogue (epilogue_amd64.s) on CPUs that have it; with the
// purego tag epilogue_other.go replaces this file and no assembly is linked.
var useAVX2 = cpu.X86.HasAVX2

// epilogueAVX2 is the vector body of epilogueRow for len(y) a multiple of 8.
//
//go:noescape
func epilogueAVX2(y, r []float32, bias float32, relu bool)
