package jpeg

import (
	"context"
	"errors"
	"fmt"
)

// Work limits. A JPEG's size does not bound the work it asks for: a progressive
// scan can cover every block of the frame with a few end-of-band runs (a bit can
// skip thousands of blocks), and a refinement scan still walks every coefficient of
// its band in each of them, so a few hundred kilobytes of scans over a large frame
// cost minutes of CPU. Decode therefore counts, from each scan's header and before
// decoding it, the coefficients the scan will walk, and refuses a file whose scans
// ask for more than an honest encoder ever writes.
//
// The unit of work is one coefficient of one block in one scan: a scan costs, for
// every block it visits, the width of its spectral band (64 for a sequential scan)
// plus blockOverhead for the block itself and dcOverhead when the band holds the DC
// term. An honest progressive file (libjpeg's or
// mozjpeg's scripts) costs a few units per sample; a sequential one a little over
// one.

// DefaultMaxScans is the most scans (SOS segments) a file may have when
// Limits.MaxScans is zero. A sequential file has one per component; progressive
// scripts of libjpeg and mozjpeg use about ten; T.81 allows more only by
// splitting bands and bit planes into pieces no encoder writes.
const DefaultMaxScans = 1000

// DefaultCoefficientsPerSample is the work allowed per sample of the frame (every
// component's blocks, padded to whole MCUs, × 64) when Limits.CoefficientsPerSample
// is zero: room for every coefficient to be sent in five passes, half as much
// again as libjpeg's and mozjpeg's progressive scripts use, and what keeps the
// worst case of a 40 MP frame within the CPU target the README states.
const DefaultCoefficientsPerSample = 8

// DefaultCoefficientsPerByte is the work allowed per byte of input, on top of the
// per-sample allowance, when Limits.CoefficientsPerByte is zero: one coefficient
// per two bits, so that work paid for by real entropy-coded data (dense coefficients
// refined many times) grows with the file, while work that costs no data (long
// end-of-band runs) stays bounded by the frame. This allowance never exceeds the
// per-sample one.
const DefaultCoefficientsPerByte = 4

// blockOverhead is the work a block costs in a scan besides its coefficients
// (the block walk itself, an end-of-band run), so that scans of narrow bands are
// not free.
const blockOverhead = 24

// dcOverhead is what a block costs on top in a scan of DC terms: such a scan
// decodes a Huffman code and touches the block's coefficients (a cache line) for
// every block, where an empty AC scan passes whole runs of blocks untouched.
const dcOverhead = 40

// ErrLimit (wrapped) means the file asks for more decoding work than Limits allow:
// too many scans, or scans whose coefficients add up to more than the budget. The
// error says which limit and its value.
var ErrLimit = errors.New("jpeg: decoding work over the limit")

// Limits bounds the work one file may ask of Decode (and of image/jpeg, through
// Precheck). The zero value is the defaults; a negative MaxScans or
// CoefficientsPerSample lifts that limit, a negative CoefficientsPerByte gives no
// allowance per byte.
type Limits struct {
	// MaxScans caps the number of scans; 0 means DefaultMaxScans.
	MaxScans int
	// CoefficientsPerSample is the work allowed per sample of the frame; 0 means
	// DefaultCoefficientsPerSample.
	CoefficientsPerSample int
	// CoefficientsPerByte is the work allowed per byte of input on top of it; 0
	// means DefaultCoefficientsPerByte.
	CoefficientsPerByte int
}

// orDefault is v, or def when v is zero.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// workMeter counts the scans and the work of one file against its Limits.
type workMeter struct {
	maxScans   int   // < 0: no cap
	scans      int   // scans charged so far
	perSample  int64 // < 0: no cap on work
	perByte    int64
	inputBytes int64
	used       int64 // work charged so far
}

// newWorkMeter sets up the meter for an input of n bytes.
func newWorkMeter(l Limits, n int) workMeter {
	m := workMeter{
		maxScans:   orDefault(l.MaxScans, DefaultMaxScans),
		perSample:  int64(orDefault(l.CoefficientsPerSample, DefaultCoefficientsPerSample)),
		perByte:    int64(orDefault(l.CoefficientsPerByte, DefaultCoefficientsPerByte)),
		inputBytes: int64(n),
	}
	if l.CoefficientsPerByte < 0 {
		m.perByte = 0
	}
	return m
}

// frameGeometry is what the work accounting needs of a frame header: its size and
// each component's sampling factors (1×1 for a single component).
type frameGeometry struct {
	width, height int
	nComp         int
	h, v          [maxComponents]int
}

// mcus returns the MCU grid: MCUs per row and rows, from component 0's factors.
func (g *frameGeometry) mcus() (mxx, myy int) {
	return (g.width + 8*g.h[0] - 1) / (8 * g.h[0]), (g.height + 8*g.v[0] - 1) / (8 * g.v[0])
}

// blocks is the number of blocks of component ci, padded to whole MCUs (what the
// decoder allocates and what an interleaved scan visits; a non-interleaved scan
// visits no more).
func (g *frameGeometry) blocks(ci int) int64 {
	mxx, myy := g.mcus()
	return int64(mxx) * int64(myy) * int64(g.h[ci]) * int64(g.v[ci])
}

// budget is the work allowed for this frame and input, or -1 for no cap:
// perSample × samples plus perByte × input bytes, the latter at most as much again
// as the former, so that bytes an attacker pads a file with can at most double the
// work a frame allows.
func (m *workMeter) budget(g *frameGeometry) int64 {
	if m.perSample < 0 {
		return -1
	}
	var samples int64
	for ci := 0; ci < g.nComp; ci++ {
		samples += 64 * g.blocks(ci)
	}
	frame := m.perSample * samples
	return frame + min(m.perByte*m.inputBytes, frame)
}

// charge counts one scan over the components comps[:n] of g with spectral band
// [zigStart, zigEnd], failing with ErrLimit when it takes the file over a limit.
// It runs before the scan is decoded, so a refused scan costs nothing.
func (m *workMeter) charge(g *frameGeometry, comps []int, zigStart, zigEnd int) error {
	m.scans++
	if m.maxScans >= 0 && m.scans > m.maxScans {
		return fmt.Errorf("%w: more than %d scans (Limits.MaxScans)", ErrLimit, m.maxScans)
	}
	per := int64(zigEnd-zigStart+1) + blockOverhead
	if zigStart == 0 {
		per += dcOverhead
	}
	for _, ci := range comps {
		m.used += per * g.blocks(ci)
	}
	if b := m.budget(g); b >= 0 && m.used > b {
		return fmt.Errorf("%w: scan %d brings the work of a %dx%d image to %d coefficients, more than its budget of %d (%d per sample, %d per input byte: Limits.CoefficientsPerSample, CoefficientsPerByte)",
			ErrLimit, m.scans, g.width, g.height, m.used, b, m.perSample, m.perByte)
	}
	return nil
}

// canceller checks a context cheaply: a non-blocking receive on its Done channel,
// nothing at all for a context that is never cancelled.
type canceller struct {
	ctx  context.Context
	done <-chan struct{}
}

func newCanceller(ctx context.Context) canceller {
	if ctx == nil {
		return canceller{}
	}
	return canceller{ctx: ctx, done: ctx.Done()}
}

// err returns the context's error (wrapped) once it is done, else nil.
func (c *canceller) err() error {
	if c.done == nil {
		return nil
	}
	select {
	case <-c.done:
		return fmt.Errorf("jpeg: decoding stopped: %w", c.ctx.Err())
	default:
		return nil
	}
}
