package cmd

import (
	"slices"
	"strings"
	"testing"
)

// TestCommandList checks that the root command holds exactly the commands listed in
// commands, each once, and that --help lists them in that order (the list is the one
// place a command is added), and likewise for `autotag weights`.
func TestCommandList(t *testing.T) {
	root := NewRootCommand()
	var want []string
	for _, newCmd := range commands {
		want = append(want, newCmd().Name())
	}
	var got []string
	for _, c := range root.Commands() {
		if c.Name() != "help" {
			got = append(got, c.Name())
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("root commands %v, want the list %v", got, want)
	}
	out, _, err := runCLI(t, "", "--help")
	if err != nil {
		t.Fatal(err)
	}
	at := -1
	for _, name := range want {
		i := strings.Index(out, "\n  "+name+" ")
		if i < 0 || i < at {
			t.Fatalf("--help lists %q out of the list's order:\n%s", name, out)
		}
		at = i
	}
	out, _, err = runCLI(t, "", "weights", "--help")
	if err != nil {
		t.Fatal(err)
	}
	at = -1
	for _, name := range []string{"export-onnx", "import", "inspect", "list", "pull"} {
		i := strings.Index(out, "\n  "+name+" ")
		if i < 0 || i < at {
			t.Fatalf("weights --help lists %q out of order:\n%s", name, out)
		}
		at = i
	}
}
