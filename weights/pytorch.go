package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/big"
	"path"
	"strings"
	"unsafe"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
	"gorgonia.org/tensor"
)

// torch.save files come in two formats (torch/serialization.py):
//   - zip (PyTorch ≥ 1.6 default): ARCHIVE/data.pkl is the pickled object, whose
//     persistent ids ("storage", StorageClass, key, location, numel) name raw
//     little-endian storages at ARCHIVE/data/KEY;
//   - legacy: pickles of the magic number, protocol version and system info, the
//     object, the list of storage keys, then for each key an 8-byte element count and
//     the raw data.
// gopickle v0.3.0 unpickles, but its loaders trust the sizes in the file and panic on
// some inputs, so the two containers are read here with every size checked against
// the bytes actually present; gopickle's pickle machine and storage types do the rest.

// maxPickleFile bounds the legacy-format files read into memory (4 GiB).
const maxPickleFile = 4 << 30

// maxPickleData bounds a zip archive's data.pkl: the pickle holds names, shapes and
// storage keys, not tensor data (a ResNet50 state_dict's is tens of KB).
const maxPickleData = 64 << 20

// legacyMagic is torch.save's legacy magic number (torch/serialization.py, MAGIC_NUMBER).
const legacyMagic = "1950a86a20f9469cfc6c"

// ReadPyTorch reads a torch.save file (zip or legacy format) holding a state_dict,
// a checkpoint dict with the state_dict under "state_dict", "model_state_dict" or
// "model", a dict of tensors, or a bare tensor (returned under the name ""). Tensors
// are materialised in C order whatever their strides; float16, bfloat16, float32
// and float64 all become float32; integer and bool tensors keep their Go type
// (int64, uint8, bool …). Non-tensor entries of a dict are skipped.
func ReadPyTorch(p string) (ts map[string]*tensor.Dense, err error) {
	defer func() {
		if r := recover(); r != nil {
			ts, err = nil, fmt.Errorf("%s: malformed PyTorch file: %v", p, r)
		}
	}()
	obj, budget, err := loadTorchSave(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	ts, err = tensorsOf(obj, budget)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return ts, nil
}

// loadTorchSave unpickles a torch.save file of either format. Its storages and
// the tensors later made of them share one memory budget (see ImportBudget), which
// it returns.
func loadTorchSave(p string) (any, *memBudget, error) {
	f, st, err := openRegular(p)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	budget := newBudget(st.Size())
	var magic [4]byte
	if n, _ := io.ReadFull(f, magic[:]); n == 4 && string(magic[:]) == "PK\x03\x04" {
		zr, err := zip.NewReader(f, st.Size())
		if err != nil {
			return nil, nil, fmt.Errorf("reading zip: %w", err)
		}
		obj, err := loadTorchZip(zr, budget)
		return obj, budget, err
	}
	if st.Size() > maxPickleFile {
		return nil, nil, fmt.Errorf("legacy PyTorch file of %d bytes exceeds the %d-byte limit", st.Size(), int64(maxPickleFile))
	}
	b, err := io.ReadAll(io.LimitReader(io.NewSectionReader(f, 0, st.Size()), st.Size()))
	if err != nil {
		return nil, nil, err
	}
	obj, err := loadTorchLegacy(b, budget)
	return obj, budget, err
}

// findTorchClass resolves the classes a torch.save pickle refers to.
func findTorchClass(module, name string) (any, error) {
	switch module + "." + name {
	case "torch._utils._rebuild_tensor_v2":
		return &pytorch.RebuildTensorV2{}, nil
	case "torch._utils._rebuild_parameter":
		return rebuildParameter{}, nil
	case "torch.FloatStorage":
		return &pytorch.FloatStorageClass{}, nil
	case "torch.HalfStorage":
		return halfStorageClass{}, nil
	case "torch.DoubleStorage":
		return &pytorch.DoubleStorageClass{}, nil
	case "torch.BFloat16Storage":
		return &pytorch.BFloat16StorageClass{}, nil
	case "torch.CharStorage":
		return &pytorch.CharStorageClass{}, nil
	case "torch.ShortStorage":
		return &pytorch.ShortStorageClass{}, nil
	case "torch.IntStorage":
		return &pytorch.IntStorageClass{}, nil
	case "torch.LongStorage":
		return &pytorch.LongStorageClass{}, nil
	case "torch.ByteStorage":
		return &pytorch.ByteStorageClass{}, nil
	case "torch.BoolStorage":
		return &pytorch.BoolStorageClass{}, nil
	case "torch.nn.backends.thnn._get_thnn_function_backend":
		return thnnBackend{}, nil
	}
	// Anything else (numpy scalars, argparse.Namespace in training checkpoints …)
	// becomes an opaque object; it is skipped unless a tensor is expected there.
	return types.NewGenericClass(module, name), nil
}

// rebuildParameter is torch._utils._rebuild_parameter(data, requires_grad,
// backward_hooks): an nn.Parameter is its tensor.
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("_rebuild_parameter: no arguments")
	}
	return args[0], nil
}

