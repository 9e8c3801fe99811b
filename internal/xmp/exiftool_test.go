package xmp

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestExiftoolReadsSidecars checks our sidecars with an independent reader: Phil
// Harvey's exiftool (Debian: libimage-exiftool-perl). Skipped when it is absent.
func TestExiftoolReadsSidecars(t *testing.T) {
	exiftool, err := exec.LookPath("exiftool")
	if err != nil {
		t.Skip("exiftool is not installed (apt-get install libimage-exiftool-perl)")
	}
	dir := t.TempDir()
	fresh, err := Update(nil, state(), keywords())
	if err != nil {
		t.Fatal(err)
	}
	merged, err := Update([]byte(existing), state(), keywords()[:1])
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string][]byte{"fresh.jpg.xmp": fresh, "merged.jpg.xmp": merged} {
		if err := os.WriteFile(filepath.Join(dir, name), doc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	type info struct {
		SourceFile          string
		Subject             any
		HierarchicalSubject any
		Rating              any
		Title               any
		Classifier          string
		Error               string
		Warning             string
	}
	out, err := exec.Command(exiftool, "-j", "-XMP:all", filepath.Join(dir, "fresh.jpg.xmp"), filepath.Join(dir, "merged.jpg.xmp")).Output()
	if err != nil {
		t.Fatalf("exiftool: %v", err)
	}
	var infos []info
	if err := json.Unmarshal(out, &infos); err != nil {
		t.Fatalf("exiftool output: %v\n%s", err, out)
	}
	list := func(v any) []string { // exiftool gives a string for one item, a list for more
		switch v := v.(type) {
		case string:
			return []string{v}
		case []any:
			var s []string
			for _, x := range v {
				if str, ok := x.(string); ok {
					s = append(s, str)
				}
			}
			return s
		}
		return nil
	}
	for _, in := range infos {
		if in.Error != "" || in.Warning != "" {
			t.Errorf("%s: exiftool error %q warning %q", in.SourceFile, in.Error, in.Warning)
		}
		switch filepath.Base(in.SourceFile) {
		case "fresh.jpg.xmp":
			if got := list(in.Subject); !slices.Equal(got, []string{"dog", "bicycle", "seashore"}) {
				t.Errorf("fresh: Subject %v", got)
			}
			if got := list(in.HierarchicalSubject); !slices.Contains(got, "autotag|animal|dog") {
				t.Errorf("fresh: HierarchicalSubject %v", got)
			}
			if in.Classifier != "resnet50-keras" {
				t.Errorf("fresh: Classifier %q", in.Classifier)
			}
		case "merged.jpg.xmp":
			if got := list(in.Subject); !slices.Equal(got, []string{"holiday", "dog"}) {
				t.Errorf("merged: Subject %v", got)
			}
			if got := list(in.HierarchicalSubject); !slices.Equal(got, []string{"places|beach", "autotag|animal|dog"}) {
				t.Errorf("merged: HierarchicalSubject %v", got)
			}
			if r, _ := json.Marshal(in.Rating); string(r) != "3" || in.Title != "Beach <2024>" {
				t.Errorf("merged: Rating %v Title %v", in.Rating, in.Title)
			}
		}
	}
}
