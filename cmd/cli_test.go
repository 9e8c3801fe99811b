package cmd

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// runCLI runs the whole command tree with args, stdin as standard input, and returns
// what it wrote to stdout and stderr and its error.
func runCLI(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	root := NewRootCommand()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

// runCLIOutput is runCLI with no input, returning stdout followed by stderr.
func runCLIOutput(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, errOut, err := runCLI(t, "", args...)
	return out + errOut, err
}
