package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"gorgonia.org/tensor"

	"github.com/autotag/autotag"
	"github.com/autotag/autotag/internal/testenv"
	"github.com/autotag/autotag/internal/tinymodel"
	"github.com/autotag/autotag/weights"
)

const chromiumPath = "/usr/bin/chromium"

// browser starts headless chromium for t (skipping when it is absent) and returns
// a tab context.
func browser(t *testing.T) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("chromium not installed at %s", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	return ctx
}

// screenshotDir is testdata/out (gitignored) at the module root.
func screenshotDir(t *testing.T) string {
	dir := filepath.Join(testenv.RepoRoot(), "testdata", "out")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBrowserUploadShowsTags opens the page in headless chromium at a 375-px phone
// viewport, uploads a photo through the file input, waits for its tag chips, checks
// they match what a plain POST of the same file returns, moves the threshold slider,
// uploads a non-image to see the error message, and saves screenshots.
func TestBrowserUploadShowsTags(t *testing.T) {
	ctx := browser(t)
	var eng Engine = &fakeEngine{}
	photo := ""
	wantLabel := ""
	if dir := testenv.SharedDataDir(); dir != "" && !testing.Short() {
		if p := filepath.Join(dir, "darknet-photos", "dog.jpg"); fileExists(p) {
			photo = p
		}
	}
	if photo != "" && fileExists(filepath.Join(testenv.RepoRoot(), ".cache", "home", "models", "resnet50-keras.safetensors")) {
		eng = realEngine(t, 4)
		wantLabel = "dog"
	}
	if photo == "" {
		photo = filepath.Join(t.TempDir(), "red.jpg")
		if err := os.WriteFile(photo, solidJPEG(t, 320, 240, red), 0o644); err != nil {
			t.Fatal(err)
		}
		wantLabel = "red"
	}
	_, ts := newTestServer(t, Config{}, eng)

	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(375, 812, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch),
		chromedp.Navigate(ts.URL),
		chromedp.WaitVisible(chromedp.CSS("#drop")),
		chromedp.WaitReady(chromedp.CSS(`#model:not(:empty)`)),
	); err != nil {
		t.Fatal(err)
	}
	// Nothing overflows the phone viewport horizontally.
	if w, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.documentElement.scrollWidth`)); err != nil || w > 375 {
		t.Errorf("page is %v px wide at a 375-px viewport (%v)", w, err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SetUploadFiles(chromedp.CSS("#pick"), []string{photo}),
		chromedp.WaitVisible(chromedp.CSS(`.card[data-state="done"] .chip`)),
	); err != nil {
		t.Fatal(err)
	}
	pageTags, err := chromedp.Run(ctx, chromedp.Evaluate[[]Tag](`window.autotag.items[0].result.tags`))
	if err != nil {
		t.Fatal(err)
	}
	chips, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('.card .chip')).map(e => e.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(chips, wantLabel) {
		t.Errorf("chips %v lack %q", chips, wantLabel)
	}
	// The page shows what curl gets for the same file, with the server's own selection.
	b, _ := os.ReadFile(photo)
	resp := post(t, ts.URL+"/v1/tag", "image/jpeg", bytes.NewReader(b))
	var direct tagResponse
	decodeJSON(t, resp, &direct)
	if fmt.Sprint(direct.Results[0].Tags) != fmt.Sprint(pageTags) {
		t.Errorf("page tags %v differ from a direct POST's %v", pageTags, direct.Results[0].Tags)
	}
	dir := screenshotDir(t)
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	writeShot(t, filepath.Join(dir, "serve-page-375.png"), shot)

	// The slider filters live: at 0.99 fewer (or no) chips remain.
	before := len(chips)
	chips, err = chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => {
		const s = document.getElementById('thr'); s.value = '0.99';
		s.dispatchEvent(new Event('input', {bubbles: true}));
		return Array.from(document.querySelectorAll('.card .chip')).map(e => e.textContent);
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if len(chips) > before || len(chips) == before && before > 1 {
		t.Errorf("threshold 0.99 left %d of %d chips", len(chips), before)
	}
	// A non-image gets a clear message on its card.
	bad := filepath.Join(t.TempDir(), "notes.jpg")
	os.WriteFile(bad, []byte("these are my notes, not a photo"), 0o644)
	if err := chromedp.Do(ctx,
		chromedp.SetUploadFiles(chromedp.CSS("#pick"), []string{bad}),
		chromedp.WaitVisible(chromedp.CSS(`.card[data-state="failed"] .status`)),
	); err != nil {
		t.Fatal(err)
	}
	msg, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.card[data-state="failed"] .status`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "not a photo the server can read") {
		t.Errorf("error message %q", msg)
	}
	// Copy-as-JSON produces the results of the done photos.
	js, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.autotag.currentJSON()`))
	if err != nil {
		t.Fatal(err)
	}
	var copied struct {
		Results []tagResult `json:"results"`
	}
	if err := json.Unmarshal([]byte(js), &copied); err != nil || len(copied.Results) != 1 {
		t.Errorf("copy JSON %q: %v", js, err)
	}
	// Drag and drop: a file dropped anywhere on the page is tagged like a picked one.
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(async () => {
		const blob = await (await fetch('/static/icon-192.png')).blob();
		const dt = new DataTransfer();
		dt.items.add(new File([blob], 'dropped.png', {type: 'image/png'}));
		window.dispatchEvent(new DragEvent('dragenter', {dataTransfer: dt}));
		window.dispatchEvent(new DragEvent('drop', {dataTransfer: dt}));
		return window.autotag.items.length;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil || n != 3 {
		t.Fatalf("after the drop: %d items, %v", n, err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`.card[data-state="done"] .name[title="dropped.png"]`))); err != nil {
		t.Fatal(err)
	}
	// Slider off again (the model's own selection) for the desktop screenshot.
	if err := chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`(() => { const s = document.getElementById('thr'); s.value = '0'; s.dispatchEvent(new Event('input')); return true; })()`)(ctx, t)
			return err
		}),
		chromedp.EmulateViewport(1100, 800),
		chromedp.Sleep(200*time.Millisecond),
	); err != nil {
		t.Fatal(err)
	}
	shot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	writeShot(t, filepath.Join(dir, "serve-page-desktop.png"), shot)
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
		return err
	}), chromedp.Sleep(100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if shot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
		t.Fatal(err)
	}
	writeShot(t, filepath.Join(dir, "serve-page-desktop-dark.png"), shot)
	if _, err := http.Get(ts.URL + "/sw.js"); err != nil {
		t.Error(err)
	}

	// A photo over the server's pixel cap is scaled down in the browser and tagged.
	_, small := newTestServer(t, Config{MaxPixels: 40_000}, &fakeEngine{})
	big := filepath.Join(t.TempDir(), "big.jpg")
	os.WriteFile(big, solidJPEG(t, 400, 300, red), 0o644)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(small.URL),
		chromedp.WaitReady(chromedp.CSS(`#model:not(:empty)`)),
		chromedp.Sleep(200*time.Millisecond), // /v1/model gives the limits
		chromedp.SetUploadFiles(chromedp.CSS("#pick"), []string{big}),
		chromedp.WaitVisible(chromedp.CSS(`.card[data-state="done"] .chip`)),
	); err != nil {
		t.Fatal(err)
	}
	dims, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[window.autotag.items[0].result.width, window.autotag.items[0].result.height]`))
	if err != nil || dims[0]*dims[1] > 40_000 || dims[0] < 150 {
		t.Errorf("downscaled upload tagged at %v (%v)", dims, err)
	}
}

func writeShot(t *testing.T, path string, png []byte) {
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// trainedHead writes a tiny backbone into a fresh AUTOTAG_HOME and a head-only
// model (linear, sigmoid) over it whose per-class thresholds are calibrated around
// its own probabilities for photo: classes under 0.5 and the top class pass, the
// rest do not, so a flat 0.5 (what the page used to apply) selects other tags than
// the model does. It returns the head model's path.
func trainedHead(t *testing.T, photo []byte) string {
	t.Helper()
	ctx := context.Background()
	home := t.TempDir()
	t.Setenv("AUTOTAG_HOME", home)
	models := filepath.Join(home, "models")
	if err := os.MkdirAll(models, 0o755); err != nil {
		t.Fatal(err)
	}
	ts, err := tinymodel.Tensors(1000)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("imagenet-%d", i)
	}
	bb := filepath.Join(models, "backbone.safetensors")
	if err := tinymodel.Save(bb, weights.Metadata{Classes: names, Activation: "softmax"}, ts); err != nil {
		t.Fatal(err)
	}
	sum, err := weights.FileSHA256(bb)
	if err != nil {
		t.Fatal(err)
	}
	classes := []string{"beach", "bicycle", "cat", "dog", "forest", "mountain", "person", "snow", "street", "sunset"}
	w, b := tinymodel.Linear(len(classes), 2048, 21)
	head := map[string]*tensor.Dense{"fc.weight": w, "fc.bias": b}
	path := filepath.Join(t.TempDir(), "head.safetensors")
	meta := weights.Metadata{Classes: classes, Activation: "sigmoid", BackboneSHA256: sum, Head: "linear", Source: "test head"}
	if err := tinymodel.Save(path, meta, head); err != nil {
		t.Fatal(err)
	}
	// The probabilities the server will compute: its decode, preparation and forward pass.
	tg, err := autotag.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tg.DecodeBytes(photo)
	if err != nil {
		t.Fatal(err)
	}
	in, err := tg.Prepare(img)
	if err != nil {
		t.Fatal(err)
	}
	probs, err := tg.ProbabilitiesOf(ctx, []*autotag.Input{in})
	tg.Close()
	if err != nil {
		t.Fatal(err)
	}
	top := 0
	for i, p := range probs[0] {
		if p > probs[0][top] {
			top = i
		}
	}
	// A class under 0.5 passes, so the selection always differs from a flat 0.5's.
	meta.Thresholds = make([]float32, len(classes))
	for i, p := range probs[0] {
		if p < 0.5 || i == top {
			meta.Thresholds[i] = p - 0.01
		} else {
			meta.Thresholds[i] = min(1, p+0.01)
		}
	}
	if err := tinymodel.Save(path, meta, head); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBrowserShowsAPITagsForTrainedHead: for a head with calibrated per-class
// thresholds, the page shows exactly the tags (labels, order, scores) that a plain
// POST /v1/tag and the library (what `autotag tag` prints) give, and photos appear
// in the order they were added.
func TestBrowserShowsAPITagsForTrainedHead(t *testing.T) {
	ctx := browser(t)
	dir := t.TempDir()
	photo := filepath.Join(dir, "first.png")
	second := filepath.Join(dir, "second.jpg")
	var buf bytes.Buffer
	if err := png.Encode(&buf, testPattern(120, 90)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(photo, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(second, solidJPEG(t, 64, 48, red), 0o644); err != nil {
		t.Fatal(err)
	}
	path := trainedHead(t, buf.Bytes())
	tg, err := autotag.Open(context.Background(), path, autotag.WithBatchSize(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	_, ts := newTestServer(t, Config{MaxBatch: 2}, tg)

	resp := post(t, ts.URL+"/v1/tag", "image/png", bytes.NewReader(buf.Bytes()))
	var direct tagResponse
	decodeJSON(t, resp, &direct)
	if resp.StatusCode != http.StatusOK || len(direct.Results) != 1 {
		t.Fatalf("direct POST: %d %+v", resp.StatusCode, direct)
	}
	lib, err := tg.TagReader(context.Background(), bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if lib, err = roundTags(lib); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(lib) != fmt.Sprint(direct.Results[0].Tags) {
		t.Errorf("API tags %v differ from the library's %v", direct.Results[0].Tags, lib)
	}

	if err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL),
		chromedp.WaitReady(chromedp.CSS(`#model:not(:empty)`)),
		chromedp.SetUploadFiles(chromedp.CSS("#pick"), []string{photo, second}),
		chromedp.WaitVisible(chromedp.CSS(`.card:nth-child(2)[data-state="done"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.card:nth-child(1)[data-state="done"]`)),
	); err != nil {
		t.Fatal(err)
	}
	type shown struct {
		Name  string   `json:"name"`
		Chips []string `json:"chips"`
		Tags  []Tag    `json:"tags"`
	}
	cards, err := chromedp.Run(ctx, chromedp.Evaluate[[]shown](`Array.from(document.querySelectorAll('.card')).map((c, i) => ({
		name: c.querySelector('.name').textContent,
		chips: Array.from(c.querySelectorAll('.chip')).map(e => e.textContent),
		tags: window.autotag.items[i].result.tags,
	}))`))
	if err != nil {
		t.Fatal(err)
	}
	if len(cards) != 2 || cards[0].Name != "first.png" || cards[1].Name != "second.jpg" {
		t.Fatalf("cards %+v, want first.png then second.jpg", cards)
	}
	var want []string
	for _, tag := range direct.Results[0].Tags {
		want = append(want, tag.Label)
	}
	if !slices.Equal(cards[0].Chips, want) || fmt.Sprint(cards[0].Tags) != fmt.Sprint(direct.Results[0].Tags) {
		t.Errorf("page shows %v (%v), the API gives %v", cards[0].Chips, cards[0].Tags, direct.Results[0].Tags)
	}
}

// testPattern is a w×h image with smooth colour gradients.
func testPattern(w, h int) image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x + y) % 256), 255})
		}
	}
	return img
}
