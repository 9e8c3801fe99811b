package serve

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// pngChunk encodes one PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return b.Bytes()
}

// craftPNG builds an 8-bit RGBA PNG of w×h whose IDAT holds rawLen zero bytes of
// filtered scanlines, compressed: a decompression bomb when rawLen is large.
func craftPNG(w, h uint32, rawLen int) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	b.Write(pngChunk("IHDR", ihdr))
	if rawLen > 0 {
		var z bytes.Buffer
		zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
		zero := make([]byte, 1<<16)
		for n := rawLen; n > 0; n -= len(zero) {
			zw.Write(zero[:min(n, len(zero))])
		}
		zw.Close()
		b.Write(pngChunk("IDAT", z.Bytes()))
	}
	b.Write(pngChunk("IEND", nil))
	return b.Bytes()
}

// webpBomb is a 28-byte lossless WebP whose header claims 16384×16384 pixels.
func webpBomb() []byte {
	b := []byte("RIFF\x14\x00\x00\x00WEBPVP8L\x08\x00\x00\x00\x2f\xff\xff\xff\x0f\x00\x00\x00")
	return b
}

// jpegSOF builds a JPEG that is only SOI + JFIF APP0 + an SOF0 claiming w×h + EOI.
func jpegSOF(w, h uint16) []byte {
	b := []byte{0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0}
	b = append(b, 0xff, 0xc0, 0x00, 0x11, 0x08)
	b = binary.BigEndian.AppendUint16(b, h)
	b = binary.BigEndian.AppendUint16(b, w)
	b = append(b, 3, 1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1, 0xff, 0xd9)
	return b
}

// bmpHeader builds a BMP header claiming w×h 24-bit pixels with no pixel data.
func bmpHeader(w, h int32) []byte {
	var b bytes.Buffer
	b.WriteString("BM")
	binary.Write(&b, binary.LittleEndian, uint32(54))
	binary.Write(&b, binary.LittleEndian, uint32(0))
	binary.Write(&b, binary.LittleEndian, uint32(54))
	binary.Write(&b, binary.LittleEndian, uint32(40))
	binary.Write(&b, binary.LittleEndian, w)
	binary.Write(&b, binary.LittleEndian, h)
	binary.Write(&b, binary.LittleEndian, uint16(1))
	binary.Write(&b, binary.LittleEndian, uint16(24))
	b.Write(make([]byte, 24))
	return b.Bytes()
}

// gifScreen builds a GIF whose logical screen is w×h with one 1×1 frame.
func gifScreen(w, h uint16) []byte {
	var buf bytes.Buffer
	gif.Encode(&buf, image.NewPaletted(image.Rect(0, 0, 1, 1), palette.Plan9[:2]), nil)
	b := buf.Bytes()
	binary.LittleEndian.PutUint16(b[6:], w)
	binary.LittleEndian.PutUint16(b[8:], h)
	return b
}