// thnnBackend stands in for a historical class some old pickles reference.
type thnnBackend struct{}

func (thnnBackend) Call(...any) (any, error) { return nil, nil }

// storageElemSize is the element size of each gopickle storage class.
func storageElemSize(c pytorch.StorageClassInterface) (int, error) {
	switch c.(type) {
	case *pytorch.FloatStorageClass, *pytorch.IntStorageClass:
		return 4, nil
	case *pytorch.DoubleStorageClass, *pytorch.LongStorageClass:
		return 8, nil
	case halfStorageClass, *pytorch.BFloat16StorageClass, *pytorch.ShortStorageClass:
		return 2, nil
	case *pytorch.CharStorageClass, *pytorch.ByteStorageClass, *pytorch.BoolStorageClass:
		return 1, nil
	}
	return 0, fmt.Errorf("unsupported storage type %T", c)
}

// persistentID is the parsed ("storage", class, key, location, numel) tuple.
type persistentID struct {
	class pytorch.StorageClassInterface
	key   string
	numel int
	view  any // legacy format only: view metadata, must be None
}

func parsePersistentID(id any, legacy bool) (persistentID, error) {
	t, ok := id.(*types.Tuple)
	if !ok || t.Len() < 5 {
		return persistentID{}, fmt.Errorf("persistent id %v is not a storage tuple", id)
	}
	if s, _ := t.Get(0).(string); s != "storage" {
		return persistentID{}, fmt.Errorf("persistent id of kind %v, want storage", t.Get(0))
	}
	var pid persistentID
	var ok1, ok2, ok3 bool
	pid.class, ok1 = t.Get(1).(pytorch.StorageClassInterface)
	pid.key, ok2 = t.Get(2).(string)
	pid.numel, ok3 = t.Get(4).(int)
	if !ok1 || !ok2 || !ok3 || pid.numel < 0 {
		return persistentID{}, fmt.Errorf("malformed storage tuple %v", id)
	}
	if legacy && t.Len() >= 6 {
		pid.view = t.Get(5)
	}
	return pid, nil
}

