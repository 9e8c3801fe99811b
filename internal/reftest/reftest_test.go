package reftest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"

	"github.com/autotag/autotag/data"
	"github.com/autotag/autotag/internal/testenv"
	"github.com/autotag/autotag/nn"
	"github.com/autotag/autotag/weights"
)

var writeDir = flag.String("reftest.write", "", "TestWriteInputs writes the preprocessed reference inputs into this directory")

// Tolerances of the comparison (issue 2 §6c).
const (
	maxProbDiff = 1e-4 // max |Δprob| over all 1000 classes
)

// reference is testdata/reftest/reference.json.
type reference struct {
	Source    string    `json:"source"`
	KeepBelow float64   `json:"keep_below"`
	Images    []refItem `json:"images"`
}

type refItem struct {
	File        string             `json:"file"` // relative to ../shared/data
	ImageSHA256 string             `json:"image_sha256"`
	InputSHA256 string             `json:"input_sha256"`
	Top5        []int              `json:"top5"`
	Probs       map[string]float64 `json:"probs"`
}

// referenceImages lists the photos of the reference: the 7 darknet photos and the
// first 20 (sorted) COCO val2017 images of coco128, relative to the shared data dir.
func referenceImages(t *testing.T) (root string, files []string) {
	root = testenv.SharedData(t)
	dark, _ := filepath.Glob(filepath.Join(root, "darknet-photos", "*.jpg"))
	coco, _ := filepath.Glob(filepath.Join(root, "coco128", "images", "val2017", "*.jpg"))
	sort.Strings(dark)
	sort.Strings(coco)
	if len(dark) < 7 || len(coco) < 20 {
		t.Skipf("shared data incomplete: %d darknet photos, %d coco val images", len(dark), len(coco))
	}
	for _, p := range append(dark[:7], coco[:20]...) {
		rel, _ := filepath.Rel(root, p)
		files = append(files, filepath.ToSlash(rel))
	}
	return root, files
}

// loadModel loads the imported Keras model and binds it into an nn.ResNet50.
func loadModel(t *testing.T) (*weights.Model, *nn.ResNet50) {
	path := testenv.KerasModel(t)
	wm, err := weights.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	m := nn.NewResNet50(nn.Config{Layout: nn.Layout(wm.Meta.Layout), BNEps: wm.Meta.BNEps, NumClasses: len(wm.Meta.Classes)})
	if err := m.Bind(wm.Tensors); err != nil {
		t.Fatal(err)
	}
	return wm, m
}

// preprocess decodes and preprocesses one image with the model's own spec and returns
// the tensor with the sha256 of the image file and of the tensor's little-endian bytes.
func preprocess(path string, spec data.Spec) (x []float32, imgSum, inSum string, err error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, "", "", err
	}
	s := sha256.Sum256(raw)
	img, err := data.DecodeFile(path, data.DecodeOptions{})
	if err != nil {
		return nil, "", "", err
	}
	x = make([]float32, 3*spec.Crop*spec.Crop)
	if err := data.Preprocess(img, spec, x); err != nil {
		return nil, "", "", err
	}
	b := f32Bytes(x)
	si := sha256.Sum256(b)
	return x, hex.EncodeToString(s[:]), hex.EncodeToString(si[:]), nil
}

