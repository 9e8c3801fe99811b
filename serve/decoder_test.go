package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"net/http"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/autotag/autotag"
	"github.com/autotag/autotag/data"
	"github.com/autotag/autotag/internal/tinymodel"
)

// decoderEngine is a fake engine with its own Decoder: it decodes in full, then
// hands the engine a quarter-size image painted in its own colour, the way a
// reduced decode hands the model a smaller picture.
type decoderEngine struct {
	fakeEngine
	paint   color.Color
	decodes atomic.Int32
}

func (e *decoderEngine) DecodeBytes(b []byte) (image.Image, error) {
	e.decodes.Add(1)
	full, err := data.DecodeBytes(b, data.DecodeOptions{})
	if err != nil {
		return nil, err
	}
	r := full.Bounds()
	img := image.NewNRGBA(image.Rect(0, 0, (r.Dx()+1)/2, (r.Dy()+1)/2))
	for i := 0; i < len(img.Pix); i += 4 {
		c := color.NRGBAModel.Convert(e.paint).(color.NRGBA)
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return img, nil
}

// TestEngineDecoder checks that the server decodes with the engine's own Decoder,
// reports the photo's real size rather than the decoder's reduced one, and decodes
// again with the new engine's Decoder when a reload lands between decoding and the
// batch.
func TestEngineDecoder(t *testing.T) {
	a := &decoderEngine{paint: color.NRGBA{250, 0, 0, 255}}
	s, ts := newTestServer(t, Config{}, a)
	raw := solidJPEG(t, 64, 48, color.RGBA{0, 0, 250, 255}) // blue; the decoder paints red
	resp := post(t, ts.URL+"/v1/tag", "image/jpeg", bytes.NewReader(raw))
	defer resp.Body.Close()
	var got tagResponse
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	r := got.Results[0]
	if r.Width != 64 || r.Height != 48 {
		t.Errorf("reported %dx%d, want the photo's 64x48", r.Width, r.Height)
	}
	if len(r.Tags) == 0 || r.Tags[0].Label != "red" || a.decodes.Load() != 1 {
		t.Errorf("tags %v after %d engine decodes: want red from the engine's decoder, once", r.Tags, a.decodes.Load())
	}

	// A job decoded for engine a, whose batch runs after a reload swapped in b.
	img, by, err := s.safeDecode(context.Background(), raw, nil, s.engine.Load())
	if err != nil || by == nil || by.e != Engine(a) {
		t.Fatalf("safeDecode: %v, decoded for %v", err, by)
	}
	b := &decoderEngine{paint: color.NRGBA{0, 250, 0, 255}}
	s.engine.Store(&engineSlot{e: b})
	j := &job{img: img, raw: raw, decodedFor: by}
	tags, _, _, err := s.batch.infer([]*job{j})
	if err != nil {
		t.Fatal(err)
	}
	if len(tags[0]) == 0 || tags[0][0].Label != "green" || b.decodes.Load() != 1 {
		t.Errorf("after the reload: tags %v after %d decodes by the new engine, want green, once", tags[0], b.decodes.Load())
	}
	if j.decodedFor == by {
		t.Error("the job still says it was decoded for the old engine")
	}
}

// TestPreparedUploads runs a real (tiny) Tagger, which decodes and prepares uploads
// itself: the handler queues the prepared input, not the photo, and gives the decode
// budget back at once; the answer equals the Tagger's own on the decoded photo; and a
// job prepared for one Tagger runs on another after a reload by being decoded and
// prepared again.
func TestPreparedUploads(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	path := filepath.Join(t.TempDir(), "tiny.safetensors")
	if err := tinymodel.Write(path, []string{"a", "b", "c"}, "sigmoid"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	open := func() *autotag.Tagger {
		tg, err := autotag.Open(ctx, path, autotag.WithBatchSize(4), autotag.WithThreshold(0))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tg.Close() })
		return tg
	}
	a, b := open(), open()
	s, ts := newTestServer(t, Config{}, a)
	raw := solidJPEG(t, 90, 70, color.RGBA{30, 140, 200, 255})
	resp := post(t, ts.URL+"/v1/tag", "image/jpeg", bytes.NewReader(raw))
	defer resp.Body.Close()
	var got tagResponse
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	want, err := a.TagReader(ctx, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if want, err = roundTags(want); err != nil {
		t.Fatal(err)
	}
	if r := got.Results[0]; r.Width != 90 || r.Height != 70 || !slices.Equal(r.Tags, want) {
		t.Errorf("served %dx%d %v, want 90x70 %v", r.Width, r.Height, r.Tags, want)
	}
	if u := budgetUsed(s); u != 0 {
		t.Errorf("decode budget still holds %d bytes after the answer", u)
	}

	u := upload{name: "image", data: raw}
	if u.hdr, err = s.checkUpload(u); err != nil {
		t.Fatal(err)
	}
	j, _, err := s.decodeUpload(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if u := budgetUsed(s); j.in == nil || j.img != nil || j.release != nil || u != 0 {
		t.Fatalf("queued job: input %v, image %v, release set %v, budget %d: want the input alone, budget back",
			j.in != nil, j.img != nil, j.release != nil, u)
	}
	s.engine.Store(&engineSlot{e: b})
	tags, _, _, err := s.batch.infer([]*job{j})
	if err != nil {
		t.Fatalf("after the reload: %v", err)
	}
	if got, _ := roundTags(tags[0]); !slices.Equal(got, want) || j.inFor != s.engine.Load() {
		t.Errorf("after the reload: %v (prepared for the new engine: %v), want %v", tags[0], j.inFor == s.engine.Load(), want)
	}
}

func budgetUsed(s *Server) int64 {
	s.budget.mu.Lock()
	defer s.budget.mu.Unlock()
	return s.budget.used
}
