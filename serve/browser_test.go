package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

	"github.com/autotag/autotag/internal/testenv"
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
	// The page shows what curl gets for the same file.
	b, _ := os.ReadFile(photo)
	resp := post(t, ts.URL+"/v1/tag?threshold=0.01&top_k=25", "image/jpeg", bytes.NewReader(b))
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
	// Back to a useful threshold for the desktop screenshot.
	if err := chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`(() => { const s = document.getElementById('thr'); s.value = '0.10'; s.dispatchEvent(new Event('input')); return true; })()`)(ctx, t)
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