func f32Bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// TestWriteInputs writes the preprocessed reference inputs for make_reference.py
// (only with -reftest.write=DIR).
func TestWriteInputs(t *testing.T) {
	if *writeDir == "" {
		t.Skip("set -reftest.write=DIR to write the reference inputs")
	}
	root, files := referenceImages(t)
	wm, _ := loadModel(t)
	spec := wm.Meta.Preprocess
	type entry struct {
		File, Input, ImageSHA256, InputSHA256 string
		Shape                                 []int
	}
	var man struct {
		Images []map[string]any `json:"images"`
	}
	if err := os.MkdirAll(*writeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		x, imgSum, inSum, err := preprocess(filepath.Join(root, f), spec)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("input%02d.f32", i)
		if err := os.WriteFile(filepath.Join(*writeDir, name), f32Bytes(x), 0o644); err != nil {
			t.Fatal(err)
		}
		man.Images = append(man.Images, map[string]any{"file": f, "input": name, "image_sha256": imgSum,
			"input_sha256": inSum, "shape": []int{3, spec.Crop, spec.Crop}})
	}
	b, _ := json.MarshalIndent(man, "", " ")
	if err := os.WriteFile(filepath.Join(*writeDir, "manifest.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestKerasResNet50MatchesReference runs the imported Keras ResNet50 through nn on the
// reference photos: same top-5 as PyTorch and max |Δprob| ≤ 1e-4 on every class.
func TestKerasResNet50MatchesReference(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "testdata", "reftest", "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref reference
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	root := testenv.SharedData(t)
	wm, m := loadModel(t)
	spec := wm.Meta.Preprocess
	r, err := m.NewRunner(1, spec.Crop, spec.Crop)
	if err != nil {
		t.Fatal(err)
	}
	classes := len(wm.Meta.Classes)
	var worst float64
	var firstInputs [][]float32 // for the batched check below
	var firstLogits [][]float32
	for _, it := range ref.Images {
		t.Run(filepath.Base(it.File), func(t *testing.T) {
			x, imgSum, inSum, err := preprocess(filepath.Join(root, it.File), spec)
			if os.IsNotExist(err) {
				t.Skipf("%s is absent", it.File)
			}
			if err != nil {
				t.Fatal(err)
			}
			if imgSum != it.ImageSHA256 {
				t.Skipf("%s differs from the reference's image (sha256 %s, want %s)", it.File, imgSum, it.ImageSHA256)
			}
			if inSum != it.InputSHA256 {
				t.Fatalf("preprocessing of %s changed since the reference was made (input sha256 %s, want %s): check data.Preprocess, then regenerate (see internal/reftest/doc.go)", it.File, inSum, it.InputSHA256)
			}
			_, logits, err := r.Forward(x)
			if err != nil {
				t.Fatal(err)
			}
			if len(firstInputs) < 3 {
				firstInputs = append(firstInputs, x)
				firstLogits = append(firstLogits, append([]float32(nil), logits...))
			}
			p := append([]float32(nil), logits...)
			nn.Softmax(p, classes)
			top := topK(p, 5)
			for i := range top {
				if top[i] != it.Top5[i] {
					t.Errorf("top-5 %v, reference %v", top, it.Top5)
					break
				}
			}
			var d, stored float64 // overall bound; |Δ| on the classes the reference stores
			for c, v := range p {
				want, ok := it.Probs[strconv.Itoa(c)]
				diff := math.Abs(float64(v) - want)
				if !ok {
					// the reference is below keep_below (< 1e-4): requiring ours ≤ 1e-4
					// bounds |Δprob| by 1e-4 as well
					diff = float64(v)
				} else {
					stored = max(stored, diff)
				}
				d = max(d, diff)
			}
			if d > maxProbDiff {
				t.Errorf("max |Δprob| = %.3g > %g", d, maxProbDiff)
			}
			worst = max(worst, stored)
			label := wm.Meta.Classes[top[0]]
			t.Logf("top-1 %d %q p=%.4f, max |Δprob| %.2g on the %d stored classes", top[0], label, p[top[0]], stored, len(it.Probs))
			switch filepath.Base(it.File) {
			case "dog.jpg": // ImageNet dog breeds are classes 151-268
				if top[0] < 151 || top[0] > 268 {
					t.Errorf("dog.jpg: top-1 %d %q is not a dog breed", top[0], label)
				}
			case "eagle.jpg":
				if top[0] != 22 {
					t.Errorf("eagle.jpg: top-1 %d %q, want 22 (bald eagle)", top[0], label)
				}
			}
		})
	}
	t.Logf("worst |Δprob| over %d photos (stored classes): %.3g", len(ref.Images), worst)

	// the same photos as one batch (a Runner's CNHW path at batch > 1) give the same logits
	if len(firstInputs) < 2 {
		return
	}
	rb, err := m.NewRunner(len(firstInputs), spec.Crop, spec.Crop)
	if err != nil {
		t.Fatal(err)
	}
	var xb []float32
	for _, x := range firstInputs {
		xb = append(xb, x...)
	}
	_, lb, err := rb.Forward(xb)
	if err != nil {
		t.Fatal(err)
	}
	for i, l1 := range firstLogits {
		for c, v := range l1 {
			if d := math.Abs(float64(v - lb[i*classes+c])); d > 1e-4 {
				t.Fatalf("batch of %d, image %d, class %d: logit %g, alone %g", len(firstInputs), i, c, lb[i*classes+c], v)
			}
		}
	}
}

// topK returns the indices of the k largest values, largest first.
func topK(p []float32, k int) []int {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return p[idx[a]] > p[idx[b]] })
	return idx[:k]
}
