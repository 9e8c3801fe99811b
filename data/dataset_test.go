package data

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/autotag/autotag/internal/testenv"
)

// labelSets maps each record's base file name to its class names, sorted.
func labelSets(t *testing.T, ds *Dataset) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range ds.Records {
		var names []string
		for _, c := range r.Labels {
			names = append(names, ds.Classes[c])
		}
		slices.Sort(names)
		out[filepath.Base(r.Path)] = strings.Join(names, "|")
	}
	return out
}

func mustLoad(t *testing.T, spec string) *Dataset {
	t.Helper()
	ds, err := Load(spec, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// TestCoco128LabelForms loads the label forms of ../shared/data/coco128 — COCO JSON,
// YOLO txt with the data yaml, and the per-image class-id CSVs — and checks that they
// give identical label sets image by image.
func TestCoco128LabelForms(t *testing.T) {
	root := testenv.SharedData(t, "coco128")
	j := func(p string) string { return filepath.Join(root, p) }
	coco := mustLoad(t, "coco:"+j("annotations/instances_train2017.json")+":"+j("images/train2017"))
	yoloTrain := mustLoad(t, "yolo:"+j("images/train2017")+":"+j("object_detection/labels/train2017")+":"+j("object_detection/config.yaml"))
	csvTrain := mustLoad(t, "csv:"+j("multilabel_train2017.csv")+":"+root)
	yoloVal := mustLoad(t, "yolo:"+j("images/val2017")+":"+j("object_detection/labels/val2017")+":"+j("object_detection/config.yaml"))
	csvVal := mustLoad(t, "csv:"+j("multilabel_val2017.csv")+":"+root)

	for _, ds := range []*Dataset{coco, yoloTrain, csvTrain, yoloVal, csvVal} {
		if len(ds.Records) != 128 || len(ds.Classes) != 80 {
			t.Errorf("%s: %d records, %d classes; want 128, 80", ds.Spec, len(ds.Records), len(ds.Classes))
		}
		if ds.Report.Defects() != 0 {
			t.Errorf("%s: unexpected problems: %s", ds.Spec, ds.Report.Summary())
		}
	}
	// The two background images have no annotations / label files, and two YOLO label
	// files have no image (SOURCES.txt).
	if n := coco.Report.Count(NoLabels); n != 2 {
		t.Errorf("coco: %d unannotated images, want 2", n)
	}
	if n := yoloTrain.Report.Count(Orphan); n != 2 {
		t.Errorf("yolo train: %d orphan label files, want 2", n)
	}
	if !slices.Equal(coco.Classes, yoloTrain.Classes) || !slices.Equal(coco.Classes, COCOClasses) {
		t.Errorf("class lists differ:\ncoco %v\nyolo %v", coco.Classes, yoloTrain.Classes)
	}
	same := func(name string, a, b *Dataset) {
		la, lb := labelSets(t, a), labelSets(t, b)
		if len(la) != len(lb) {
			t.Errorf("%s: %d vs %d images", name, len(la), len(lb))
		}
		diffs := 0
		for f, s := range la {
			if lb[f] != s && diffs < 5 {
				t.Errorf("%s: %s: %q vs %q", name, f, s, lb[f])
				diffs++
			}
		}
	}
	same("coco vs yolo train", coco, yoloTrain)
	same("coco vs csv train", coco, csvTrain)
	same("yolo vs csv val", yoloVal, csvVal)

	extra := mustLoad(t, "csv:"+testenv.SharedData(t, "coco-extra", "labels_train.csv")+":"+testenv.SharedData(t, "coco-extra"))
	if len(extra.Records) != 215 || extra.Report.Defects() != 0 {
		t.Errorf("coco-extra: %d records, %s", len(extra.Records), extra.Report.Summary())
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func checkRecords(t *testing.T, ds *Dataset, want map[string]string) {
	t.Helper()
	got := labelSets(t, ds)
	for f, s := range want {
		if g, ok := got[f]; !ok || g != s {
			t.Errorf("%s: labels %q (present %v), want %q", f, g, ok, s)
		}
	}
	if len(got) != len(want) {
		t.Errorf("records %v, want %v", got, want)
	}
}

func checkCounts(t *testing.T, rep *Report, want map[string]int) {
	t.Helper()
	for k, n := range want {
		if rep.Count(k) != n {
			t.Errorf("%s: %d, want %d (%s)", k, rep.Count(k), n, rep.Summary())
		}
	}
	for k, n := range rep.Counts {
		if _, ok := want[k]; !ok {
			var buf bytes.Buffer
			rep.Write(&buf, 5)
			t.Errorf("unexpected %d %s:\n%s", n, k, buf.String())
		}
	}
}

func TestLoadCSV(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"img/a.jpg": "x", "img/b.jpg": "x", "img/c.jpg": "x", "img/sub/d.png": "x",
		"labels.csv": "file,tags\n" +
			"a.jpg,dog;frisbee\n" +
			"b.jpg, cat | dog \n" + // '|' accepted, spaces trimmed
			"c.jpg,\n" + // no tags: all-negative
			"sub/d.png,\"beach\"\n" +
			"a.jpg,person\n" + // duplicate: merged
			"missing.jpg,dog\n" +
			",dog\n" + // empty file name
			"bad\"quote.jpg,dog\n",
		"names.txt": "cat\ndog\nfrisbee\nperson\n",
	})
	ds := mustLoad(t, "csv:"+filepath.Join(dir, "labels.csv")+":"+filepath.Join(dir, "img"))
	if !slices.Equal(ds.Classes, []string{"beach", "cat", "dog", "frisbee", "person"}) {
		t.Errorf("classes %v", ds.Classes)
	}
	checkRecords(t, ds, map[string]string{"a.jpg": "dog|frisbee|person", "b.jpg": "cat|dog", "c.jpg": "", "d.png": "beach"})
	checkCounts(t, ds.Report, map[string]int{Duplicate: 1, MissingFile: 1, Malformed: 2, NoLabels: 1})
	if p := ds.Report.Problems[0]; !strings.Contains(p.Where, "labels.csv:") {
		t.Errorf("problem not located by file:line: %v", p)
	}
	for _, p := range ds.Report.Problems {
		if p.Kind == MissingFile && !strings.HasSuffix(p.Where, "labels.csv:7") {
			t.Errorf("missing file located at %s, want labels.csv:7", p.Where)
		}
	}

	// With a names list, tags outside it are reported and dropped.
	ds = mustLoad(t, "csv:"+filepath.Join(dir, "labels.csv")+":"+filepath.Join(dir, "img")+":"+filepath.Join(dir, "names.txt"))
	if ds.Report.Count(UnknownClass) != 1 || len(ds.Classes) != 4 {
		t.Errorf("with names: %v, %s", ds.Classes, ds.Report.Summary())
	}

	// Numeric-id variant (coco-extra's labels_train.csv).
	writeFiles(t, dir, map[string]string{"ids.csv": "file,class_ids\na.jpg,0 16 39\nb.jpg,80\nc.jpg,x\n"})
	ds = mustLoad(t, "csv:"+filepath.Join(dir, "ids.csv")+":"+filepath.Join(dir, "img"))
	checkRecords(t, ds, map[string]string{"a.jpg": "bottle|dog|person", "b.jpg": "", "c.jpg": ""})
	checkCounts(t, ds.Report, map[string]int{UnknownClass: 1, Malformed: 1})
}

func TestLoadKaggle(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"images/1.jpg": "x", "images/2.jpg": "x", "images/3.jpg": "x",
		"categories.csv": "id,name\n1,person\n2,bicycle\n18,dog\n",
		"labels.csv": "file_name,person,bicycle,dog,unicorn\n" +
			"1.jpg,1,0,1,0\n" +
			"2.jpg,0,1.0,0,1\n" +
			"3.jpg,0,0,0,0\n" +
			"4.jpg,1,0,0,0\n" + // missing image
			"2.jpg,0,0,yes,0\n" + // duplicate, with a malformed cell
			"1.jpg,1,0\n", // wrong column count
	})
	ds := mustLoad(t, "kaggle:"+filepath.Join(dir, "labels.csv")+":"+filepath.Join(dir, "categories.csv")+":"+filepath.Join(dir, "images"))
	if !slices.Equal(ds.Classes, []string{"person", "bicycle", "dog"}) {
		t.Errorf("classes %v", ds.Classes)
	}
	checkRecords(t, ds, map[string]string{"1.jpg": "dog|person", "2.jpg": "bicycle", "3.jpg": ""})
	checkCounts(t, ds.Report, map[string]int{UnknownClass: 1, MissingFile: 1, Duplicate: 1, Malformed: 2, NoLabels: 2})

	// Columns named by category id, categories as a bare name list.
	writeFiles(t, dir, map[string]string{
		"cats2.csv":   "category\ncat\ndog\n",
		"labels2.csv": "image,0,1\n1.jpg,0,1\n",
	})
	ds = mustLoad(t, "kaggle:"+filepath.Join(dir, "labels2.csv")+":"+filepath.Join(dir, "cats2.csv")+":"+filepath.Join(dir, "images"))
	checkRecords(t, ds, map[string]string{"1.jpg": "dog"})
}

