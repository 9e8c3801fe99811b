package weights

import "fmt"

// ImportBudget is the least memory, in bytes, an import may allocate for tensor
// data: storages, converted copies and materialised views together. The budget of
// one import is the larger of ImportBudget and importFileFactor times the source
// file's size, and every allocation is charged to it before it is made, so a small
// hostile file (zero-stride views repeated many times, a deflate bomb, a manifest
// declaring huge weights) is refused instead of exhausting memory. The default
// holds a float64 ResNet50 state_dict (about 205 MB) with its float32 copies.
// `autotag weights import --import-budget` sets it.
var ImportBudget int64 = 512 << 20

// importFileFactor scales the budget for source files larger than ImportBudget
// allows for: a stored float32 checkpoint needs about twice its size (storages plus
// the C-order tensors), a float64 one about three times.
const importFileFactor = 4

// memBudget counts the bytes an import may still allocate.
type memBudget struct{ left, limit int64 }

// newBudget is the budget of an import from a source of fileSize bytes.
func newBudget(fileSize int64) *memBudget {
	limit := ImportBudget
	if fileSize > 0 && fileSize <= (1<<62)/importFileFactor && importFileFactor*fileSize > limit {
		limit = importFileFactor * fileSize
	}
	return &memBudget{left: limit, limit: limit}
}

// take charges n bytes for what, or fails without charging when they do not fit.
func (b *memBudget) take(n int64, what string) error {
	if n < 0 || n > b.left {
		return fmt.Errorf("%s needs %d MiB more, over the import budget of %d MiB (the larger of --import-budget and %d× the file's size)",
			what, (n+(1<<20)-1)>>20, b.limit>>20, importFileFactor)
	}
	b.left -= n
	return nil
}
