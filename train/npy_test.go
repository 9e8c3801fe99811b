package train

import (
	"bytes"
	"encoding/binary"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestNPYRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.npy")
	data := []float32{1, -2.5, 3, 4, 5, 6}
	if err := SaveNPY(p, data, 2, 3); err != nil {
		t.Fatal(err)
	}
	got, shape, err := ReadNPY(p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, data) || !slices.Equal(shape, []int{2, 3}) {
		t.Fatalf("read %v %v", got, shape)
	}
	// numpy itself, when the Debian python3-numpy is installed
	if _, err := exec.LookPath("/usr/bin/python3"); err == nil {
		out, err := exec.Command("/usr/bin/python3", "-c", "import numpy as n,sys; a=n.load(sys.argv[1]); print(a.shape, a.dtype, a.sum())", p).CombinedOutput()
		if err == nil && strings.TrimSpace(string(out)) != "(2, 3) float32 16.5" {
			t.Errorf("numpy read %q", out)
		}
	}
	if err := SaveNPY(p, data, 4); err == nil {
		t.Error("want an error for a wrong shape")
	}
}

// TestDecodeNPYHostile: shapes that overflow or do not match the data, headers
// that lie, and non-finite values are errors, decided before allocating.
func TestDecodeNPYHostile(t *testing.T) {
	var good bytes.Buffer
	if err := WriteNPY(&good, []float32{1, 2, 3, 4}, 2, 2); err != nil {
		t.Fatal(err)
	}
	withShape := func(shape string) []byte {
		return bytes.Replace(good.Bytes(), []byte("(2, 2)"), []byte(shape), 1)
	}
	nan := bytes.Clone(good.Bytes())
	binary.LittleEndian.PutUint32(nan[len(nan)-8:], math.Float32bits(float32(math.NaN())))
	for name, b := range map[string][]byte{
		"overflowing shape": withShape("(4611686018427387904, 4)"), // 2^62·4 wraps to 0 in int64
		"huge shape":        withShape("(1000000, 1000000)"),
		"short data":        withShape("(2, 3)"),
		"negative":          withShape("(-2, -2)"),
		"NaN value":         nan,
		"truncated header":  good.Bytes()[:20],
	} {
		if _, _, err := DecodeNPY(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	var empty bytes.Buffer
	WriteNPY(&empty, nil, 0, 2048)
	if x, shape, err := DecodeNPY(empty.Bytes()); err != nil || len(x) != 0 || len(shape) != 2 {
		t.Errorf("empty array: %v %v %v", x, shape, err)
	}
}

func FuzzDecodeNPY(f *testing.F) {
	var b bytes.Buffer
	WriteNPY(&b, []float32{1, -2.5, 3, 4, 5, 6}, 2, 3)
	f.Add(b.Bytes())
	b.Reset()
	WriteNPY(&b, []float32{7}, 1)
	f.Add(b.Bytes())
	f.Add([]byte("\x93NUMPY\x01\x00\x10\x00{'shape': (9,)}"))
	f.Fuzz(func(t *testing.T, in []byte) {
		x, shape, err := DecodeNPY(in)
		if err != nil {
			return
		}
		n := 1
		for _, d := range shape {
			n *= d
		}
		if n != len(x) || 4*len(x) > len(in) {
			t.Fatalf("shape %v for %d values from %d bytes", shape, len(x), len(in))
		}
	})
}
