package weights

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

func smallModel(bias float32) *Model {
	return &Model{Meta: Metadata{Arch: "resnet50", Layout: LayoutTorchvisionV15, BNEps: 1e-5, Activation: "sigmoid", Classes: []string{"a", "b"}},
		Tensors: map[string]*tensor.Dense{
			"fc.weight": tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{1, 2, 3, 4, 5, 6})),
			"fc.bias":   tensor.New(tensor.WithShape(2), tensor.WithBacking([]float32{bias, 0})),
		}}
}

// TestSaveCachedKeepsADifferentModel: saving the same model again under a name
// changes nothing; a different one is refused (the cached file kept byte for
// byte, the error naming it and its sha256) unless replace is asked for.
func TestSaveCachedKeepsADifferentModel(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	first, err := SaveCached("m", smallModel(1), false)
	if err != nil || first.Unchanged || first.Path != CachePath("m") {
		t.Fatalf("first save: %+v %v", first, err)
	}
	if sum, _ := FileSHA256(first.Path); sum != first.SHA256 {
		t.Fatalf("reported sha256 %s, file has %s", first.SHA256, sum)
	}
	before, _ := os.ReadFile(first.Path)
	again, err := SaveCached("m", smallModel(1), false)
	if err != nil || !again.Unchanged || again.SHA256 != first.SHA256 {
		t.Fatalf("same model again: %+v %v", again, err)
	}
	_, err = SaveCached("m", smallModel(2), false)
	var ce *CacheConflictError
	if !errors.As(err, &ce) || ce.Path != first.Path || ce.SHA256 != first.SHA256 || ce.NewSHA256 == first.SHA256 ||
		!strings.Contains(err.Error(), first.Path) || !strings.Contains(err.Error(), first.SHA256) {
		t.Fatalf("a different model under the same name: %v", err)
	}
	if after, _ := os.ReadFile(first.Path); string(after) != string(before) {
		t.Fatal("the cached model was changed by a refused save")
	}
	replaced, err := SaveCached("m", smallModel(2), true)
	if err != nil || replaced.Unchanged || replaced.SHA256 != ce.NewSHA256 {
		t.Fatalf("replace: %+v %v", replaced, err)
	}
	if sum, _ := FileSHA256(first.Path); sum != ce.NewSHA256 {
		t.Fatalf("after replace the file has sha256 %s, want %s", sum, ce.NewSHA256)
	}
}

// TestPullKeepsADifferentCachedModel: pull does not replace a different model
// cached under the checkpoint's name unless Replace.
func TestPullKeepsADifferentCachedModel(t *testing.T) {
	m := randomResNet50(t, LayoutTorchvisionV15, 2, 5)
	var buf bytes.Buffer
	if err := writeSafetensors(&buf, m.Tensors, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	content := buf.Bytes()
	srv := rangeServer(t, content, 0, nil)
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	ck, _ := LookupCheckpoint("timm/resnet50.a1_in1k")
	ck.Name, ck.URL, ck.Size, ck.SHA256 = "pulled", srv.URL+"/model.safetensors", int64(len(content)), sha256Hex(content)
	mine, err := SaveCached("pulled", smallModel(1), false)
	if err != nil {
		t.Fatal(err)
	}
	var ce *CacheConflictError
	if _, err := PullCheckpoint(context.Background(), ck, DownloadOptions{}); !errors.As(err, &ce) || ce.SHA256 != mine.SHA256 {
		t.Fatalf("pull over a different cached model: %v", err)
	}
	if sum, _ := FileSHA256(mine.Path); sum != mine.SHA256 {
		t.Fatal("the cached model changed")
	}
	res, err := PullCheckpoint(context.Background(), ck, DownloadOptions{Replace: true})
	if err != nil || res.SHA256 != ce.NewSHA256 {
		t.Fatalf("pull with Replace: %+v %v", res, err)
	}
	if res, err := PullCheckpoint(context.Background(), ck, DownloadOptions{}); err != nil || !res.Unchanged {
		t.Fatalf("pulling the same checkpoint again: %+v %v", res, err)
	}
}
