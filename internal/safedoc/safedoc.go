// Package safedoc reads small configuration documents (label rules, class-name lists)
// from files a user may have been handed, within fixed bounds: only regular files, a
// size checked before reading, and for YAML and JSON a nesting depth and, for YAML, a
// count of nodes with aliases expanded, so a hostile document is refused with an error
// instead of exhausting the stack, the heap or the CPU.
package safedoc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"go.yaml.in/yaml/v3"
)

// Limits bound what one document may cost.
type Limits struct {
	MaxBytes int64 // largest document accepted
	MaxDepth int   // deepest nesting of sequences and mappings (the top-level value is depth 1)
	MaxNodes int   // most YAML nodes, counting every alias as the nodes it expands to
}

// ReadFile reads path if it is a regular file of at most maxBytes. The size is checked
// before reading, and a FIFO or device is refused before it is opened, so neither
// /dev/zero nor a named pipe can make the caller read forever or block.
func ReadFile(path string, maxBytes int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if st.Size() > maxBytes {
		return nil, fmt.Errorf("%s: %d bytes is over the limit of %d", path, st.Size(), maxBytes)
	}
	// O_NONBLOCK: a FIFO swapped in after Stat must not block the open; the second
	// check below refuses it.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The file may have been swapped or grown since Stat: check again and bound the read.
	if st, err = f.Stat(); err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > maxBytes {
		return nil, fmt.Errorf("%s: over the limit of %d bytes", path, maxBytes)
	}
	return b, nil
}

// CheckSize refuses a document longer than lim.MaxBytes.
func CheckSize(b []byte, lim Limits) error {
	if int64(len(b)) > lim.MaxBytes {
		return fmt.Errorf("document of %d bytes is over the limit of %d", len(b), lim.MaxBytes)
	}
	return nil
}

// CheckJSONDepth refuses a JSON text whose arrays and objects nest deeper than
// maxDepth. It scans the bytes once without recursion, so the check itself cannot
// overflow; the text need not be valid (the decoder reports that).
func CheckJSONDepth(b []byte, maxDepth int) error {
	depth, line := 0, 1
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case c == '\n':
			line++
			inString = false // JSON strings cannot span lines; the decoder reports it
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			if depth > maxDepth {
				return fmt.Errorf("line %d: nested deeper than %d levels", line, maxDepth)
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return nil
}

// ErrEmpty is returned by ParseYAML for a document with no content (only comments,
// blank lines, or a lone null).
var ErrEmpty = errors.New("empty document")

// ParseYAML parses b, which must hold exactly one YAML document, into its node tree
// (the document's single content node), after checking its size, and checks the
// tree's depth and expanded size against lim. The YAML library bounds its own
// recursion while parsing (it refuses nesting beyond 10000 levels); the checks here
// are far tighter, and they follow aliases, so a "billion laughs" document is refused
// after lim.MaxNodes steps rather than expanded.
func ParseYAML(b []byte, lim Limits) (*yaml.Node, error) {
	if err := CheckSize(b, lim); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ErrEmpty
		}
		return nil, Tidy(err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		return nil, fmt.Errorf("line %d: a second YAML document; want one", next.Line)
	} else if !errors.Is(err, io.EOF) {
		return nil, Tidy(err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, ErrEmpty
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, ErrEmpty
	}
	w := walker{lim: lim}
	if err := w.walk(root, 1); err != nil {
		return nil, err
	}
	return root, nil
}

type walker struct {
	lim   Limits
	nodes int
}

// walk counts n and its descendants, following aliases, and fails as soon as the
// depth or the count is over the limit; its recursion is bounded by lim.MaxDepth.
func (w *walker) walk(n *yaml.Node, depth int) error {
	w.nodes++
	if w.nodes > w.lim.MaxNodes {
		return fmt.Errorf("line %d: more than %d YAML nodes (aliases expanded)", n.Line, w.lim.MaxNodes)
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return fmt.Errorf("line %d: unknown alias", n.Line)
		}
		return w.walk(n.Alias, depth)
	case yaml.SequenceNode, yaml.MappingNode:
		if depth > w.lim.MaxDepth {
			return fmt.Errorf("line %d: nested deeper than %d levels", n.Line, w.lim.MaxDepth)
		}
		for _, c := range n.Content {
			if err := w.walk(c, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// Tidy flattens the YAML library's multi-line decoding errors ("yaml: unmarshal
// errors:\n  line 3: …") into one line, and drops the "yaml: " prefix, so that a
// caller's context reads naturally: "rules file x.yaml: line 3: …".
func Tidy(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return errors.New(strings.Join(te.Errors, "; "))
	}
	return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
}
