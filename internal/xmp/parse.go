package xmp

import (
	"fmt"
	"strings"
)

// Name is an XMP property name: namespace URI and local name.
type Name struct{ NS, Local string }

// Value is an XMP property value (XMP Part 1 §6.2: simple, structure, array).
type Value struct {
	Kind   string         // "simple", "uri", "struct", "bag", "seq" or "alt"
	Text   string         // simple value or URI
	Items  []Value        // array items
	Fields map[Name]Value // structure fields
}

// Strings returns the text of an array's items (or of a simple value).
func (v Value) Strings() []string {
	if v.Kind == "simple" || v.Kind == "uri" {
		return []string{v.Text}
	}
	out := make([]string, len(v.Items))
	for i, it := range v.Items {
		out[i] = it.Text
	}
	return out
}

// Packet is the set of top-level properties of an XMP packet, from every
// rdf:Description of its rdf:RDF.
type Packet struct {
	Props map[Name]Value
}

// Get returns the property {ns}local.
func (p *Packet) Get(ns, local string) (Value, bool) {
	v, ok := p.Props[Name{ns, local}]
	return v, ok
}

// Parse reads an XMP packet or sidecar following the RDF serialisation of XMP Part 1
// §7.9 (the forms XMP writers use): properties as attributes of rdf:Description
// (§7.9.2.2), as child elements with simple text, rdf:resource URIs, nested
// rdf:Description or rdf:parseType="Resource" structures, and rdf:Bag / rdf:Seq /
// rdf:Alt arrays of rdf:li items. Namespaces are resolved, so any prefixes work. A
// property that appears twice is an error, as the spec requires.
func Parse(doc []byte) (*Packet, error) {
	_, rdf, err := parsePacket(doc)
	if err != nil {
		return nil, err
	}
	p := &Packet{Props: map[Name]Value{}}
	for _, d := range rdf.children(NSRDF, "Description") {
		if err := collectFields(d, p.Props); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// parsePacket reads doc as exactly one XMP packet (XMP Part 1 §7.3 and Part 3
// §2): an optional XML declaration, an optional <?xpacket begin?> … <?xpacket end?>
// wrapper, and one root element, x:xmpmeta holding one rdf:RDF, or a bare rdf:RDF.
// Anything else (a second root, a second rdf:RDF, content after the packet) is
// refused rather than guessed at: a merge would silently drop or misplace what the
// extra part holds. It returns the tree and its rdf:RDF element.
func parsePacket(doc []byte) (root, rdf *node, err error) {
	root, err = parseTree(doc)
	if err != nil {
		return nil, nil, err
	}
	var top *node
	begin, end := false, false
	for _, k := range root.kids {
		switch {
		case k.kind == elementNode:
			if top != nil {
				return nil, nil, fmt.Errorf("xmp: more than one root element (<%s> after <%s>); a sidecar holds one XMP packet",
					qname(k.prefix, k.local), qname(top.prefix, top.local))
			}
			if end {
				return nil, nil, fmt.Errorf("xmp: <%s> after the end of the XMP packet", qname(k.prefix, k.local))
			}
			top = k
		case k.kind == procInstNode && k.local == "xpacket":
			isEnd := strings.HasPrefix(strings.TrimSpace(k.data), "end")
			switch {
			case !isEnd && (begin || top != nil):
				return nil, nil, fmt.Errorf("xmp: <?xpacket begin?> must come once, before the packet")
			case isEnd && (end || !begin || top == nil):
				return nil, nil, fmt.Errorf("xmp: <?xpacket end?> without a packet before it")
			}
			begin, end = begin || !isEnd, end || isEnd
		case end && k.kind != textNode:
			return nil, nil, fmt.Errorf("xmp: content after the end of the XMP packet")
		}
	}
	switch {
	case top == nil:
		return nil, nil, fmt.Errorf("xmp: no root element")
	case begin && !end:
		return nil, nil, fmt.Errorf("xmp: <?xpacket begin?> without <?xpacket end?>")
	case top.is(NSRDF, "RDF"):
		return root, top, nil
	case !top.is(NSMeta, "xmpmeta") && !top.is(NSMeta, "xapmeta"):
		return nil, nil, fmt.Errorf("xmp: root element <%s> is neither x:xmpmeta nor rdf:RDF", qname(top.prefix, top.local))
	}
	kids, err := elementKids(top)
	if err != nil {
		return nil, nil, err
	}
	if len(kids) != 1 || !kids[0].is(NSRDF, "RDF") {
		return nil, nil, fmt.Errorf("xmp: x:xmpmeta holds %d elements, want one rdf:RDF", len(kids))
	}
	return root, kids[0], nil
}

// collectFields adds the properties of a Description-like element n (its non-RDF
// attributes and child elements) to into.
func collectFields(n *node, into map[Name]Value) error {
	add := func(name Name, v Value) error {
		if _, dup := into[name]; dup {
			return fmt.Errorf("xmp: property %s:%s appears twice", name.NS, name.Local)
		}
		into[name] = v
		return nil
	}
	for _, a := range n.attrs {
		if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
			continue
		}
		ns := n.nsLookup(a.Name.Space)
		if a.Name.Space == "" || ns == "" {
			return fmt.Errorf("xmp: attribute %s has no namespace", qname(a.Name.Space, a.Name.Local))
		}
		if ns == NSRDF || ns == "http://www.w3.org/XML/1998/namespace" {
			continue // rdf:about, xml:lang, …
		}
		if err := add(Name{ns, a.Name.Local}, Value{Kind: "simple", Text: a.Value}); err != nil {
			return err
		}
	}
	for _, k := range n.kids {
		if k.kind != elementNode {
			continue
		}
		ns := k.nsLookup(k.prefix)
		if ns == "" {
			return fmt.Errorf("xmp: element %s has no namespace", qname(k.prefix, k.local))
		}
		v, err := propertyValue(k)
		if err != nil {
			return err
		}
		if err := add(Name{ns, k.local}, v); err != nil {
			return err
		}
	}
	return nil
}

// rdfAttr returns the value of attribute rdf:local on n.
func rdfAttr(n *node, local string) (string, bool) {
	for _, a := range n.attrs {
		if n.attrIs(a, NSRDF, local) {
			return a.Value, true
		}
	}
	return "", false
}

// elementKids returns n's child elements; non-blank text beside them is an error.
func elementKids(n *node) ([]*node, error) {
	var out []*node
	for _, k := range n.kids {
		switch {
		case k.kind == elementNode:
			out = append(out, k)
		case k.kind == textNode && strings.TrimSpace(k.data) != "":
			if len(n.kids) > 1 {
				for _, o := range n.kids {
					if o.kind == elementNode {
						return nil, fmt.Errorf("xmp: %s mixes text and elements", qname(n.prefix, n.local))
					}
				}
			}
		}
	}
	return out, nil
}

// propertyValue reads a property element (§7.9.2.3-7.9.2.5).
func propertyValue(k *node) (Value, error) {
	if uri, ok := rdfAttr(k, "resource"); ok {
		return Value{Kind: "uri", Text: uri}, nil
	}
	kids, err := elementKids(k)
	if err != nil {
		return Value{}, err
	}
	if pt, ok := rdfAttr(k, "parseType"); ok {
		if pt != "Resource" {
			return Value{}, fmt.Errorf("xmp: rdf:parseType=%q is not supported", pt)
		}
		v := Value{Kind: "struct", Fields: map[Name]Value{}}
		return v, collectFields(k, v.Fields)
	}
	if len(kids) == 0 {
		// Simple value, or the attribute shorthand of a structure.
		fields := map[Name]Value{}
		if err := collectFields(k, fields); err != nil {
			return Value{}, err
		}
		if len(fields) > 0 {
			return Value{Kind: "struct", Fields: fields}, nil
		}
		return Value{Kind: "simple", Text: k.text()}, nil
	}
	if len(kids) != 1 {
		return Value{}, fmt.Errorf("xmp: property %s has %d child elements, want one", qname(k.prefix, k.local), len(kids))
	}
	c := kids[0]
	switch {
	case c.is(NSRDF, "Bag"), c.is(NSRDF, "Seq"), c.is(NSRDF, "Alt"):
		v := Value{Kind: strings.ToLower(c.local)}
		items, err := elementKids(c)
		if err != nil {
			return Value{}, err
		}
		for _, li := range items {
			if !li.is(NSRDF, "li") {
				return Value{}, fmt.Errorf("xmp: rdf:%s holds %s, want rdf:li", c.local, qname(li.prefix, li.local))
			}
			iv, err := propertyValue(li)
			if err != nil {
				return Value{}, err
			}
			v.Items = append(v.Items, iv)
		}
		return v, nil
	case c.is(NSRDF, "Description"):
		v := Value{Kind: "struct", Fields: map[Name]Value{}}
		return v, collectFields(c, v.Fields)
	}
	return Value{}, fmt.Errorf("xmp: property %s holds %s, want text, an array or a structure",
		qname(k.prefix, k.local), qname(c.prefix, c.local))
}
