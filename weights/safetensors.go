package weights

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	"gorgonia.org/tensor"
)

// The safetensors format (github.com/huggingface/safetensors, README "Format"):
// an 8-byte little-endian header length N, N bytes of JSON mapping tensor names to
// {"dtype","shape","data_offsets":[begin,end]} plus an optional "__metadata__"
// string→string map, then the data buffer. Offsets are relative to the buffer; the
// tensors must tile it exactly, without gaps or overlaps (the reference reader's
// rule, which we enforce too). We parse it by hand so that every offset, shape and
// size is checked against the real file length before anything is allocated.

// maxHeaderLen bounds the JSON header (the reference implementation's limit).
const maxHeaderLen = 100 << 20

// ErrNotSafetensors marks input that is not a well-formed safetensors file.
var ErrNotSafetensors = errors.New("not a valid safetensors file")

// stTensor is one entry of a parsed safetensors header.
type stTensor struct {
	Name       string
	DType      string
	Shape      []int
	Begin, End int64 // byte range inside the data buffer
}

// stHeader is a parsed, validated safetensors header.
type stHeader struct {
	Meta      map[string]string
	Tensors   []stTensor // sorted by Begin
	DataStart int64      // file offset of the data buffer (8 + header length)
}

// headerEntry is the JSON form of one tensor in the header.
type headerEntry struct {
	DType       string   `json:"dtype"`
	Shape       []uint64 `json:"shape"`
	DataOffsets []uint64 `json:"data_offsets"`
}

// readSafetensorsHeader reads and validates the header of a safetensors file of
// the given total size.
func readSafetensorsHeader(r io.ReaderAt, size int64) (*stHeader, error) {
	if size < 8 {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the 8-byte header length", ErrNotSafetensors, size)
	}
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("reading header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > maxHeaderLen {
		return nil, fmt.Errorf("%w: header length %d exceeds the %d-byte limit", ErrNotSafetensors, n, maxHeaderLen)
	}
	if n > uint64(size-8) {
		return nil, fmt.Errorf("%w: header length %d exceeds the file (%d bytes)", ErrNotSafetensors, n, size)
	}
	hdr := make([]byte, n)
	if _, err := r.ReadAt(hdr, 8); err != nil {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	h, err := parseSafetensorsHeader(hdr, size-8-int64(n))
	if err != nil {
		return nil, err
	}
	h.DataStart = 8 + int64(n)
	return h, nil
}

// parseSafetensorsHeader decodes the JSON header and checks it against a data
// buffer of dataLen bytes.
func parseSafetensorsHeader(hdr []byte, dataLen int64) (*stHeader, error) {
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("%w: header is not a JSON object", ErrNotSafetensors)
	}
	h := &stHeader{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: header JSON: %v", ErrNotSafetensors, err)
		}
		name, _ := tok.(string)
		if seen[name] {
			return nil, fmt.Errorf("%w: duplicate header key %q", ErrNotSafetensors, name)
		}
		seen[name] = true
		if name == "__metadata__" {
			if err := dec.Decode(&h.Meta); err != nil {
				return nil, fmt.Errorf("%w: __metadata__ must map strings to strings: %v", ErrNotSafetensors, err)
			}
			continue
		}
		var e headerEntry
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("%w: tensor %q: %v", ErrNotSafetensors, name, err)
		}
		t, err := checkEntry(name, e)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotSafetensors, err)
		}
		h.Tensors = append(h.Tensors, t)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%w: header JSON: %v", ErrNotSafetensors, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the header object", ErrNotSafetensors)
	}
	if rest, _ := io.ReadAll(dec.Buffered()); len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: trailing data after the header object", ErrNotSafetensors)
	}
	sort.Slice(h.Tensors, func(i, j int) bool {
		if h.Tensors[i].Begin != h.Tensors[j].Begin {
			return h.Tensors[i].Begin < h.Tensors[j].Begin
		}
		return h.Tensors[i].End < h.Tensors[j].End
	})
	var pos int64
	for _, t := range h.Tensors {
		if t.Begin != pos {
			return nil, fmt.Errorf("%w: tensor %q starts at %d, expected %d (gap or overlap)", ErrNotSafetensors, t.Name, t.Begin, pos)
		}
		pos = t.End
	}
	if pos != dataLen {
		return nil, fmt.Errorf("%w: tensors cover %d bytes of a %d-byte data buffer", ErrNotSafetensors, pos, dataLen)
	}
	return h, nil
}

