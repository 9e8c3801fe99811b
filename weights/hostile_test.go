package weights

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"gorgonia.org/tensor"
)

// pthTensor is one entry of a state_dict written by pthPickle: a view of a
// FloatStorage under key.
type pthTensor struct {
	name, key    string
	numel        int // the storage's declared element count
	size, stride []int
}

// pthPickle writes the data.pkl of a torch.save zip holding a state_dict of
// pthTensors, with the opcodes torch.save (protocol 2) uses.
func pthPickle(ts []pthTensor) []byte {
	var b bytes.Buffer
	str := func(s string) {
		b.WriteByte('X')
		binary.Write(&b, binary.LittleEndian, uint32(len(s)))
		b.WriteString(s)
	}
	num := func(n int) {
		b.WriteByte('J')
		binary.Write(&b, binary.LittleEndian, int32(n))
	}
	tuple := func(v []int) {
		b.WriteByte('(')
		for _, n := range v {
			num(n)
		}
		b.WriteByte('t')
	}
	b.Write([]byte{0x80, 2, '}', '('})
	for _, t := range ts {
		str(t.name)
		b.WriteString("ctorch._utils\n_rebuild_tensor_v2\n(")
		b.WriteByte('(')
		str("storage")
		b.WriteString("ctorch\nFloatStorage\n")
		str(t.key)
		str("cpu")
		num(t.numel)
		b.WriteString("tQ")
		num(0)
		tuple(t.size)
		tuple(t.stride)
		b.Write([]byte{0x89, '}', 't', 'R'})
	}
	b.WriteString("u.")
	return b.Bytes()
}

// pthStorage is one data/KEY record: its bytes, or a raw deflate stream with a
// declared size.
type pthStorage struct {
	key      string
	data     []byte
	deflated []byte // raw deflate stream, written as is when set
	declared uint64 // the uncompressed size the zip header claims (deflated only)
}

