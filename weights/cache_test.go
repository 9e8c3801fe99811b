package weights

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

func TestHome(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", "/x/home")
	if got := Home(); got != "/x/home" {
		t.Errorf("Home with AUTOTAG_HOME = %q", got)
	}
	t.Setenv("AUTOTAG_HOME", "")
	t.Setenv("XDG_CACHE_HOME", "/x/cache")
	if got := Home(); got != "/x/cache/autotag" {
		t.Errorf("Home with XDG_CACHE_HOME = %q", got)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/x/user")
	if got := Home(); got != "/x/user/.cache/autotag" {
		t.Errorf("Home with HOME = %q", got)
	}
}

func saveTiny(t *testing.T, name string) string {
	t.Helper()
	p := CachePath(name)
	m := &Model{Meta: Metadata{Layout: LayoutKerasV1, Source: name}, Tensors: map[string]*tensor.Dense{"x": dense([]int{1}, 1)}}
	if err := Save(p, m); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestResolveAndList(t *testing.T) {
	home := t.TempDir()
	t.Setenv("AUTOTAG_HOME", home)
	if _, err := Resolve(""); err == nil || !strings.Contains(err.Error(), "autotag weights import") {
		t.Errorf("empty cache: want an error naming `autotag weights import`, got %v", err)
	}
	if l, err := List(); err != nil || len(l) != 0 {
		t.Errorf("List of a missing cache = %v, %v", l, err)
	}
	other := saveTiny(t, "other")
	if p, err := Resolve(""); err != nil || p != other {
		t.Errorf("single model: Resolve(\"\") = %q, %v", p, err)
	}
	saveTiny(t, "third")
	if _, err := Resolve(""); err == nil || !strings.Contains(err.Error(), "--model") {
		t.Errorf("two models, no default: %v", err)
	}
	keras := saveTiny(t, DefaultKerasName)
	if p, err := Resolve(""); err != nil || p != keras {
		t.Errorf("default: Resolve(\"\") = %q, %v", p, err)
	}
	if p, err := Resolve("other"); err != nil || p != other {
		t.Errorf("Resolve(other) = %q, %v", p, err)
	}
	if p, err := Resolve("other.safetensors"); err != nil || p != other {
		t.Errorf("Resolve(other.safetensors) = %q, %v", p, err)
	}
	if p, err := Resolve(other); err != nil || p != other {
		t.Errorf("Resolve(path) = %q, %v", p, err)
	}
	if _, err := Resolve("missing"); err == nil || !strings.Contains(err.Error(), "autotag weights import") {
		t.Errorf("Resolve(missing) = %v", err)
	}
	if _, err := Resolve(home); err == nil {
		t.Errorf("Resolve(directory) succeeded")
	}
	os.WriteFile(filepath.Join(ModelsDir(), "broken.safetensors"), []byte("junk"), 0o644)
	l, err := List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range l {
		names = append(names, e.Name)
		if e.Name == "broken" && e.Err == nil {
			t.Errorf("broken file listed without an error")
		}
		if e.Name == "other" && (e.Meta.Source != "other" || e.Size == 0) {
			t.Errorf("entry %+v", e)
		}
	}
	if strings.Join(names, ",") != "broken,other,resnet50-keras,third" {
		t.Errorf("List names = %v", names)
	}
}

func TestFileSHA256(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("abc"), 0o644)
	got, err := FileSHA256(p)
	if want := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; err != nil || got != want {
		t.Errorf("FileSHA256 = %q, %v", got, err)
	}
}
