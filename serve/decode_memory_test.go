package serve

import (
	"bytes"
	"image"
	stdjpeg "image/jpeg"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/autotag/autotag/data/jpeg"
)

// TestProgressiveJPEGChargesCoefficients: a progressive JPEG is charged its
// coefficients on top of its decoded size, which the decoder holds until the last
// scan, so a decode budget that fits the image alone refuses it (naming
// --decode-budget) while a sequential JPEG of the same size still decodes.
func TestProgressiveJPEGChargesCoefficients(t *testing.T) {
	prog, err := os.ReadFile("../data/jpeg/testdata/prog_444.jpg")
	if err != nil {
		t.Fatal(err)
	}
	img, err := stdjpeg.Decode(bytes.NewReader(prog))
	if err != nil {
		t.Fatal(err)
	}
	var seq bytes.Buffer
	if err := stdjpeg.Encode(&seq, img, nil); err != nil {
		t.Fatal(err)
	}
	cfg := image.Config{Width: img.Bounds().Dx(), Height: img.Bounds().Dy()}
	coeffs := jpeg.CoefficientBytes(prog)
	if coeffs == 0 || jpeg.CoefficientBytes(seq.Bytes()) != 0 {
		t.Fatalf("coefficient bytes: progressive %d, sequential %d", coeffs, jpeg.CoefficientBytes(seq.Bytes()))
	}
	if got, want := decodeMemory(prog, cfg, "jpeg"), decodedSize(cfg)+coeffs; got != want {
		t.Errorf("decodeMemory(progressive) = %d, want %d", got, want)
	}
	_, ts := newTestServer(t, Config{DecodeBudgetBytes: decodedSize(cfg) + coeffs/2}, nil)
	for _, c := range []struct {
		name string
		body []byte
		want int
	}{{"sequential", seq.Bytes(), http.StatusOK}, {"progressive", prog, http.StatusRequestEntityTooLarge}} {
		resp := post(t, ts.URL+"/v1/tag", "image/jpeg", bytes.NewReader(c.body))
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, resp.StatusCode, b, c.want)
		}
		if c.want != http.StatusOK && !strings.Contains(string(b), "--decode-budget") {
			t.Errorf("%s: %s does not name --decode-budget", c.name, b)
		}
	}
}