func TestLoadYOLO(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"images/a.jpg": "x", "images/b.JPG": "x", "images/c.png": "x", "images/notes.txt": "not an image",
		"labels/a.txt": "0 0.5 0.5 0.2 0.2\n2 0.1 0.1 0.1 0.1\n0 0.3 0.3 0.1 0.1\n",
		"labels/b.txt": "1 0.5 0.5 0.2\n" + // too few fields
			"7 0.5 0.5 0.2 0.2\n" + // unknown class
			"x 0.5 0.5 0.2 0.2\n" + // bad id
			"1 0.5 nan 0.2 0.2\n" + // bad number
			"1.0 0.5 0.5 0.2 0.2 0.3 0.3\n", // float id, polygon
		"labels/z.txt": "0 0.5 0.5 0.1 0.1\n", // orphan
		"data.yaml":    "path: .\nnames:\n  0: cat   # comment\n  1: 'dog'\n  2: \"hot dog\"\nnc: 3\n",
	})
	ds := mustLoad(t, "yolo:"+filepath.Join(dir, "images")+":"+filepath.Join(dir, "labels")+":"+filepath.Join(dir, "data.yaml"))
	if !slices.Equal(ds.Classes, []string{"cat", "dog", "hot dog"}) {
		t.Errorf("classes %q", ds.Classes)
	}
	checkRecords(t, ds, map[string]string{"a.jpg": "cat|hot dog", "b.JPG": "dog", "c.png": ""})
	checkCounts(t, ds.Report, map[string]int{Malformed: 3, UnknownClass: 1, Orphan: 1, NoLabels: 1})
	for _, p := range ds.Report.Problems {
		if p.Kind == UnknownClass && !strings.HasSuffix(p.Where, filepath.Join("labels", "b.txt")+":2") {
			t.Errorf("unknown class located at %s, want labels/b.txt:2", p.Where)
		}
	}
}

