package train

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/autotag/autotag/internal/atomicfile"
)

// NumPy .npy files (format version 1.0, little-endian float32, C order): the feature
// cache's on-disk unit and the exchange format with the PyTorch reference script
// (np.load reads them directly). See numpy/lib/format.py.

// WriteNPY writes data with the given shape to w.
func WriteNPY(w io.Writer, data []float32, shape ...int) error {
	n := 1
	dims := make([]string, len(shape))
	for i, d := range shape {
		n *= d
		dims[i] = strconv.Itoa(d)
	}
	if n != len(data) {
		return fmt.Errorf("train: npy: shape %v holds %d values, have %d", shape, n, len(data))
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", tuple)
	// magic (6) + version (2) + header length (2) + header + '\n', padded to 64 bytes
	total := 10 + len(header) + 1
	pad := (64 - total%64) % 64
	header += strings.Repeat(" ", pad) + "\n"
	var buf bytes.Buffer
	buf.WriteString("\x93NUMPY\x01\x00")
	_ = binary.Write(&buf, binary.LittleEndian, uint16(len(header)))
	buf.WriteString(header)
	if _, err := w.Write(buf.Bytes()); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	if err := binary.Write(bw, binary.LittleEndian, data); err != nil {
		return err
	}
	return bw.Flush()
}

// SaveNPY writes an .npy file atomically.
func SaveNPY(path string, data []float32, shape ...int) error {
	var buf bytes.Buffer
	if err := WriteNPY(&buf, data, shape...); err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, buf.Bytes())
}

var npyShape = regexp.MustCompile(`'shape':\s*\(([0-9,\s]*)\)`)

// maxNPYDims bounds the rank of an .npy array (numpy's own limit is 64).
const maxNPYDims = 32

// ReadNPY reads a little-endian float32 C-order .npy file (what WriteNPY writes).
// The file must be a regular file; see DecodeNPY for what is checked.
func ReadNPY(path string) ([]float32, []int, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("train: %s: not a regular file", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	x, shape, err := DecodeNPY(b)
	if err != nil {
		return nil, nil, fmt.Errorf("train: %s: %w", path, err)
	}
	return x, shape, nil
}

// DecodeNPY decodes a little-endian float32 C-order .npy file held in b. The shape
// must account for exactly the data bytes present (checked without overflow before
// anything is allocated), and every value must be finite: a NaN in cached features
// would silently poison the whole training run.
func DecodeNPY(b []byte) ([]float32, []int, error) {
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" || b[6] != 1 {
		return nil, nil, fmt.Errorf("not a version 1 .npy file")
	}
	hl := int(binary.LittleEndian.Uint16(b[8:10]))
	if 10+hl > len(b) {
		return nil, nil, fmt.Errorf("truncated .npy header")
	}
	h := string(b[10 : 10+hl])
	if !strings.Contains(h, "'<f4'") || strings.Contains(h, "'fortran_order': True") {
		return nil, nil, fmt.Errorf("want little-endian float32 in C order")
	}
	m := npyShape.FindStringSubmatch(h)
	if m == nil {
		return nil, nil, fmt.Errorf("no shape in .npy header")
	}
	body := b[10+hl:]
	limit := len(body) / 4
	var shape []int
	n := 1
	for _, f := range strings.Split(m[1], ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		d, err := strconv.Atoi(f)
		if err != nil || d < 0 || len(shape) >= maxNPYDims {
			return nil, nil, fmt.Errorf("bad shape in .npy header")
		}
		shape = append(shape, d)
	}
	if !slices.Contains(shape, 0) {
		for _, d := range shape {
			if n > limit/d {
				return nil, nil, fmt.Errorf("shape %v needs more than the %d data bytes present", shape, len(body))
			}
			n *= d
		}
	} else {
		n = 0
	}
	if len(body) != 4*n {
		return nil, nil, fmt.Errorf("%d data bytes for shape %v (want %d)", len(body), shape, 4*n)
	}
	out := make([]float32, n)
	for i := range out {
		v := math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
		if v-v != 0 {
			return nil, nil, fmt.Errorf("value %d is not finite", i)
		}
		out[i] = v
	}
	return out, shape, nil
}