// loadTorchZip unpickles ARCHIVE/data.pkl, loading storages from ARCHIVE/data/.
// A record's declared size is checked against the budget before anything is
// allocated, and no more than that many bytes are ever inflated from it.
func loadTorchZip(zr *zip.Reader, budget *memBudget) (any, error) {
	records := map[string]*zip.File{}
	var pkl *zip.File
	for _, f := range zr.File {
		records[f.Name] = f
		if path.Base(f.Name) == "data.pkl" && strings.Count(f.Name, "/") == 1 {
			pkl = f
		}
		if path.Base(f.Name) == "constants.pkl" {
			return nil, fmt.Errorf("this is a TorchScript archive (torch.jit.save); save the model's state_dict() with torch.save instead")
		}
	}
	if pkl == nil {
		return nil, fmt.Errorf("zip file has no ARCHIVE/data.pkl: not a torch.save file")
	}
	prefix := path.Dir(pkl.Name)
	if pkl.UncompressedSize64 > maxPickleData {
		return nil, fmt.Errorf("data.pkl declares %d bytes, more than the %d MiB a state_dict's pickle needs", pkl.UncompressedSize64, maxPickleData>>20)
	}
	if err := budget.take(int64(pkl.UncompressedSize64), "data.pkl"); err != nil {
		return nil, err
	}
	rc, err := pkl.Open()
	if err != nil {
		return nil, err
	}
	pklBytes, err := io.ReadAll(io.LimitReader(rc, int64(pkl.UncompressedSize64)+1))
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("reading data.pkl: %w", err)
	}
	if uint64(len(pklBytes)) > pkl.UncompressedSize64 {
		return nil, fmt.Errorf("data.pkl inflates past its declared size")
	}
	if err := chargePickle(pklBytes, budget); err != nil {
		return nil, fmt.Errorf("data.pkl: %w", err)
	}
	loaded := map[string]pytorch.StorageInterface{}
	u := pickle.NewUnpickler(bytes.NewReader(pklBytes))
	u.FindClass = findTorchClass
	u.PersistentLoad = func(id any) (any, error) {
		pid, err := parsePersistentID(id, false)
		if err != nil {
			return nil, err
		}
		if s, ok := loaded[pid.key]; ok {
			return s, nil
		}
		rec := records[prefix+"/data/"+pid.key]
		if rec == nil {
			return nil, fmt.Errorf("storage %q is missing from the archive", pid.key)
		}
		es, err := storageElemSize(pid.class)
		if err != nil {
			return nil, err
		}
		if uint64(pid.numel) > rec.UncompressedSize64/uint64(es) {
			return nil, fmt.Errorf("storage %q claims %d elements but holds %d bytes", pid.key, pid.numel, rec.UncompressedSize64)
		}
		if err := budget.take(storageCost(pid.class, pid.numel, es), fmt.Sprintf("storage %q", pid.key)); err != nil {
			return nil, err
		}
		r, err := rec.Open()
		if err != nil {
			return nil, err
		}
		defer r.Close()
		s := pid.class.New(pid.numel, "cpu")
		if err := s.SetFromFileWithSize(fullReader{r}, pid.numel); err != nil {
			return nil, fmt.Errorf("storage %q: %w", pid.key, err)
		}
		loaded[pid.key] = s
		return s, nil
	}
	obj, err := u.Load()
	if err != nil {
		return nil, fmt.Errorf("unpickling data.pkl: %w", err)
	}
	return obj, nil
}

// pickleCost bounds what the unpickler may allocate per byte of pickle: one byte
// of opcode (an empty list, a MARK) can make an object of a few hundred bytes, so a
// pickle made of nothing else must fit the budget too.
const pickleCost = 512

// chargePickle checks the pickle at the start of b (see scanPickle) and charges
// what unpickling it may allocate.
func chargePickle(b []byte, budget *memBudget) error {
	n, err := pickleLen(b)
	if err != nil {
		return err
	}
	return budget.take(pickleCost*int64(n), fmt.Sprintf("a pickle of %d bytes", n))
}

// storageCost is what loading a storage of numel elements allocates: its data, plus
// the float32 copy a HalfStorage converts to.
func storageCost(c pytorch.StorageClassInterface, numel, elemSize int) int64 {
	n := int64(numel) * int64(elemSize)
	if _, ok := c.(halfStorageClass); ok {
		n += 4 * int64(numel)
	}
	return n
}

// halfStorageClass replaces gopickle's HalfStorage, whose conversion table gets
// float16 subnormals wrong; float16ToFloat32 handles every value.
type halfStorageClass struct{}

func (halfStorageClass) New(int, string) pytorch.StorageInterface { return &halfStorage{} }

// halfStorage is a torch.HalfStorage converted to float32.
type halfStorage struct{ data []float32 }

func (h *halfStorage) SetFromFile(r io.Reader) error {
	return fmt.Errorf("HalfStorage.SetFromFile: unsized reads are not used")
}

func (h *halfStorage) SetFromFileWithSize(r io.Reader, size int) error {
	raw := make([]byte, 2*size)
	if _, err := io.ReadFull(r, raw); err != nil {
		return err
	}
	h.data = make([]float32, size)
	for i := range h.data {
		h.data[i] = float16ToFloat32(binary.LittleEndian.Uint16(raw[2*i:]))
	}
	return nil
}

// fullReader makes every Read fill its buffer (or fail): gopickle's storage
// reader assumes full reads, which a decompressing zip reader does not promise.
type fullReader struct{ r io.Reader }

func (f fullReader) Read(p []byte) (int, error) { return io.ReadFull(f.r, p) }