func TestReadNames(t *testing.T) {
	dir := t.TempDir()
	want := []string{"person", "bicycle", "traffic light"}
	for name, body := range map[string]string{
		"list.names":  "person\nbicycle\n\ntraffic light\n",
		"map.yaml":    "train: x\nnames:\n  0: person\n  1: bicycle\n  2: traffic light\ndownload: |\n  foo\n",
		"block.yaml":  "names:\n  - person\n  - \"bicycle\"\n  - traffic light\nnc: 3\n",
		"flow.yaml":   "nc: 3\nnames: ['person', \"bicycle\",\n  'traffic light']  # coco\n",
		"flow2.yml":   "names: [person, bicycle, traffic light]\n",
		"crlf.yaml":   "names:\r\n  0: person\r\n  1: bicycle\r\n  2: traffic light\r\n",
		"classes.txt": "# comment\nperson\nbicycle\ntraffic light",
	} {
		writeFiles(t, dir, map[string]string{name: body})
		got, err := ReadNames(filepath.Join(dir, name))
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
	for name, body := range map[string]string{
		"gap.yaml":   "names:\n  0: a\n  2: c\n",
		"dup.yaml":   "names:\n  0: a\n  0: b\n",
		"empty.txt":  "\n\n",
		"nokey.yaml": "nc: 3\n",
		"open.yaml":  "names: [a, b\n",
	} {
		writeFiles(t, dir, map[string]string{name: body})
		if got, err := ReadNames(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s: no error, got %q", name, got)
		}
	}
}

func TestLoadSpecErrors(t *testing.T) {
	dir := t.TempDir()
	for _, spec := range []string{
		"", "coco", "coco:only.json", "voc:a:b", "yolo:a", "csv:a:b:c:d", "kaggle:a:b",
		"coco:" + filepath.Join(dir, "nope.json") + ":" + dir,
		"csv:" + filepath.Join(dir, "nope.csv") + ":" + dir,
		"yolo:" + dir + ":" + filepath.Join(dir, "nolabels"),
	} {
		if _, err := Load(spec, LoadOptions{}); err == nil {
			t.Errorf("Load(%q): no error", spec)
		}
	}
	writeFiles(t, dir, map[string]string{"bad.json": `{"images": [`, "nocat.json": `{"images": []}`})
	for _, f := range []string{"bad.json", "nocat.json"} {
		if _, err := Load("coco:"+filepath.Join(dir, f)+":"+dir, LoadOptions{}); err == nil {
			t.Errorf("%s: no error", f)
		}
	}
}

func TestLoadCOCOProblems(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"im/1.jpg": "x", "im/2.jpg": "x",
		"ann.json": `{"images":[{"id":1,"file_name":"1.jpg"},{"id":2,"file_name":"2.jpg"},{"id":2,"file_name":"x.jpg"},{"id":3,"file_name":"3.jpg"},{"file_name":"4.jpg"}],
		"annotations":[{"image_id":1,"category_id":18},{"image_id":1,"category_id":1},{"image_id":1,"category_id":12},{"image_id":9,"category_id":1},{"image_id":3,"category_id":90}],
		"categories":[{"id":1,"name":"person"},{"id":18,"name":"dog"},{"id":90,"name":"toothbrush"}]}`,
	})
	ds := mustLoad(t, "coco:"+filepath.Join(dir, "ann.json")+":"+filepath.Join(dir, "im"))
	if len(ds.Classes) != 80 {
		t.Errorf("a subset of COCO's categories should map to the standard 80, got %d", len(ds.Classes))
	}
	checkRecords(t, ds, map[string]string{"1.jpg": "dog|person", "2.jpg": ""})
	checkCounts(t, ds.Report, map[string]int{Duplicate: 1, Malformed: 2, UnknownClass: 1, MissingFile: 1, NoLabels: 1})

	// A custom category set maps in id order.
	writeFiles(t, dir, map[string]string{"custom.json": `{"images":[{"id":1,"file_name":"1.jpg"}],
		"annotations":[{"image_id":1,"category_id":7}],"categories":[{"id":7,"name":"b"},{"id":3,"name":"a"}]}`})
	ds = mustLoad(t, "coco:"+filepath.Join(dir, "custom.json")+":"+filepath.Join(dir, "im"))
	if !slices.Equal(ds.Classes, []string{"a", "b"}) || !slices.Equal(ds.Records[0].Labels, []int{1}) {
		t.Errorf("custom categories: %v %v", ds.Classes, ds.Records)
	}
}

