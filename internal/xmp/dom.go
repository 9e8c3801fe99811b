package xmp

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// A small XML tree that round-trips a sidecar verbatim: element and attribute names
// keep the prefixes they were written with (encoding/xml's RawToken does not
// translate them), comments, processing instructions (the xpacket wrapper) and
// whitespace are kept, and only the nodes autotag edits change. encoding/xml's
// Encoder cannot be used for output: it rewrites namespace prefixes.

type nodeKind int

const (
	elementNode nodeKind = iota
	textNode
	commentNode
	procInstNode
	directiveNode
)

type node struct {
	kind   nodeKind
	prefix string     // element: namespace prefix as written ("" when none)
	local  string     // element: local name; procinst: target
	attrs  []xml.Attr // element: attributes, names as written (Space = prefix)
	kids   []*node
	data   string // text, comment, procinst instruction, directive
	parent *node
}

// MaxDepth bounds how deeply a sidecar's elements may nest. Real XMP nests a few
// levels (x:xmpmeta, rdf:RDF, rdf:Description, a property, an array, its items, a
// structure or two); walking up a deeper tree to resolve each namespace prefix, and
// recursing down it, would let a sidecar of a few megabytes cost minutes of CPU or
// the whole goroutine stack.
const MaxDepth = 64

// parseTree reads an XML document into a tree under a synthetic root node.
func parseTree(doc []byte) (*node, error) {
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	root := &node{kind: elementNode}
	cur := root
	depth := 0
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not well-formed XML: %w", err)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			if depth++; depth > MaxDepth {
				return nil, fmt.Errorf("xmp: elements nest deeper than %d levels", MaxDepth)
			}
			n := &node{kind: elementNode, prefix: tk.Name.Space, local: tk.Name.Local, attrs: append([]xml.Attr(nil), tk.Attr...), parent: cur}
			cur.kids = append(cur.kids, n)
			cur = n
		case xml.EndElement:
			if cur == root || cur.prefix != tk.Name.Space || cur.local != tk.Name.Local {
				return nil, fmt.Errorf("not well-formed XML: unexpected </%s>", qname(tk.Name.Space, tk.Name.Local))
			}
			cur = cur.parent
			depth--
		case xml.CharData:
			if cur == root && len(bytes.TrimSpace(tk)) > 0 {
				return nil, fmt.Errorf("not well-formed XML: text outside the root element")
			}
			cur.kids = append(cur.kids, &node{kind: textNode, data: string(tk), parent: cur})
		case xml.Comment:
			cur.kids = append(cur.kids, &node{kind: commentNode, data: string(tk), parent: cur})
		case xml.ProcInst:
			cur.kids = append(cur.kids, &node{kind: procInstNode, local: tk.Target, data: string(tk.Inst), parent: cur})
		case xml.Directive:
			return nil, fmt.Errorf("XML directives (<!DOCTYPE …>) are not allowed in a sidecar")
		}
	}
	if cur != root {
		return nil, fmt.Errorf("not well-formed XML: <%s> is not closed", qname(cur.prefix, cur.local))
	}
	return root, nil
}

func qname(prefix, local string) string {
	if prefix == "" {
		return local
	}
	return prefix + ":" + local
}

// write serialises the children of root.
func (root *node) write(w *bytes.Buffer) {
	for _, k := range root.kids {
		k.writeNode(w)
	}
}

func (n *node) writeNode(w *bytes.Buffer) {
	switch n.kind {
	case textNode:
		escape(w, n.data, false)
	case commentNode:
		w.WriteString("<!--" + n.data + "-->")
	case procInstNode:
		w.WriteString("<?" + n.local)
		if n.data != "" {
			w.WriteString(" " + n.data)
		}
		w.WriteString("?>")
	case elementNode:
		w.WriteString("<" + qname(n.prefix, n.local))
		for _, a := range n.attrs {
			w.WriteString(" " + qname(a.Name.Space, a.Name.Local) + `="`)
			escape(w, a.Value, true)
			w.WriteString(`"`)
		}
		if len(n.kids) == 0 {
			w.WriteString("/>")
			return
		}
		w.WriteString(">")
		for _, k := range n.kids {
			k.writeNode(w)
		}
		w.WriteString("</" + qname(n.prefix, n.local) + ">")
	}
}

// escape writes s as XML character data (attr: as an attribute value).
func escape(w *bytes.Buffer, s string, attr bool) {
	for _, r := range s {
		switch {
		case r == '&':
			w.WriteString("&amp;")
		case r == '<':
			w.WriteString("&lt;")
		case r == '>':
			w.WriteString("&gt;")
		case attr && r == '"':
			w.WriteString("&quot;")
		case attr && (r == '\n' || r == '\r' || r == '\t'):
			fmt.Fprintf(w, "&#x%X;", r)
		case r == '\r':
			w.WriteString("&#xD;")
		case r < 0x20 && r != '\n' && r != '\t', r == 0xFFFE, r == 0xFFFF:
			// Not allowed in XML 1.0 at all; drop.
		default:
			w.WriteRune(r)
		}
	}
}

// nsLookup returns the namespace URI bound to prefix at n (walking up), or "".
func (n *node) nsLookup(prefix string) string {
	for e := n; e != nil; e = e.parent {
		for _, a := range e.attrs {
			if prefix == "" && a.Name.Space == "" && a.Name.Local == "xmlns" {
				return a.Value
			}
			if prefix != "" && a.Name.Space == "xmlns" && a.Name.Local == prefix {
				return a.Value
			}
		}
	}
	if prefix == "xml" {
		return "http://www.w3.org/XML/1998/namespace"
	}
	return ""
}

// prefixFor returns a prefix bound to uri in scope at n, or ok=false.
func (n *node) prefixFor(uri string) (string, bool) {
	seen := map[string]bool{}
	for e := n; e != nil; e = e.parent {
		for _, a := range e.attrs {
			if a.Name.Space == "xmlns" && !seen[a.Name.Local] {
				seen[a.Name.Local] = true
				if a.Value == uri {
					return a.Name.Local, true
				}
			}
		}
	}
	return "", false
}

// is reports whether n is the element {uri}local.
func (n *node) is(uri, local string) bool {
	return n.kind == elementNode && n.local == local && n.nsLookup(n.prefix) == uri
}

// attrIs reports whether attribute a of element n is {uri}local.
func (n *node) attrIs(a xml.Attr, uri, local string) bool {
	return a.Name.Local == local && a.Name.Space != "" && a.Name.Space != "xmlns" && n.nsLookup(a.Name.Space) == uri
}

// find returns the first descendant element {uri}local (depth first), or nil.
func (n *node) find(uri, local string) *node {
	for _, k := range n.kids {
		if k.is(uri, local) {
			return k
		}
		if f := k.find(uri, local); f != nil {
			return f
		}
	}
	return nil
}

// children returns the child elements {uri}local.
func (n *node) children(uri, local string) []*node {
	var out []*node
	for _, k := range n.kids {
		if k.is(uri, local) {
			out = append(out, k)
		}
	}
	return out
}

// text is the concatenated character data of n's children.
func (n *node) text() string {
	var b strings.Builder
	for _, k := range n.kids {
		if k.kind == textNode {
			b.WriteString(k.data)
		}
	}
	return b.String()
}

// depth is the number of element ancestors of n.
func (n *node) depth() int {
	d := 0
	for e := n.parent; e != nil && e.parent != nil; e = e.parent {
		d++
	}
	return d
}
