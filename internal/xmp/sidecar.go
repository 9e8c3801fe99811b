// Package xmp writes autotag's keywords into XMP sidecar files (Adobe XMP
// Specification Part 1, 2012, §7 "RDF serialization"; Part 3 §2 for sidecars) and reads
// them back, with encoding/xml only.
//
// Convention: the sidecar of photo.jpg is photo.jpg.xmp, as darktable and digiKam
// write it (Lightroom's photo.xmp collides when photo.jpg and photo.cr2 sit side by
// side). Keywords go to dc:subject (an rdf:Bag: what Lightroom, darktable, digiKam,
// exiftool and photo managers read as keywords) and lr:hierarchicalSubject
// ("autotag|animal|dog"). autotag records what it wrote in its own namespace
// (autotag:classifier, autotag:classifierSHA256, autotag:tagSettings, autotag:scores;
// names chosen not to shadow common ones such as Exif's Model), so a later run
// replaces its old keywords but keeps the ones a person added, and can tell an
// up-to-date sidecar. Everything else in an existing sidecar is kept verbatim.
package xmp

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"slices"
	"strings"
)

// Namespace URIs.
const (
	NSMeta    = "adobe:ns:meta/"
	NSRDF     = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
	NSDC      = "http://purl.org/dc/elements/1.1/"
	NSLR      = "http://ns.adobe.com/lightroom/1.0/"
	NSAutotag = "https://github.com/autotag/autotag/ns/xmp/1.0/"
)

// HierarchyRoot is the first level of the lr:hierarchicalSubject entries autotag
// writes ("autotag|animal|dog"); entries under it are autotag's to replace.
const HierarchyRoot = "autotag"

// SidecarPath is the sidecar of photo: photo + ".xmp".
func SidecarPath(photo string) string { return photo + ".xmp" }

// Tag is one keyword with its score.
type Tag struct {
	Label string  `json:"label"`
	Score float64 `json:"score"`
}

// State is what autotag wrote into a sidecar.
type State struct {
	Model       string // model name
	ModelSHA256 string // sha256 of the model file
	Config      string // fingerprint of the tagging settings (threshold, top-k, rules)
	Tags        []Tag  // the keywords with their scores
}

// Keyword is a tag to write, with its category path ("animal", "" for none).
type Keyword struct {
	Tag
	Category string
}

// Hierarchical is the lr:hierarchicalSubject entry of k: "autotag|category|label".
func (k Keyword) Hierarchical() string {
	parts := []string{HierarchyRoot}
	if k.Category != "" {
		parts = append(parts, k.Category)
	}
	return strings.Join(append(parts, k.Label), "|")
}

// ReadState returns autotag's record in a sidecar; ok is false when autotag never
// wrote to it.
func ReadState(doc []byte) (st State, ok bool, err error) {
	p, err := Parse(doc)
	if err != nil {
		return State{}, false, err
	}
	v, ok := p.Get(NSAutotag, "scores")
	if !ok {
		return State{}, false, nil
	}
	if err := json.Unmarshal([]byte(v.Text), &st.Tags); err != nil {
		return State{}, false, fmt.Errorf("autotag:scores: %w", err)
	}
	get := func(local string) string { v, _ := p.Get(NSAutotag, local); return v.Text }
	st.Model, st.ModelSHA256, st.Config = get("classifier"), get("classifierSHA256"), get("tagSettings")
	return st, true, nil
}

// template is a new, empty sidecar.
const template = `<?xpacket begin="` + "\ufeff" + `" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="autotag">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""/>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
`

// Update merges keywords into the sidecar doc (nil or empty: a new one) and returns
// the new document. Keywords autotag wrote before (per autotag:tags) and
// hierarchical entries under "autotag|" are replaced; other keywords and every other
// element, attribute, comment and namespace declaration are kept verbatim.
func Update(doc []byte, st State, keywords []Keyword) ([]byte, error) {
	if len(bytes.TrimSpace(doc)) == 0 {
		doc = []byte(template)
	}
	var old State
	if prev, ok, err := ReadState(doc); err != nil {
		return nil, fmt.Errorf("existing sidecar: %w", err)
	} else if ok {
		old = prev
	}
	root, rdf, err := parsePacket(doc)
	if err != nil {
		return nil, fmt.Errorf("existing sidecar: %w", err)
	}
	descs := rdf.children(NSRDF, "Description")
	if len(descs) == 0 {
		d := &node{kind: elementNode, prefix: rdf.prefix, local: "Description", parent: rdf,
			attrs: []xml.Attr{{Name: xml.Name{Space: rdf.prefix, Local: "about"}, Value: ""}}}
		insertChild(rdf, d)
		descs = []*node{d}
	}
	// A property may appear in one Description only: edit it where it is.
	home := func(uri, local string) *node {
		for _, d := range descs {
			if d.find(uri, local) != nil {
				return d
			}
			for _, a := range d.attrs {
				if d.attrIs(a, uri, local) {
					return d
				}
			}
		}
		return descs[0]
	}

	oldLabels := map[string]bool{}
	for _, t := range old.Tags {
		oldLabels[t.Label] = true
	}
	var subjects, hier []string
	for _, k := range keywords {
		subjects = append(subjects, k.Label)
		hier = append(hier, k.Hierarchical())
	}
	if err := updateBag(home(NSDC, "subject"), NSDC, "dc", "subject", func(items []string) []string {
		items = slices.DeleteFunc(items, func(s string) bool { return oldLabels[s] })
		return appendNew(items, subjects)
	}); err != nil {
		return nil, err
	}
	if err := updateBag(home(NSLR, "hierarchicalSubject"), NSLR, "lr", "hierarchicalSubject", func(items []string) []string {
		items = slices.DeleteFunc(items, func(s string) bool { return strings.HasPrefix(s, HierarchyRoot+"|") })
		return appendNew(items, hier)
	}); err != nil {
		return nil, err
	}
	tagsJSON, err := json.Marshal(st.Tags)
	if err != nil {
		return nil, err
	}
	if st.Tags == nil {
		tagsJSON = []byte("[]")
	}
	d := home(NSAutotag, "scores")
	for _, kv := range [][2]string{{"classifier", st.Model}, {"classifierSHA256", st.ModelSHA256}, {"tagSettings", st.Config}, {"scores", string(tagsJSON)}} {
		setAttr(d, NSAutotag, "autotag", kv[0], kv[1])
	}
	var out bytes.Buffer
	root.write(&out)
	return out.Bytes(), nil
}

