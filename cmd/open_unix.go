//go:build unix

package cmd

import (
	"os"
	"syscall"
)

// openNoBlock opens path for reading without waiting on it: opening a FIFO with no
// writer (or a device that blocks on open) returns at once, so the caller can look
// at what it opened and refuse it instead of hanging.
func openNoBlock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