// checkEntry validates one header entry: known dtype, shape and byte size without
// overflow, offsets consistent with them.
func checkEntry(name string, e headerEntry) (stTensor, error) {
	size, ok := dtypeSize[e.DType]
	if !ok {
		return stTensor{}, fmt.Errorf("tensor %q: unknown dtype %q", name, e.DType)
	}
	if len(e.DataOffsets) != 2 {
		return stTensor{}, fmt.Errorf("tensor %q: data_offsets must have 2 entries, has %d", name, len(e.DataOffsets))
	}
	if len(e.Shape) > 16 {
		return stTensor{}, fmt.Errorf("tensor %q: %d dimensions is too many", name, len(e.Shape))
	}
	nbytes := uint64(size)
	shape := make([]int, len(e.Shape))
	for i, d := range e.Shape {
		if d != 0 && nbytes > math.MaxInt64/d {
			return stTensor{}, fmt.Errorf("tensor %q: shape %v overflows", name, e.Shape)
		}
		nbytes *= d
		shape[i] = int(d)
	}
	b, end := e.DataOffsets[0], e.DataOffsets[1]
	if b > end || end > math.MaxInt64 || end-b != nbytes {
		return stTensor{}, fmt.Errorf("tensor %q: data_offsets [%d,%d] do not match %s%v (%d bytes)", name, b, end, e.DType, e.Shape, nbytes)
	}
	return stTensor{Name: name, DType: e.DType, Shape: shape, Begin: int64(b), End: int64(end)}, nil
}

// openSafetensors opens path and parses its header.
func openSafetensors(path string) (*os.File, *stHeader, error) {
	f, st, err := openRegular(path)
	if err != nil {
		return nil, nil, err
	}
	h, err := readSafetensorsHeader(f, st.Size())
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, h, nil
}

// ReadSafetensors reads any safetensors file (as written by Hugging Face's
// safetensors library, timm, candle or autotag) into Dense tensors plus its
// __metadata__. Floating-point dtypes (F8, F16, BF16, F32, F64) become float32;
// integer and boolean tensors keep their natural Go type.
func ReadSafetensors(path string) (map[string]*tensor.Dense, map[string]string, error) {
	f, h, err := openSafetensors(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	ts, err := readAllTensors(f, h)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return ts, h.Meta, nil
}

// readAllTensors reads every tensor described by h from r.
func readAllTensors(r io.ReaderAt, h *stHeader) (map[string]*tensor.Dense, error) {
	out := make(map[string]*tensor.Dense, len(h.Tensors))
	for _, t := range h.Tensors {
		var d *tensor.Dense
		var err error
		if t.DType == "F32" && nativeLittleEndian {
			d, err = readF32Direct(r, h.DataStart+t.Begin, t.Shape)
		} else {
			raw := make([]byte, t.End-t.Begin)
			if _, err = r.ReadAt(raw, h.DataStart+t.Begin); err == nil {
				d, err = decodeTensor(t.DType, t.Shape, raw)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		out[t.Name] = d
	}
	return out, nil
}

// nativeLittleEndian reports whether float32 memory is little-endian here, so F32
// data can be read straight into a []float32.
var nativeLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// readF32Direct reads a little-endian float32 tensor straight into its backing
// slice (no intermediate byte buffer).
func readF32Direct(r io.ReaderAt, off int64, shape []int) (*tensor.Dense, error) {
	n := 1
	for _, d := range shape {
		n *= d
	}
	if n == 0 {
		return nil, fmt.Errorf("tensor has no elements (shape %v); empty tensors are not supported", shape)
	}
	v := make([]float32, n)
	if _, err := r.ReadAt(unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*n), off); err != nil {
		return nil, err
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v)), nil
}

// writeSafetensors writes float32 tensors (in name order) and metadata to w.
func writeSafetensors(w io.Writer, tensors map[string]*tensor.Dense, meta map[string]string) error {
	names := make([]string, 0, len(tensors))
	for name := range tensors {
		if name == "__metadata__" || name == "" {
			return fmt.Errorf("invalid tensor name %q", name)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	var hdr bytes.Buffer
	hdr.WriteByte('{')
	if len(meta) > 0 {
		mb, err := json.Marshal(meta) // encoding/json sorts map keys
		if err != nil {
			return err
		}
		hdr.WriteString(`"__metadata__":`)
		hdr.Write(mb)
	}
	datas := make([][]float32, len(names))
	var off int64
	for i, name := range names {
		d := tensors[name]
		v, err := float32Data(d)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", name, err)
		}
		datas[i] = v
		if hdr.Len() > 1 {
			hdr.WriteByte(',')
		}
		nb, _ := json.Marshal(name)
		hdr.Write(nb)
		shape := d.Shape()
		dims := make([]string, len(shape))
		for j, s := range shape {
			dims[j] = strconv.Itoa(s)
		}
		end := off + 4*int64(len(v))
		fmt.Fprintf(&hdr, `:{"dtype":"F32","shape":[%s],"data_offsets":[%d,%d]}`, strings.Join(dims, ","), off, end)
		off = end
	}
	hdr.WriteByte('}')
	// Pad with spaces so the data buffer starts 8-byte aligned, as the reference
	// writer does.
	for hdr.Len()%8 != 0 {
		hdr.WriteByte(' ')
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(hdr.Len()))
	bw.Write(lenBuf[:])
	bw.Write(hdr.Bytes())
	buf := make([]byte, 0, 1<<16)
	for _, v := range datas {
		for len(v) > 0 {
			k := min(len(v), cap(buf)/4)
			buf = buf[:4*k]
			for i, x := range v[:k] {
				binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(x))
			}
			if _, err := bw.Write(buf); err != nil {
				return err
			}
			v = v[k:]
		}
	}
	return bw.Flush()
}
