package data

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// confineFixture builds a folder with an image folder img/ holding one real image
// (a.png), a text file posing as an image (notes.jpg), a symlink to a secret outside
// the folder (link.jpg) and a symlink to the parent folder (up/); the secret lies
// beside img/. It returns the root and the names a hostile label file lists.
func confineFixture(t *testing.T) (dir string, names []string) {
	t.Helper()
	dir = t.TempDir()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{
		"secret.txt":    "TOP-SECRET root:$6$hash\n",
		"img/a.png":     buf.String(),
		"img/notes.jpg": "ALSO-SECRET not an image\n",
		"labels/a.txt":  "0 0.5 0.5 0.1 0.1\n",
	})
	for link, target := range map[string]string{
		"img/link.jpg":    "../secret.txt",
		"img/up":          "..",
		"labels/link.txt": "../secret.txt",
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Skipf("symlinks: %v", err)
		}
	}
	return dir, []string{
		"a.png",
		"../secret.txt",                  // climbs out by name
		filepath.Join(dir, "secret.txt"), // absolute
		"sub/../../secret.txt",           // climbs out after a detour
		"link.jpg",                       // a symlink leading out
		"up/secret.txt",                  // a directory symlink leading out
		"notes.jpg",                      // inside, but not an image
	}
}

// checkConfined loads spec with and without image verification and checks that only
// a.png is kept, that every escape is reported as Outside, and that no problem quotes
// the secret files' contents.
func checkConfined(t *testing.T, spec string, outside int) {
	t.Helper()
	for _, verify := range []bool{false, true} {
		ds, err := Load(spec, LoadOptions{VerifyImages: verify})
		if err != nil {
			t.Fatal(err)
		}
		want := 1
		if !verify {
			want = 2 // notes.jpg is only caught when headers are read
		}
		if len(ds.Records) != want || filepath.Base(ds.Records[0].Path) != "a.png" {
			t.Errorf("verify=%v: records %v, want a.png (and notes.jpg without verification)", verify, ds.Records)
		}
		if n := ds.Report.Count(Outside); n != outside {
			t.Errorf("verify=%v: %d outside-folder problems, want %d: %s", verify, n, outside, ds.Report.Summary())
		}
		var buf bytes.Buffer
		ds.Report.Write(&buf, 100)
		if s := buf.String(); strings.Contains(s, "SECRET") || strings.Contains(s, "root:") {
			t.Errorf("verify=%v: the report quotes a file's contents:\n%s", verify, s)
		}
	}
}

func TestDatasetPathsConfinedCSV(t *testing.T) {
	dir, names := confineFixture(t)
	csv := "file,tags\n"
	for _, n := range names {
		csv += n + ",cat\n"
	}
	writeFiles(t, dir, map[string]string{"labels.csv": csv})
	checkConfined(t, "csv:"+filepath.Join(dir, "labels.csv")+":"+filepath.Join(dir, "img"), 5)
}

func TestDatasetPathsConfinedCOCO(t *testing.T) {
	dir, names := confineFixture(t)
	var images []string
	for i, n := range names {
		images = append(images, `{"id":`+strconv.Itoa(i+1)+`,"file_name":`+strconv.Quote(n)+`}`)
	}
	writeFiles(t, dir, map[string]string{"ann.json": `{"images":[` + strings.Join(images, ",") +
		`],"annotations":[{"image_id":1,"category_id":17}],"categories":[{"id":17,"name":"cat"}]}`})
	checkConfined(t, "coco:"+filepath.Join(dir, "ann.json")+":"+filepath.Join(dir, "img"), 5)
}

func TestDatasetPathsConfinedKaggle(t *testing.T) {
	dir, names := confineFixture(t)
	labels := "file,cat\n"
	for _, n := range names {
		labels += n + ",1\n"
	}
	writeFiles(t, dir, map[string]string{"labels.csv": labels, "cats.csv": "category\ncat\n"})
	checkConfined(t, "kaggle:"+filepath.Join(dir, "labels.csv")+":"+filepath.Join(dir, "cats.csv")+":"+filepath.Join(dir, "img"), 5)
}

// TestDatasetPathsConfinedYOLO: YOLO lists its image folder, so only symlinks can lead
// out: the image symlink is dropped, and a label file that is a symlink out of the
// label folder is not read (its image is dropped too).
func TestDatasetPathsConfinedYOLO(t *testing.T) {
	dir, _ := confineFixture(t)
	if err := os.Rename(filepath.Join(dir, "labels/link.txt"), filepath.Join(dir, "labels/notes.txt")); err != nil {
		t.Fatal(err)
	}
	spec := "yolo:" + filepath.Join(dir, "img") + ":" + filepath.Join(dir, "labels")
	for _, verify := range []bool{false, true} {
		ds, err := Load(spec, LoadOptions{VerifyImages: verify})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds.Records) != 1 || filepath.Base(ds.Records[0].Path) != "a.png" {
			t.Errorf("verify=%v: records %v, want a.png", verify, ds.Records)
		}
		if ds.Report.Count(Outside) != 1 || ds.Report.Count(Unreadable) != 1 {
			t.Errorf("verify=%v: %s; want 1 outside-folder (link.jpg), 1 unreadable (labels/notes.txt)", verify, ds.Report.Summary())
		}
		var buf bytes.Buffer
		ds.Report.Write(&buf, 100)
		if s := buf.String(); strings.Contains(s, "SECRET") || strings.Contains(s, "root:") {
			t.Errorf("verify=%v: the report quotes a file's contents:\n%s", verify, s)
		}
	}
}

// TestLabelFileFIFO checks that a FIFO named as a label file is refused at once
// instead of blocking the load forever.
func TestLabelFileFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "labels.csv")
	if err := mkfifo(fifo); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Load("csv:"+fifo+":"+dir, LoadOptions{})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("FIFO labels: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("loading a FIFO as labels blocks")
	}
}

// TestImageReadsBounded checks that fingerprinting (data split, data check) reads an
// image only up to the decode size cap, and refuses a FIFO instead of blocking.
func TestImageReadsBounded(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.jpg")
	writeFiles(t, dir, map[string]string{"big.jpg": strings.Repeat("x", 4096)})
	if _, err := FingerprintFile(big, DecodeOptions{MaxBytes: 1024}); !errors.Is(err, ErrInputTooLarge) {
		t.Errorf("file over the cap: %v, want ErrInputTooLarge", err)
	}
	fifo := filepath.Join(dir, "fifo.jpg")
	if err := mkfifo(fifo); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, err := FingerprintFile(fifo, DecodeOptions{}); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("FIFO image: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fingerprinting a FIFO blocks")
	}
}
