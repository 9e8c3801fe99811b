//go:build !unix

package cmd

import "os"

// openNoBlock opens path for reading; systems without FIFOs in the file system
// have nothing to wait on.
func openNoBlock(path string) (*os.File, error) { return os.Open(path) }