// loadTorchLegacy reads the legacy (pre-zip) torch.save format from memory.
func loadTorchLegacy(b []byte, budget *memBudget) (any, error) {
	r := bytes.NewReader(b)
	scan := func() error { return chargePickle(b[len(b)-r.Len():], budget) }
	unpickle := func() (any, error) {
		if err := scan(); err != nil {
			return nil, err
		}
		u := pickle.NewUnpickler(r)
		return u.Load()
	}
	magic, err := unpickle()
	if n, ok := magic.(*big.Int); err != nil || !ok || n.Text(16) != legacyMagic {
		if err == nil {
			err = fmt.Errorf("magic number %v", magic)
		}
		return nil, fmt.Errorf("not a torch.save file (neither zip nor legacy format): %v", err)
	}
	if v, err := unpickle(); err != nil || v != 1001 {
		return nil, fmt.Errorf("unsupported legacy protocol version %v (%v)", v, err)
	}
	if _, err := unpickle(); err != nil { // system info
		return nil, fmt.Errorf("reading system info: %w", err)
	}
	storages := map[string]pytorch.StorageInterface{}
	classes := map[string]pytorch.StorageClassInterface{}
	if err := scan(); err != nil {
		return nil, err
	}
	u := pickle.NewUnpickler(r)
	u.FindClass = findTorchClass
	u.PersistentLoad = func(id any) (any, error) {
		if t, ok := id.(*types.Tuple); ok && t.Len() >= 2 && t.Get(0) == "module" {
			return t.Get(1), nil // a pickled module's source: irrelevant here
		}
		pid, err := parsePersistentID(id, true)
		if err != nil {
			return nil, err
		}
		if pid.view != nil {
			return nil, fmt.Errorf("storage views (legacy format from PyTorch < 0.4) are not supported")
		}
		if s, ok := storages[pid.key]; ok {
			return s, nil
		}
		s := pid.class.New(pid.numel, "cpu")
		storages[pid.key], classes[pid.key] = s, pid.class
		return s, nil
	}
	obj, err := u.Load()
	if err != nil {
		return nil, fmt.Errorf("unpickling: %w", err)
	}
	keysObj, err := unpickle()
	if err != nil {
		return nil, fmt.Errorf("reading storage keys: %w", err)
	}
	keys, ok := keysObj.(*types.List)
	if !ok {
		return nil, fmt.Errorf("storage keys are %T, want a list", keysObj)
	}
	for _, k := range *keys {
		key, _ := k.(string)
		s, ok := storages[key]
		if !ok {
			return nil, fmt.Errorf("storage key %v was never referenced", k)
		}
		var nb [8]byte
		if _, err := io.ReadFull(r, nb[:]); err != nil {
			return nil, fmt.Errorf("storage %q: %w", key, err)
		}
		n := binary.LittleEndian.Uint64(nb[:])
		es, err := storageElemSize(classes[key])
		if err != nil {
			return nil, err
		}
		if n > uint64(r.Len())/uint64(es) {
			return nil, fmt.Errorf("storage %q claims %d elements, only %d bytes remain", key, n, r.Len())
		}
		if err := budget.take(storageCost(classes[key], int(n), es), fmt.Sprintf("storage %q", key)); err != nil {
			return nil, err
		}
		if err := s.SetFromFileWithSize(r, int(n)); err != nil {
			return nil, fmt.Errorf("storage %q: %w", key, err)
		}
	}
	return obj, nil
}

// stateDictKeys are the checkpoint keys under which training scripts store the
// model's state_dict, in order of preference.
var stateDictKeys = []string{"state_dict", "model_state_dict", "model"}

// tensorsOf finds the state_dict in an unpickled object and converts its tensors.
func tensorsOf(obj any, budget *memBudget) (map[string]*tensor.Dense, error) {
	if t, ok := obj.(*pytorch.Tensor); ok {
		d, err := toDense(t, budget)
		if err != nil {
			return nil, err
		}
		return map[string]*tensor.Dense{"": d}, nil
	}
	entries, ok := dictEntries(obj)
	if !ok {
		return nil, fmt.Errorf("top-level object is %T, want a state_dict (dict of tensors) or a checkpoint dict; "+
			"for a pickled module (torch.save(model)) save model.state_dict() instead", obj)
	}
	for _, k := range stateDictKeys {
		for _, e := range entries {
			if e.Key == k {
				if inner, ok := dictEntries(e.Value); ok {
					entries = inner
					goto found
				}
			}
		}
	}
found:
	out := map[string]*tensor.Dense{}
	for _, e := range entries {
		t, ok := e.Value.(*pytorch.Tensor)
		if !ok {
			continue
		}
		name, ok := e.Key.(string)
		if !ok {
			return nil, fmt.Errorf("tensor under non-string key %v", e.Key)
		}
		d, err := toDense(t, budget)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		out[name] = d
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no tensors found (looked at the top-level dict and its %s entries)", strings.Join(stateDictKeys, ", "))
	}
	return out, nil
}

