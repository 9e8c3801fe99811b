package jpeg

import (
	"bytes"
	"image"
	stdjpeg "image/jpeg"
	"testing"
	"time"
)

// dhtFlood is a 16×16 grey JPEG preceded by about size bytes of DHT segments that
// redefine table th of class tc again and again (one 1-bit code each), the last
// definition being the image's own.
func dhtFlood(t testing.TB, tc byte, size int) []byte {
	var buf bytes.Buffer
	if err := stdjpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 16, 16)), nil); err != nil {
		t.Fatal(err)
	}
	table := append([]byte{tc << 4, 1}, make([]byte, 16)...) // 16 counts, then the symbol
	per := bytes.Repeat(table, 65533/len(table))
	out := []byte{0xFF, 0xD8}
	for len(out) < size {
		out = append(out, 0xFF, 0xC4, byte((len(per)+2)>>8), byte(len(per)+2))
		out = append(out, per...)
	}
	return append(out, buf.Bytes()[2:]...)
}

// TestDHTFloodCheap: a file of 32 MB of Huffman table redefinitions, which built
// the decoding tables of each one (a second of CPU, eight for a 256 MB input that
// the default byte cap allows), decodes at the cost of reading them: only the
// definition a scan uses is built, and the image is the same as image/jpeg's.
func TestDHTFloodCheap(t *testing.T) {
	for _, tc := range []byte{0, 1} {
		data := dhtFlood(t, tc, 32<<20)
		start := cpuTime()
		img, err := Decode(data, Options{})
		if cpu := cpuTime() - start; cpu > 400*time.Millisecond {
			t.Errorf("class %d: %d MB of DHT segments took %v of CPU", tc, len(data)>>20, cpu)
		}
		if err != nil {
			t.Fatalf("class %d: %v", tc, err)
		}
		want, err := stdjpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(img.(*image.Gray).Pix, want.(*image.Gray).Pix) {
			t.Errorf("class %d: pixels differ from image/jpeg's", tc)
		}
	}
}
