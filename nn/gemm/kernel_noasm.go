//go:build !amd64 || purego

package gemm

// Without assembly kernels (other architectures, or the purego tag) the pure-Go kernel
// is the only one.
func init() { kernels = []*kernel{goKernel} }