// dictEntries lists the entries of a pickled dict or OrderedDict in order.
func dictEntries(obj any) ([]types.DictEntry, bool) {
	switch d := obj.(type) {
	case *types.Dict:
		return *d, true
	case *types.OrderedDict:
		var out []types.DictEntry
		for el := d.List.Front(); el != nil; el = el.Next() {
			e := el.Value.(*types.OrderedDictEntry)
			out = append(out, types.DictEntry{Key: e.Key, Value: e.Value})
		}
		return out, true
	}
	return nil, false
}

// toDense materialises a (possibly strided) torch tensor in C order, charging
// what it allocates to budget.
func toDense(t *pytorch.Tensor, b *memBudget) (*tensor.Dense, error) {
	switch s := t.Source.(type) {
	case *pytorch.FloatStorage:
		return gather(s.Data, t, b)
	case *halfStorage:
		return gather(s.data, t, b)
	case *pytorch.BFloat16Storage:
		return gather(s.Data, t, b)
	case *pytorch.DoubleStorage:
		// Only the view's elements are converted, so a small view of a big float64
		// storage costs little and many views of one storage are not converted whole
		// each time.
		return gatherConvert(s.Data, t, b, func(x float64) float32 { return float32(x) })
	case *pytorch.CharStorage:
		return gather(s.Data, t, b)
	case *pytorch.ShortStorage:
		return gather(s.Data, t, b)
	case *pytorch.IntStorage:
		return gather(s.Data, t, b)
	case *pytorch.LongStorage:
		return gather(s.Data, t, b)
	case *pytorch.ByteStorage:
		return gather(s.Data, t, b)
	case *pytorch.BoolStorage:
		return gather(s.Data, t, b)
	}
	return nil, fmt.Errorf("unsupported storage %T", t.Source)
}

// gather copies the elements of a strided view of data into a new C-order Dense,
// checking that every index stays inside the storage and that the copy fits the
// budget before allocating it.
func gather[T any](data []T, t *pytorch.Tensor, b *memBudget) (*tensor.Dense, error) {
	return gatherConvert(data, t, b, func(x T) T { return x })
}

// gatherConvert is gather with an element conversion from storage type S to T.
func gatherConvert[S, T any](data []S, t *pytorch.Tensor, b *memBudget, conv func(S) T) (*tensor.Dense, error) {
	size, stride := t.Size, t.Stride
	if len(size) != len(stride) {
		return nil, fmt.Errorf("size %v and stride %v differ in rank", size, stride)
	}
	if len(size) > 16 {
		return nil, fmt.Errorf("%d dimensions is too many", len(size))
	}
	n, last := 1, t.StorageOffset
	for i, d := range size {
		if d < 0 || stride[i] < 0 {
			return nil, fmt.Errorf("negative size or stride (%v, %v)", size, stride)
		}
		if d == 0 {
			return nil, fmt.Errorf("tensor has no elements (shape %v); empty tensors are not supported", size)
		}
		if n > math.MaxInt32/d || stride[i] > math.MaxInt32 {
			return nil, fmt.Errorf("shape %v too large", size)
		}
		n *= d
		last += (d - 1) * stride[i]
	}
	// Zero strides (expanded views) may repeat elements, but not without bound.
	if n > max(len(data), 1<<24) {
		return nil, fmt.Errorf("view of %d elements over a storage of %d", n, len(data))
	}
	if t.StorageOffset < 0 || last >= len(data) {
		return nil, fmt.Errorf("view (offset %d, size %v, stride %v) reaches past its storage of %d elements", t.StorageOffset, size, stride, len(data))
	}
	if err := b.take(int64(n)*int64(unsafe.Sizeof(*new(T))), fmt.Sprintf("a view of %d elements", n)); err != nil {
		return nil, err
	}
	out := make([]T, n)
	idx := make([]int, len(size))
	pos := t.StorageOffset
	for i := range out {
		out[i] = conv(data[pos])
		// Advance the multi-index like an odometer, last dimension fastest.
		for k := len(size) - 1; k >= 0; k-- {
			idx[k]++
			pos += stride[k]
			if idx[k] < size[k] {
				break
			}
			pos -= idx[k] * stride[k]
			idx[k] = 0
		}
	}
	return tensor.New(tensor.WithShape(size...), tensor.WithBacking(out)), nil
}