func FuzzParseCOCO(f *testing.F) {
	f.Add([]byte(`{"images":[{"id":1,"file_name":"1.jpg"}],"annotations":[{"image_id":1,"category_id":18}],"categories":[{"id":18,"name":"dog"}]}`))
	f.Add([]byte(`{"images":[{"id":1}],"annotations":[{"image_id":1}],"categories":[{"id":null}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseCOCO(bytes.NewReader(b), "f.json")
		if err != nil {
			return
		}
		for _, e := range p.entries {
			for _, c := range e.labels {
				if c < 0 || c >= len(p.classes) {
					t.Fatalf("label %d outside %d classes", c, len(p.classes))
				}
			}
		}
	})
}

func FuzzParseCSV(f *testing.F) {
	f.Add([]byte("file,tags\na.jpg,dog;cat\nb.jpg,\n"), []byte("category\ndog\n"))
	f.Add([]byte("file,class_ids\na.jpg,0 16 79\n"), []byte("1,person\n"))
	f.Add([]byte("file_name,person,dog\na.jpg,1,0\n\"b,1\n"), []byte("id,name\n1,person\n18,dog\n"))
	f.Fuzz(func(t *testing.T, labels, cats []byte) {
		for _, parse := range []func() (*parsed, error){
			func() (*parsed, error) { return parseCSV(bytes.NewReader(labels), "l.csv", nil) },
			func() (*parsed, error) { return parseCSV(bytes.NewReader(labels), "l.csv", []string{"a", "b"}) },
			func() (*parsed, error) {
				return parseKaggle(bytes.NewReader(labels), "l.csv", bytes.NewReader(cats), "c.csv")
			},
		} {
			p, err := parse()
			if err != nil {
				continue
			}
			for _, e := range p.entries {
				for _, c := range e.labels {
					if c < 0 || c >= len(p.classes) {
						t.Fatalf("label %d outside %d classes", c, len(p.classes))
					}
				}
			}
		}
	})
}

func FuzzParseYOLO(f *testing.F) {
	f.Add([]byte("0 0.5 0.5 0.2 0.2\n79 0.1 0.1 0.1 0.1\n"), []byte("names:\n  0: a\n  1: b\n"))
	f.Add([]byte("1.0 0.5 0.5 0.2 0.2 0.3 0.3\nx\n"), []byte("names: [a, 'b', \"c\"]\n"))
	f.Add([]byte("-1 1 1 1 1\n"), []byte("names:\n  - a\n"))
	f.Fuzz(func(t *testing.T, label, yaml []byte) {
		rep := &Report{}
		for _, c := range parseYOLOLabels(bytes.NewReader(label), "l.txt", 80, rep) {
			if c < 0 || c >= 80 {
				t.Fatalf("label %d outside 80 classes", c)
			}
		}
		parseYOLOLabels(bytes.NewReader(label), "l.txt", -1, rep)
		if names, err := parseYAMLNames(yaml); err == nil && len(names) > 1<<21 {
			t.Fatalf("%d names", len(names))
		}
		_ = fmt.Sprint(rep.Summary())
	})
}

// TestLoadRefusesTooManyClasses: a dataset that names more than MaxClasses classes
// (distinct CSV tags, COCO categories) is refused when loaded: training would
// allocate a row of weights per class, many times over.
func TestLoadRefusesTooManyClasses(t *testing.T) {
	dir := t.TempDir()
	var csvDoc strings.Builder
	csvDoc.WriteString("file,tags\n")
	var cats []string
	for i := 0; i <= MaxClasses; i++ {
		fmt.Fprintf(&csvDoc, "a.jpg,t%d\n", i)
		cats = append(cats, fmt.Sprintf(`{"id":%d,"name":"c%d"}`, i+1000, i))
	}
	writeFiles(t, dir, map[string]string{
		"img/a.jpg":  "x",
		"labels.csv": csvDoc.String(),
		"coco.json":  `{"images":[{"id":1,"file_name":"a.jpg"}],"annotations":[],"categories":[` + strings.Join(cats, ",") + `]}`,
	})
	for _, spec := range []string{
		"csv:" + filepath.Join(dir, "labels.csv") + ":" + filepath.Join(dir, "img"),
		"coco:" + filepath.Join(dir, "coco.json") + ":" + filepath.Join(dir, "img"),
	} {
		_, err := Load(spec, LoadOptions{})
		if err == nil || !strings.Contains(err.Error(), "over the limit") {
			t.Errorf("%s: err = %v, want too many classes", spec[:4], err)
		}
	}
}
