package train

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"regexp"
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

// ReadNPY reads a little-endian float32 C-order .npy file (what WriteNPY writes).
func ReadNPY(path string) ([]float32, []int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" || b[6] != 1 {
		return nil, nil, fmt.Errorf("train: %s: not a version 1 .npy file", path)
	}
	hl := int(binary.LittleEndian.Uint16(b[8:10]))
	if 10+hl > len(b) {
		return nil, nil, fmt.Errorf("train: %s: truncated .npy header", path)
	}
	h := string(b[10 : 10+hl])
	if !strings.Contains(h, "'<f4'") || strings.Contains(h, "'fortran_order': True") {
		return nil, nil, fmt.Errorf("train: %s: want little-endian float32 in C order, header %q", path, strings.TrimSpace(h))
	}
	m := npyShape.FindStringSubmatch(h)
	if m == nil {
		return nil, nil, fmt.Errorf("train: %s: no shape in .npy header", path)
	}
	var shape []int
	n := 1
	for _, f := range strings.Split(m[1], ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		d, err := strconv.Atoi(f)
		if err != nil || d < 0 {
			return nil, nil, fmt.Errorf("train: %s: bad shape %q", path, m[1])
		}
		shape = append(shape, d)
		n *= d
	}
	body := b[10+hl:]
	if len(body) != 4*n {
		return nil, nil, fmt.Errorf("train: %s: %d data bytes for shape %v (want %d)", path, len(body), shape, 4*n)
	}
	out := make([]float32, n)
	_ = binary.Read(bytes.NewReader(body), binary.LittleEndian, out)
	return out, shape, nil
}