// writePth writes a torch.save zip archive.
func writePth(t *testing.T, p string, ts []pthTensor, storages []pthStorage) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "archive/data.pkl", Method: zip.Store})
	w.Write(pthPickle(ts))
	for _, s := range storages {
		if s.deflated != nil {
			w, err := zw.CreateRaw(&zip.FileHeader{Name: "archive/data/" + s.key, Method: zip.Deflate,
				CompressedSize64: uint64(len(s.deflated)), UncompressedSize64: s.declared})
			if err != nil {
				t.Fatal(err)
			}
			w.Write(s.deflated)
			continue
		}
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: "archive/data/" + s.key, Method: zip.Store})
		w.Write(s.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func f32Bytes(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// allocDuring returns the bytes allocated while f runs.
func allocDuring(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// withBudget sets ImportBudget for one test.
func withBudget(t *testing.T, n int64) {
	old := ImportBudget
	ImportBudget = n
	t.Cleanup(func() { ImportBudget = old })
}

// TestNonFiniteWeightsRefused: a NaN or an infinity in one tensor is refused by
// every importer, by Load (full and head-only files) and by Save, naming the
// tensor and the first bad index.
func TestNonFiniteWeightsRefused(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	bad := []float32{0.5, 1, -2, float32(math.NaN()), float32(math.Inf(1))}
	wantErr := func(t *testing.T, what string, err error, name string, index int) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) || !strings.Contains(err.Error(), fmt.Sprintf("index %d", index)) ||
			!strings.Contains(err.Error(), "non-finite") {
			t.Errorf("%s: error %v, want one naming tensor %q and index %d", what, err, name, index)
		}
	}

	// Native files, written without Save's check.
	meta := fullMeta()
	kv, _ := meta.Strings()
	full := filepath.Join(dir, "full.safetensors")
	var fb bytes.Buffer
	writeSafetensors(&fb, map[string]*tensor.Dense{
		"conv1.weight": dense([]int{2}, 1, 2), "layer1.0.bn1.running_var": dense([]int{5}, bad...),
	}, kv)
	os.WriteFile(full, fb.Bytes(), 0o644)
	_, err := Load(full)
	wantErr(t, "Load", err, "layer1.0.bn1.running_var", 3)
	_, err = ImportFile(ctx, full)
	wantErr(t, "import of a native file", err, "layer1.0.bn1.running_var", 3)

	headMeta := fullMeta()
	headMeta.BackboneSHA256 = strings.Repeat("ab", 32)
	kv, _ = headMeta.Strings()
	head := filepath.Join(dir, "head.safetensors")
	fb.Reset()
	writeSafetensors(&fb, map[string]*tensor.Dense{"fc.weight": dense([]int{1, 2}, 1, float32(math.Inf(-1))), "fc.bias": dense([]int{1}, 0)}, kv)
	os.WriteFile(head, fb.Bytes(), 0o644)
	_, err = Load(head)
	wantErr(t, "Load of a head-only file", err, "fc.weight", 1)

	err = Save(filepath.Join(dir, "save.safetensors"), &Model{Meta: fullMeta(), Tensors: map[string]*tensor.Dense{"fc.bias": dense([]int{5}, bad...)}})
	wantErr(t, "Save", err, "fc.bias", 3)

	// timm-style safetensors and a torchvision .pth.
	st := filepath.Join(dir, "timm.safetensors")
	writeRawSafetensors(t, st, map[string]string{"format": "pt"}, []rawTensor{{"fc.bias", "F32", []int{5}, f32Bytes(bad...)}})
	_, err = ImportFile(ctx, st)
	wantErr(t, "safetensors import", err, "fc.bias", 3)

	pth := filepath.Join(dir, "nan.pth")
	writePth(t, pth, []pthTensor{{"fc.bias", "0", 5, []int{5}, []int{1}}}, []pthStorage{{key: "0", data: f32Bytes(bad...)}})
	_, err = ImportFile(ctx, pth)
	wantErr(t, ".pth import", err, "fc.bias", 3)

	// A TF.js package: the weight is named as the manifest names it.
	mj := `{"format":"layers-model","weightsManifest":[{"paths":["w.bin"],"weights":[{"name":"conv1/bias","shape":[5],"dtype":"float32"}]}]}`
	_, err = importTFJS(ctx, memFiles{"m/model.json": []byte(mj), "m/w.bin": f32Bytes(bad...)}, "test")
	wantErr(t, "TF.js import", err, "conv1/bias", 3)
}

// TestPyTorchViewBomb: many zero-stride views of one small storage each pass the
// per-tensor cap, but together they would ask for far more than a ResNet50 needs;
// the import budget refuses them before allocating the excess.
func TestPyTorchViewBomb(t *testing.T) {
	withBudget(t, 32<<20)
	var ts []pthTensor
	for i := range 80 {
		ts = append(ts, pthTensor{fmt.Sprintf("t%d", i), "0", 1, []int{1 << 22}, []int{0}}) // 16 MiB each, 1.25 GiB in all
	}
	p := filepath.Join(t.TempDir(), "views.pth")
	writePth(t, p, ts, []pthStorage{{key: "0", data: f32Bytes(1)}})
	var err error
	alloc := allocDuring(func() { _, err = ReadPyTorch(p) })
	if err == nil || !strings.Contains(err.Error(), "import budget") {
		t.Fatalf("error %v, want the import budget refusal", err)
	}
	if alloc > 64<<20 {
		t.Errorf("allocated %d MiB before refusing, want at most about the 32 MiB budget", alloc>>20)
	}
}

// TestPyTorchDeflateBomb: a storage record whose declared size is over the budget
// is refused before it is inflated; one whose deflate stream holds far more than
// it declares is inflated only as far as the storage needs.
func TestPyTorchDeflateBomb(t *testing.T) {
	withBudget(t, 16<<20)
	const bomb = 64 << 20 // zeros behind a small deflate stream
	var z bytes.Buffer
	fw, _ := flate.NewWriter(&z, flate.BestCompression)
	io.CopyN(fw, zeroReader{}, bomb)
	fw.Close()
	dir := t.TempDir()

	over := filepath.Join(dir, "over.pth")
	writePth(t, over, []pthTensor{{"w", "0", bomb / 4, []int{bomb / 4}, []int{1}}}, []pthStorage{{key: "0", deflated: z.Bytes(), declared: bomb}})
	var err error
	alloc := allocDuring(func() { _, err = ReadPyTorch(over) })
	if err == nil || !strings.Contains(err.Error(), "import budget") {
		t.Errorf("declared %d MiB: error %v, want the import budget refusal", bomb>>20, err)
	}
	if alloc > 4<<20 {
		t.Errorf("declared %d MiB: allocated %d MiB before refusing", bomb>>20, alloc>>20)
	}

	under := filepath.Join(dir, "under.pth")
	writePth(t, under, []pthTensor{{"w", "0", 1 << 18, []int{1 << 18}, []int{1}}}, []pthStorage{{key: "0", deflated: z.Bytes(), declared: 1 << 20}})
	var ts map[string]*tensor.Dense
	alloc = allocDuring(func() { ts, err = ReadPyTorch(under) })
	if err != nil || ts["w"].Shape().TotalSize() != 1<<18 {
		t.Errorf("1 MiB declared: %v", err)
	}
	if alloc > 12<<20 {
		t.Errorf("inflated past the declared size: allocated %d MiB for a 1 MiB storage", alloc>>20)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// tinyManifest is a one-weight TF.js model.json whose shard path is shard.
func tinyManifest(shard string) []byte {
	b, _ := json.Marshal(map[string]any{"format": "layers-model", "weightsManifest": []any{map[string]any{
		"paths": []string{shard}, "weights": []any{map[string]any{"name": "conv1/bias", "shape": []int{4}, "dtype": "float32"}}}}})
	return b
}

// TestTFJSDirConfined: a directory import never reads outside its folder (.., an
// absolute path, a symlink leading out), never opens a FIFO or a device, and its

// outsideSize finds the secret file's size (28 bytes) as a number of its own in an
// error; the temporary folder's name, which the error may quote, can hold those
// digits inside a longer run.
var outsideSize = regexp.MustCompile(`(^|[^0-9])28([^0-9]|$)`)

// errors do not give away an outside file's size.
func TestTFJSDirConfined(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(base, "secret.bin")
	os.WriteFile(outside, f32Bytes(1, 2, 3, 4, 5, 6, 7), 0o644) // 28 bytes: its size must not leak
	model := filepath.Join(base, "model")
	os.Mkdir(model, 0o755)
	os.WriteFile(filepath.Join(model, "inside.bin"), f32Bytes(1, 2, 3, 4), 0o644)
	os.Symlink(outside, filepath.Join(model, "link.bin"))
	fifo := filepath.Join(model, "fifo.bin")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for shard, want := range map[string]string{
		"../secret.bin":        "leaves the package folder",
		"sub/../../secret.bin": "leaves the package folder",
		outside:                "leaves the package folder",
		"/dev/zero":            "leaves the package folder",
		"link.bin":             "",
		"fifo.bin":             "not a regular file",
	} {
		os.WriteFile(filepath.Join(model, "model.json"), tinyManifest(shard), 0o644)
		done := make(chan error, 1)
		go func() { _, err := ImportFile(context.Background(), model); done <- err }()
		select {
		case err := <-done:
			if err == nil || (want != "" && !strings.Contains(err.Error(), want)) || outsideSize.MatchString(err.Error()) {
				t.Errorf("shard %q: error %v, want one saying %q and no outside size", shard, err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("shard %q: import hangs", shard)
		}
	}
	// A shard longer than its manifest declares is not read past that.
	os.WriteFile(filepath.Join(model, "model.json"), tinyManifest("inside.bin"), 0o644)
	os.WriteFile(filepath.Join(model, "inside.bin"), f32Bytes(1, 2, 3, 4, 5), 0o644)
	if _, err := ImportFile(context.Background(), model); err == nil || !strings.Contains(err.Error(), "left over") {
		t.Errorf("long shard: %v", err)
	}
}

// TestTarballHostileEntries: a tarball entry that is a link or a device, or whose
// name is absolute or climbs out with .., makes the import fail, naming it.
func TestTarballHostileEntries(t *testing.T) {
	dir := t.TempDir()
	for i, h := range []tar.Header{
		{Name: "package/../../etc/passwd.json", Typeflag: tar.TypeReg, Size: 2},
		{Name: "/etc/model.json", Typeflag: tar.TypeReg, Size: 2},
		{Name: "package/w.bin", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"},
		{Name: "package/w.bin", Typeflag: tar.TypeLink, Linkname: "package/model.json"},
		{Name: "package/zero.bin", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 5},
		{Name: "package/fifo.bin", Typeflag: tar.TypeFifo},
		{Name: "package/huge.bin", Typeflag: tar.TypeReg, Size: maxPackageFile + 1},
	} {
		var buf bytes.Buffer
		gz := gzip.NewWriter(&buf)
		tw := tar.NewWriter(gz)
		h.Mode = 0o644
		tw.WriteHeader(&h)
		if h.Typeflag == tar.TypeReg && h.Size == 2 {
			tw.Write([]byte("{}"))
		}
		tw.Flush()
		gz.Close()
		p := filepath.Join(dir, fmt.Sprintf("%d.tgz", i))
		os.WriteFile(p, buf.Bytes(), 0o644)
		_, err := ImportFile(context.Background(), p)
		if err == nil || strings.Contains(err.Error(), "no TF.js model.json") {
			t.Errorf("entry %q (type %q): error %v, want a refusal of the entry", h.Name, h.Typeflag, err)
		}
	}
}

// FuzzTFJSManifest feeds arbitrary model.json and shard bytes to the TF.js
// importer: errors, never a panic, a hang or an allocation beyond the input.
func FuzzTFJSManifest(f *testing.F) {
	f.Add(tinyManifest("w.bin"), f32Bytes(1, 2, 3, 4))
	f.Add(tinyManifest("../w.bin"), f32Bytes(1, 2, 3, 4))
	f.Add(tinyManifest("/dev/zero"), []byte{})
	f.Add([]byte(`{"weightsManifest":[{"paths":["w.bin","w.bin"],"weights":[{"name":"fc1000/bias","shape":[2],"dtype":"float32"},{"name":"fc1000/kernel","shape":[1073741824,2],"dtype":"float32"}]}]}`), f32Bytes(1, 2))
	f.Add([]byte(`{"format":"layers-model","modelTopology":{"config":{"layers":[{"class_name":"BatchNormalization","config":{"epsilon":-1}}]}},"weightsManifest":[]}`), []byte{})
	f.Fuzz(func(t *testing.T, mj, shard []byte) {
		files := memFiles{"m/model.json": mj, "m/w.bin": shard}
		if m, err := importTFJS(context.Background(), files, "fuzz"); err == nil && len(m.Tensors) == 0 {
			t.Fatal("a model without tensors was accepted")
		}
	})
}

// TestModelFileNotRegular: importing, loading or hashing a FIFO or a device fails at
// once instead of blocking or reading forever.
func TestModelFileNotRegular(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "model.safetensors")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, "/dev/zero"} {
		for what, f := range map[string]func() error{
			"import": func() error { _, err := ImportFile(context.Background(), p); return err },
			"load":   func() error { _, err := Load(p); return err },
			"pth":    func() error { _, err := ReadPyTorch(p); return err },
			"sha256": func() error { _, err := FileSHA256(p); return err },
		} {
			done := make(chan error, 1)
			go func() { done <- f() }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "not a regular file") {
					t.Errorf("%s %s: %v, want a refusal", what, p, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s %s hangs", what, p)
			}
		}
	}
}

// TestPyTorchPickleBomb: a pickle made of opcodes that each allocate an object
// (here MARK) costs far more memory than its size; a data.pkl (zip, here behind a
// deflate stream) or a legacy file made of them is refused by the budget before
// unpickling.
func TestPyTorchPickleBomb(t *testing.T) {
	withBudget(t, 16<<20)
	const n = 1 << 20
	pkl := append(append([]byte{0x80, 2}, bytes.Repeat([]byte{'('}, n)...), '.')
	dir := t.TempDir()

	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "archive/data.pkl", Method: zip.Deflate})
	w.Write(pkl)
	zw.Close()
	zipped := filepath.Join(dir, "zip.pth")
	os.WriteFile(zipped, buf.Bytes(), 0o644)

	legacy := filepath.Join(dir, "legacy.pth")
	head := "\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19." + "\x80\x02M\xe9\x03." + "\x80\x02}."
	os.WriteFile(legacy, append([]byte(head), pkl...), 0o644)

	for _, p := range []string{zipped, legacy} {
		var err error
		alloc := allocDuring(func() { _, err = ReadPyTorch(p) })
		if err == nil || !strings.Contains(err.Error(), "import budget") {
			t.Errorf("%s: error %v, want the import budget refusal", filepath.Base(p), err)
		}
		if alloc > 32<<20 {
			t.Errorf("%s: allocated %d MiB before refusing", filepath.Base(p), alloc>>20)
		}
	}
}

// TestParseMetadataRefusesBadThresholds: per-class thresholds come from the model
// file; one outside [0, 1] would report its class on every photo or never.
func TestParseMetadataRefusesBadThresholds(t *testing.T) {
	for _, v := range []string{`[0.5,-1]`, `[2]`, `[0.5,1.0000001]`} {
		if _, err := ParseMetadata(map[string]string{"thresholds": v}); err == nil || !strings.Contains(err.Error(), "thresholds") {
			t.Errorf("thresholds %s: err = %v", v, err)
		}
	}
	if m, err := ParseMetadata(map[string]string{"thresholds": `[0,0.5,1]`}); err != nil || len(m.Thresholds) != 3 {
		t.Errorf("valid thresholds: %v %v", m.Thresholds, err)
	}
}

// TestParseMetadataRefusesBadBackboneSHA: a head-only model's backbone_sha256 is
// shown in errors and listings; anything but 64 hex digits (a path, escape codes,
// megabytes of text) is refused when the file is read.
func TestParseMetadataRefusesBadBackboneSHA(t *testing.T) {
	for _, v := range []string{"../../etc/passwd", strings.Repeat("a", 63), strings.Repeat("g", 64), "\x1b[2J" + strings.Repeat("0", 60), strings.Repeat("0", 1<<20)} {
		if _, err := ParseMetadata(map[string]string{"backbone_sha256": v}); err == nil || !strings.Contains(err.Error(), "backbone_sha256") {
			t.Errorf("backbone_sha256 %.20q: err = %v", v, err)
		}
	}
	if _, err := ParseMetadata(map[string]string{"backbone_sha256": strings.Repeat("aB3", 21) + "0"}); err != nil {
		t.Errorf("valid sha: %v", err)
	}
}
