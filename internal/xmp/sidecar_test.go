package xmp

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func keywords() []Keyword {
	return []Keyword{{Tag{"dog", 0.97}, "animal"}, {Tag{"bicycle", 0.41}, "vehicle"}, {Tag{"seashore", 0.2}, ""}}
}

func state() State {
	return State{Model: "resnet50-keras", ModelSHA256: strings.Repeat("ab", 32), Config: "cfg1",
		Tags: []Tag{{"dog", 0.97}, {"bicycle", 0.41}, {"seashore", 0.2}}}
}

func mustParse(t *testing.T, doc []byte) *Packet {
	t.Helper()
	p, err := Parse(doc)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, doc)
	}
	return p
}

func bag(t *testing.T, p *Packet, ns, local string) []string {
	t.Helper()
	v, ok := p.Get(ns, local)
	if !ok {
		return nil
	}
	if v.Kind != "bag" {
		t.Errorf("%s is a %s, want a bag", local, v.Kind)
	}
	return v.Strings()
}

func TestNewSidecar(t *testing.T) {
	doc, err := Update(nil, state(), keywords())
	if err != nil {
		t.Fatal(err)
	}
	p := mustParse(t, doc)
	if d := cmp.Diff([]string{"dog", "bicycle", "seashore"}, bag(t, p, NSDC, "subject")); d != "" {
		t.Errorf("dc:subject (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"autotag|animal|dog", "autotag|vehicle|bicycle", "autotag|seashore"}, bag(t, p, NSLR, "hierarchicalSubject")); d != "" {
		t.Errorf("lr:hierarchicalSubject (-want +got):\n%s", d)
	}
	st, ok, err := ReadState(doc)
	if err != nil || !ok {
		t.Fatalf("ReadState: %v %v", ok, err)
	}
	if d := cmp.Diff(state(), st); d != "" {
		t.Errorf("state (-want +got):\n%s", d)
	}
	if !bytes.HasPrefix(doc, []byte("<?xpacket begin=")) || !bytes.Contains(doc, []byte(`<?xpacket end="w"?>`)) {
		t.Errorf("no xpacket wrapper:\n%s", doc)
	}
	again, err := Update(doc, state(), keywords())
	if err != nil || !bytes.Equal(again, doc) {
		t.Errorf("Update is not idempotent (err %v):\n%s\n---\n%s", err, doc, again)
	}
}

// existing is a sidecar as darktable writes it, with a person's keywords, an old
// autotag run's keywords, an unknown namespace, a comment and odd prefixes.
const existing = `<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <!-- keep me -->
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:purl="http://purl.org/dc/elements/1.1/"
    xmlns:darktable="http://darktable.sf.net/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
    xmlns:at="https://github.com/autotag/autotag/ns/xmp/1.0/"
    xmp:Rating="3"
    darktable:xmp_version="5"
    at:classifier="old" at:classifierSHA256="00" at:tagSettings="c0" at:scores='[{"label":"cat","score":0.5}]'>
   <darktable:history>
    <rdf:Seq>
     <rdf:li darktable:operation="exposure" darktable:enabled="1" darktable:params="0000a03f&amp;x"/>
    </rdf:Seq>
   </darktable:history>
   <purl:subject>
    <rdf:Bag>
     <rdf:li>holiday</rdf:li>
     <rdf:li>cat</rdf:li>
    </rdf:Bag>
   </purl:subject>
   <purl:title>
    <rdf:Alt>
     <rdf:li xml:lang="x-default">Beach &lt;2024&gt;</rdf:li>
    </rdf:Alt>
   </purl:title>
   <lr:hierarchicalSubject>
    <rdf:Bag>
     <rdf:li>places|beach</rdf:li>
     <rdf:li>autotag|animal|cat</rdf:li>
    </rdf:Bag>
   </lr:hierarchicalSubject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
`

func TestMergeKeepsOtherFields(t *testing.T) {
	doc, err := Update([]byte(existing), state(), keywords()[:1])
	if err != nil {
		t.Fatal(err)
	}
	p := mustParse(t, doc)
	if d := cmp.Diff([]string{"holiday", "dog"}, bag(t, p, NSDC, "subject")); d != "" {
		t.Errorf("dc:subject: the person's keyword must stay, autotag's old one go (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"places|beach", "autotag|animal|dog"}, bag(t, p, NSLR, "hierarchicalSubject")); d != "" {
		t.Errorf("lr:hierarchicalSubject (-want +got):\n%s", d)
	}
	if v, _ := p.Get("http://ns.adobe.com/xap/1.0/", "Rating"); v.Text != "3" {
		t.Errorf("xmp:Rating = %+v", v)
	}
	if v, _ := p.Get(NSDC, "title"); v.Kind != "alt" || v.Items[0].Text != "Beach <2024>" {
		t.Errorf("dc:title = %+v", v)
	}
	h, _ := p.Get("http://darktable.sf.net/", "history")
	if h.Kind != "seq" || len(h.Items) != 1 || h.Items[0].Fields[Name{"http://darktable.sf.net/", "params"}].Text != "0000a03f&x" {
		t.Errorf("darktable:history = %+v", h)
	}
	s := string(doc)
	for _, verbatim := range []string{
		`<?xml version="1.0" encoding="UTF-8"?>`,
		`x:xmptk="XMP Core 4.4.0-Exiv2"`,
		"<!-- keep me -->",
		`<rdf:li darktable:operation="exposure" darktable:enabled="1" darktable:params="0000a03f&amp;x"/>`,
		`<rdf:li xml:lang="x-default">Beach &lt;2024&gt;</rdf:li>`,
		`at:classifier="resnet50-keras"`,
		`<purl:subject>`,
	} {
		if !strings.Contains(s, verbatim) {
			t.Errorf("output lacks %q:\n%s", verbatim, s)
		}
	}
	if strings.Contains(s, "xmlns:dc=") || strings.Contains(s, "xmlns:autotag=") {
		t.Errorf("declared a second prefix for a bound namespace:\n%s", s)
	}
	st, _, _ := ReadState(doc)
	if st.Model != "resnet50-keras" || st.Config != "cfg1" {
		t.Errorf("state = %+v", st)
	}
	// No tags at all: autotag's keywords go, the person's stay.
	doc2, err := Update(doc, State{Model: "m"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p2 := mustParse(t, doc2)
	if d := cmp.Diff([]string{"holiday"}, bag(t, p2, NSDC, "subject")); d != "" {
		t.Errorf("after empty update (-want +got):\n%s", d)
	}
}

func TestUpdateRejectsBadSidecars(t *testing.T) {
	for _, doc := range []string{
		"<x:xmpmeta><rdf:RDF>",
		`<!DOCTYPE x [<!ENTITY a "b">]><x/>`,
		"<a></b>",
		"<root/>",
		"just text",
	} {
		if _, err := Update([]byte(doc), state(), keywords()); err == nil {
			t.Errorf("%q: no error", doc)
		}
	}
}

func TestParseForms(t *testing.T) {
	doc := `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:e="urn:e" e:a="1"><e:b>two</e:b><e:c rdf:resource="http://x/"/>
<e:d rdf:parseType="Resource"><e:f>3</e:f></e:d><e:g><rdf:Description e:h="4"/></e:g><e:i e:j="5"/></rdf:Description>
<rdf:Description rdf:about="" xmlns:e="urn:e"><e:k><rdf:Seq><rdf:li>x</rdf:li><rdf:li>y</rdf:li></rdf:Seq></e:k></rdf:Description>
</rdf:RDF></x:xmpmeta>`
	p := mustParse(t, []byte(doc))
	want := map[Name]Value{
		{"urn:e", "a"}: {Kind: "simple", Text: "1"},
		{"urn:e", "b"}: {Kind: "simple", Text: "two"},
		{"urn:e", "c"}: {Kind: "uri", Text: "http://x/"},
		{"urn:e", "d"}: {Kind: "struct", Fields: map[Name]Value{{"urn:e", "f"}: {Kind: "simple", Text: "3"}}},
		{"urn:e", "g"}: {Kind: "struct", Fields: map[Name]Value{{"urn:e", "h"}: {Kind: "simple", Text: "4"}}},
		{"urn:e", "i"}: {Kind: "struct", Fields: map[Name]Value{{"urn:e", "j"}: {Kind: "simple", Text: "5"}}},
		{"urn:e", "k"}: {Kind: "seq", Items: []Value{{Kind: "simple", Text: "x"}, {Kind: "simple", Text: "y"}}},
	}
	if d := cmp.Diff(want, p.Props); d != "" {
		t.Errorf("Parse (-want +got):\n%s", d)
	}
	dup := strings.Replace(doc, "<e:k>", "<e:a>", 1)
	dup = strings.Replace(dup, "</e:k>", "</e:a>", 1)
	if _, err := Parse([]byte(dup)); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate property: %v", err)
	}
}

func FuzzUpdate(f *testing.F) {
	f.Add([]byte(existing))
	f.Add([]byte(template))
	f.Add([]byte(template + template))
	f.Add([]byte(deepSidecar(MaxDepth + 1)))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&b;</x:xmpmeta>`))
	f.Add([]byte(`<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description/></rdf:RDF><?xpacket end="w"?>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		out, err := Update(doc, state(), keywords())
		if err != nil {
			return
		}
		// Whatever we write must parse and carry the keywords.
		p, err := Parse(out)
		if err != nil {
			t.Fatalf("Update wrote an unparsable sidecar: %v\n%s", err, out)
		}
		v, _ := p.Get(NSDC, "subject")
		if !strings.Contains(strings.Join(v.Strings(), ","), "dog") {
			t.Fatalf("keywords missing: %+v\n%s", v, out)
		}
	})
}

// TestUpdateRefusesNotOnePacket: a sidecar that is not exactly one XMP packet (two
// roots, two rdf:RDF, anything after the packet) is refused, not merged: a merge
// would edit one part and silently keep or drop the other.
func TestUpdateRefusesNotOnePacket(t *testing.T) {
	const meta = `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""/></rdf:RDF></x:xmpmeta>`
	const rdfOnly = `<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""/></rdf:RDF>`
	const begin, end = `<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>`, `<?xpacket end="w"?>`
	bad := map[string]string{
		"two xmpmeta roots":       meta + "\n" + meta,
		"two packets":             template + template,
		"element after the end":   template + rdfOnly,
		"two rdf:RDF":             strings.Replace(meta, "</x:xmpmeta>", rdfOnly+"</x:xmpmeta>", 1),
		"comment after the end":   template + "<!-- x -->",
		"PI after the end":        template + "<?other?>",
		"begin without end":       begin + meta,
		"end without begin":       meta + end,
		"end before the root":     begin + end + meta,
		"two begins":              begin + begin + meta + end,
		"other element in meta":   strings.Replace(meta, "</x:xmpmeta>", "<x:other/></x:xmpmeta>", 1),
		"root is not xmpmeta":     `<a xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">` + rdfOnly + `</a>`,
		"rdf:RDF root then other": rdfOnly + meta,
	}
	for name, doc := range bad {
		if _, err := Update([]byte(doc), state(), keywords()); err == nil {
			t.Errorf("%s: merged, want an error", name)
		}
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("%s: Parse accepted it", name)
		}
	}
	for name, doc := range map[string]string{
		"template":            template,
		"bare xmpmeta":        meta,
		"bare rdf:RDF":        rdfOnly,
		"wrapped, whitespace": "\n" + begin + "\n" + meta + "\n" + end + "\n\n",
		"darktable":           existing,
	} {
		if _, err := Update([]byte(doc), state(), keywords()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// deepSidecar is a sidecar whose one property nests n structures deep.
func deepSidecar(n int) string {
	return `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:a="urn:a">` +
		strings.Repeat(`<a:b rdf:parseType="Resource">`, n) + strings.Repeat("</a:b>", n) + `</rdf:Description></rdf:RDF></x:xmpmeta>`
}

// TestUpdateRefusesDeepNesting: every element resolves its prefixes by walking up to
// the root, so a sidecar of nested structures cost time quadratic in its depth (a
// 16 MB one ran for many minutes). Nesting is bounded at parse time, quickly.
func TestUpdateRefusesDeepNesting(t *testing.T) {
	start := time.Now()
	_, err := Update([]byte(deepSidecar(50000)), state(), keywords())
	if err == nil || !strings.Contains(err.Error(), "deeper than") {
		t.Fatalf("50000-deep sidecar: err = %v, want a nesting error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusing a deep sidecar took %v", d)
	}
	// A structure a few levels deep, as real sidecars hold, still merges.
	if _, err := Update([]byte(deepSidecar(MaxDepth-5)), state(), keywords()); err != nil {
		t.Errorf("%d-deep sidecar: %v", MaxDepth-5, err)
	}
}
