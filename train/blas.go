package train

import (
	"sync"

	"gorgonia.org/gorgonia"

	"github.com/autotag/autotag/nn/gemm"
)

// gemmBLAS makes useGemmBLAS set Gorgonia's BLAS once per process.
var gemmBLAS sync.Once

// useGemmBLAS routes Gorgonia's stock matrix products (the head's layers, the
// fine-tuner's classifier) through nn/gemm instead of gonum's pure-Go BLAS, the faster
// of the two for the head's products (BenchmarkEpochMLP measures both). It is the one
// place in the project that calls gorgonia.Use.
//
// Why a process-wide setting and not an option of a run: Gorgonia v0.9 keeps its BLAS
// in a package variable (gorgonia.Use, which also sets tensor.Use) that every graph
// and machine reads, with no per-graph or per-VM choice, so it cannot be scoped to one
// training run. It is safe to set for everyone: gemm.BLAS is gonum's BLAS with only
// Sgemm replaced, and results stay bit-identical run to run
// (TestReproducibleWithGemmBLAS). Every head graph (newStepGraph) and Run, before
// fine-tuning's graphs, call it first, so every process that trains does so on the
// same BLAS: a run resumed in another process continues bit for bit
// (TestKillAndResume).
func useGemmBLAS() {
	gemmBLAS.Do(func() { gorgonia.Use(gemm.BLAS{}) })
}