func png16(t testing.TB) []byte {
	img := image.NewRGBA64(image.Rect(0, 0, 40, 30))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func animatedGIF(t testing.TB) []byte {
	a := &gif.GIF{}
	for i := 0; i < 3; i++ {
		f := image.NewPaletted(image.Rect(0, 0, 20, 20), palette.Plan9)
		for j := range f.Pix {
			f.Pix[j] = uint8(i * 40)
		}
		a.Image = append(a.Image, f)
		a.Delay = append(a.Delay, 10)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, a); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func fixture(t testing.TB, name string) []byte {
	b, err := os.ReadFile(filepath.Join("..", "testdata", "serve", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// manyParts is a multipart body with n tiny parts.
func manyParts(n int) (string, []byte) {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "--XX\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\nx\r\n", i)
	}
	b.WriteString("--XX--\r\n")
	return "multipart/form-data; boundary=XX", b.Bytes()
}

// hostileCase is one hostile upload and the status it must get.
type hostileCase struct {
	name   string
	ct     string
	body   []byte
	status int
	code   string
}

func hostileCases(t testing.TB) []hostileCase {
	good := solidJPEG(t, 64, 64, red)
	ctMany, many := manyParts(10000)
	_, noImage := multipartBody(t, [3]string{"note", "", "hello"})
	ctNoImage := "multipart/form-data; boundary=" + strings.TrimPrefix(strings.SplitN(noImage.String(), "\r\n", 2)[0], "--")
	ctEmptyPart, emptyPart := multipartBody(t, [3]string{"image", "empty.jpg", ""})
	return []hostileCase{
		{"empty body", "image/jpeg", nil, 400, codeBadRequest},
		{"truncated JPEG", "image/jpeg", good[:len(good)/2], 422, codeInvalidImage},
		{"text as image/jpeg", "image/jpeg", []byte("hello, I am not a photo"), 415, codeUnsupportedMedia},
		{"text/plain content type", "text/plain", good, 415, codeUnsupportedMedia},
		{"no content type", "", good, 415, codeUnsupportedMedia},
		{"JSON content type", "application/json", []byte(`{"url":"http://169.254.169.254/"}`), 415, codeUnsupportedMedia},
		{"65535² PNG header", "image/png", craftPNG(65535, 65535, 0), 413, codeImageTooLarge},
		{"28-byte WebP bomb", "image/webp", webpBomb(), 413, codeImageTooLarge},
		{"8000² PNG zero-IDAT bomb", "image/png", craftPNG(8000, 8000, 1<<20), 413, codeImageTooLarge},
		{"huge IDAT in a 10² PNG", "image/png", craftPNG(10, 10, 64<<20), 422, codeInvalidImage},
		{"65500² JPEG SOF", "image/jpeg", jpegSOF(65500, 65500), 413, codeImageTooLarge},
		{"100000×1 BMP header", "image/bmp", bmpHeader(100000, 1), 413, codeImageTooLarge},
		{"65535² GIF screen", "image/gif", gifScreen(65535, 65535), 413, codeImageTooLarge},
		{"zero-width PNG", "image/png", craftPNG(0, 10, 0), 422, codeInvalidImage},
		{"PNG magic then garbage", "image/png", append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0xAB}, 100)...), 422, codeInvalidImage},
		{"body over the limit", "image/jpeg", append(append([]byte{}, good...), make([]byte, 5<<20)...), 413, codePayloadTooLarge},
		{"CMYK JPEG", "image/jpeg", fixture(t, "video-001.cmyk.jpeg"), 200, ""},
		{"progressive JPEG", "image/jpeg", fixture(t, "video-001.progressive.jpeg"), 200, ""},
		{"truncated progressive JPEG", "image/jpeg", fixture(t, "video-001.progressive.truncated.jpeg"), 200, ""}, // Go renders the scans it has
		{"16-bit PNG", "image/png", png16(t), 200, ""},
		{"animated GIF", "image/gif", animatedGIF(t), 200, ""},
		{"PNG sent as image/jpeg", "image/jpeg", solidPNG(t, 9, 9, red), 200, ""},
		{"10 000-part multipart", ctMany, many, 413, codeTooManyParts},
		{"multipart without image part", ctNoImage, noImage.Bytes(), 400, codeBadRequest},
		{"multipart without boundary", "multipart/form-data", good, 400, codeBadRequest},
		{"multipart with a broken body", "multipart/form-data; boundary=XX", []byte("--XX\r\nno headers end"), 400, codeBadRequest},
		{"empty image part", ctEmptyPart, emptyPart.Bytes(), 400, codeBadRequest},
		{"bad content type syntax", "image/jpeg; ;;=", good, 415, codeUnsupportedMedia},
	}
}

// TestHostileInputs sends every hostile upload and checks the status, the JSON error
// code, that no decoder panicked, and that the server still answers afterwards.
func TestHostileInputs(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slogJSON(writerFunc(func(b []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(b) }))
	_, ts := newTestServer(t, Config{MaxBodyBytes: 4 << 20, Logger: log}, nil)
	cases := hostileCases(t)
	if len(cases) < 20 {
		t.Fatalf("only %d hostile cases", len(cases))
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			resp := post(t, ts.URL+"/v1/tag", c.ct, bytes.NewReader(c.body))
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if c.code != "" && !bytes.Contains(body, []byte(`"code":"`+c.code+`"`)) {
				t.Errorf("body %s lacks code %q", body, c.code)
			}
			resp, err := http.Get(ts.URL + "/healthz")
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("server unhealthy after %s: %v", c.name, err)
			}
			resp.Body.Close()
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logs.String(), "panicked") {
		t.Errorf("a handler or decoder panicked:\n%s", logs.String())
	}
}

// TestSlowClient trickles a body slower than the read timeout allows: the server
// gives up on it (408 or a closed connection) instead of holding a slot forever.
func TestSlowClient(t *testing.T) {
	s, err := New(Config{Logger: quietLogger(t)}, &fakeEngine{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(s.Handler())
	ts.Config.ReadTimeout = 300 * time.Millisecond
	ts.Start()
	defer ts.Close()
	defer s.batch.close()
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/tag HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n\xff\xd8")
	start := time.Now()
	go func() {
		for i := 0; i < 20; i++ {
			time.Sleep(100 * time.Millisecond)
			if _, err := conn.Write([]byte{0}); err != nil {
				return
			}
		}
	}()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	took := time.Since(start)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("status %d, want 408", resp.StatusCode)
		}
	}
	if took > 2*time.Second {
		t.Errorf("slow client held for %v", took)
	}
	if d := s.batch.depth.Load(); d != 0 {
		t.Errorf("queue slots leaked: depth %d", d)
	}
}

var _ = color.White