// appendNew appends the items of add not yet in items.
func appendNew(items, add []string) []string {
	for _, a := range add {
		if !slices.Contains(items, a) {
			items = append(items, a)
		}
	}
	return items
}

// prefixOn returns a prefix for uri usable at element n, declaring it on n (as
// preferred, or preferred+N if that prefix is taken) when none is in scope.
func prefixOn(n *node, uri, preferred string) string {
	if p, ok := n.prefixFor(uri); ok && p != "" {
		return p
	}
	p := preferred
	for i := 1; n.nsLookup(p) != ""; i++ {
		p = fmt.Sprintf("%s%d", preferred, i)
	}
	n.attrs = append(n.attrs, xml.Attr{Name: xml.Name{Space: "xmlns", Local: p}, Value: uri})
	return p
}

// setAttr sets the simple property {uri}local on Description d as an attribute.
func setAttr(d *node, uri, preferred, local, value string) {
	// An element form of the property would conflict; drop it.
	for _, k := range d.kids {
		if k.is(uri, local) {
			removeChild(d, k)
			break
		}
	}
	for i, a := range d.attrs {
		if d.attrIs(a, uri, local) {
			d.attrs[i].Value = value
			return
		}
	}
	p := prefixOn(d, uri, preferred)
	d.attrs = append(d.attrs, xml.Attr{Name: xml.Name{Space: p, Local: local}, Value: value})
}

// updateBag rewrites the rdf:Bag of property {uri}local in Description d with
// edit(items). An empty result removes the property.
func updateBag(d *node, uri, preferred, local string, edit func([]string) []string) error {
	prop := d.find(uri, local)
	if prop != nil && prop.parent != d {
		return fmt.Errorf("existing sidecar: %s is nested unexpectedly", local)
	}
	var items []string
	liAttrs := map[string][]xml.Attr{}
	if prop != nil {
		bag := prop.find(NSRDF, "Bag")
		if bag == nil {
			bag = prop.find(NSRDF, "Seq")
		}
		if bag == nil {
			return fmt.Errorf("existing sidecar: %s is not an rdf:Bag", qname(prop.prefix, prop.local))
		}
		for _, li := range bag.children(NSRDF, "li") {
			items = append(items, li.text())
			liAttrs[li.text()] = li.attrs
		}
	}
	items = edit(items)
	if len(items) == 0 {
		if prop != nil {
			removeChild(d, prop)
		}
		return nil
	}
	rdfPrefix := prefixOn(d, NSRDF, "rdf")
	if prop == nil {
		prop = &node{kind: elementNode, prefix: prefixOn(d, uri, preferred), local: local, parent: d}
		insertChild(d, prop)
	}
	ind := strings.Repeat(" ", prop.depth()+1)
	bag := &node{kind: elementNode, prefix: rdfPrefix, local: "Bag", parent: prop}
	for _, it := range items {
		li := &node{kind: elementNode, prefix: rdfPrefix, local: "li", attrs: liAttrs[it], parent: bag}
		li.kids = []*node{{kind: textNode, data: it, parent: li}}
		bag.kids = append(bag.kids, &node{kind: textNode, data: "\n" + ind + " ", parent: bag}, li)
	}
	bag.kids = append(bag.kids, &node{kind: textNode, data: "\n" + ind, parent: bag})
	prop.kids = []*node{{kind: textNode, data: "\n" + ind, parent: prop}, bag, {kind: textNode, data: "\n" + ind[:len(ind)-1], parent: prop}}
	return nil
}

// insertChild appends element k to n, indented like n's depth.
func insertChild(n, k *node) {
	ind := strings.Repeat(" ", n.depth()+1)
	// Keep the whitespace before n's closing tag last.
	var tail *node
	if l := len(n.kids); l > 0 && n.kids[l-1].kind == textNode && strings.TrimSpace(n.kids[l-1].data) == "" {
		tail = n.kids[l-1]
		n.kids = n.kids[:l-1]
	}
	k.parent = n
	n.kids = append(n.kids, &node{kind: textNode, data: "\n" + ind, parent: n}, k)
	if tail == nil {
		tail = &node{kind: textNode, data: "\n" + ind[:len(ind)-1], parent: n}
	}
	n.kids = append(n.kids, tail)
}

// removeChild removes k (and the whitespace before it) from n.
func removeChild(n, k *node) {
	i := slices.Index(n.kids, k)
	if i < 0 {
		return
	}
	j := i
	if j > 0 && n.kids[j-1].kind == textNode && strings.TrimSpace(n.kids[j-1].data) == "" {
		j--
	}
	n.kids = slices.Delete(n.kids, j, i+1)
}
