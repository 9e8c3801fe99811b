package nn

import (
	"fmt"

	"github.com/autotag/autotag/nn/arch"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Runner is a ResNet50 compiled for one batch size and input size: a Gorgonia graph of
// nn's fused operators and the tape machine that runs it. Its operators own their
// output buffers and share one im2col workspace, so after the first Forward a Runner
// allocates almost nothing; the weights are the model's folded tensors, shared
// read-only by every Runner. A Runner is not safe for concurrent use: give each
// goroutine its own (build them all before the goroutines start).
type Runner struct {
	model        *ResNet50
	batch, h, w  int
	stages       int // 4, or fewer for a trunk runner (NewTrunkRunner)
	g            *gorgonia.ExprGraph
	vm           gorgonia.VM
	input        *tensor.Dense
	feats, logit *gorgonia.Node

	// pool, when set (see DataParallelThreads and NewPooledRunner), runs Forward's
	// images on its single-threaded batch-1 runners, gathering their outputs into
	// featBuf and logitBuf; the fields above are then unused. ownPool: Close closes
	// the pool.
	pool              *Pool
	ownPool           bool
	featBuf, logitBuf []float32
}

// NewRunner compiles the bound model for batch images of height×width pixels. It
// checks the activation shape after the stem and after each stage and returns an
// error naming the stage if one is off. m.Config.Engine, read now, picks its kernels.
func (m *ResNet50) NewRunner(batch, height, width int) (*Runner, error) {
	if t := m.DataParallelThreads(batch); t > 0 && m.Bound() {
		return m.newDataParallelRunner(batch, height, width, t)
	}
	return m.newRunner(batch, height, width, 4, false)
}

// newDataParallelRunner is a batch runner over its own pool of t single-threaded
// batch-1 runners.
func (m *ResNet50) newDataParallelRunner(batch, height, width, t int) (*Runner, error) {
	p, err := m.NewPool(t, height, width)
	if err != nil {
		return nil, err
	}
	r := m.NewPooledRunner(batch, p)
	r.ownPool = true
	return r, nil
}

// NewPooledRunner is a data-parallel runner of up to batch images on pool p, which it
// shares with any other runner built on p (see Pool); its own are only its output
// buffers. Closing it leaves p open.
func (m *ResNet50) NewPooledRunner(batch int, p *Pool) *Runner {
	return &Runner{model: m, batch: batch, h: p.h, w: p.w, stages: 4, pool: p,
		featBuf: make([]float32, batch*FeatureDim), logitBuf: make([]float32, batch*m.Config.NumClasses)}
}

// NewTrunkRunner compiles the stem and stages 1..stages (1-3) only: its Forward
// returns, as features, the activation after the last of them in NCHW order
// (batch × C × H × W, e.g. 1024×14×14 after layer3 at 224²) and nil logits. It feeds
// fine-tuning the later stages (see Stage) from cached activations.
func (m *ResNet50) NewTrunkRunner(batch, height, width, stages int) (*Runner, error) {
	if stages < 1 || stages > 3 {
		return nil, fmt.Errorf("nn: NewTrunkRunner: %d stages, want 1-3", stages)
	}
	return m.newRunner(batch, height, width, stages, false)
}

// newRunner compiles a runner; a serial one runs every kernel on the calling goroutine.
func (m *ResNet50) newRunner(batch, height, width, stages int, serial bool) (*Runner, error) {
	if !m.Bound() {
		return nil, fmt.Errorf("nn: NewRunner: the model has no weights (call Bind first)")
	}
	if batch < 1 || height < 32 || width < 32 {
		return nil, fmt.Errorf("nn: NewRunner: batch %d, size %dx%d: want batch ≥ 1 and size ≥ 32x32", batch, height, width)
	}
	r := &Runner{model: m, batch: batch, h: height, w: width, stages: stages, g: gorgonia.NewGraph()}
	r.input = tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(batch, 3, height, width))
	x := gorgonia.NewTensor(r.g, tensor.Float32, 4, gorgonia.WithName("input"), gorgonia.WithValue(r.input))
	ws := newWorkspace()
	// the fused epilogue pays only at batch > 1: at batch 1 its blocks are narrow
	// (re-measure with autotag bench --fused both --batch 1,8)
	ws.fused = !m.Config.Engine.DisableFusedGEMM && batch > 1
	ws.serial = serial
	if err := r.build(x, ws); err != nil {
		return nil, err
	}
	keep := []*gorgonia.Node{r.feats}
	if r.logit != nil {
		keep = append(keep, r.logit)
	}
	if err := planBuffers(r.g, keep...); err != nil {
		return nil, err
	}
	r.vm = gorgonia.NewTapeMachine(r.g)
	return r, nil
}

// build lays out the network (He et al. 2015, Table 1) on the graph.
func (r *Runner) build(x *gorgonia.Node, ws *workspace) error {
	m := r.model
	gb := &graphBuilder{g: r.g, ws: ws, noWino: m.Config.Engine.DisableWinograd}
	top := m.Topology
	h, w := top.MaxPool.OutSize(top.Stem.OutSize(r.h)), top.MaxPool.OutSize(top.Stem.OutSize(r.w))
	y, err := gb.stem(x, m.stem)
	if err != nil {
		return fmt.Errorf("nn: stem: %w", err)
	}
	if err := checkShape("stem (conv1+maxpool)", y, top.Stem.Out, r.batch, h, w); err != nil {
		return err
	}
	for l, blocks := range m.blocks[:r.stages] {
		for _, b := range blocks {
			if y, err = gb.bottleneck(y, b); err != nil {
				return fmt.Errorf("nn: %s: %w", b.spec.Name, err)
			}
			h, w = b.spec.OutSize(h), b.spec.OutSize(w)
		}
		if err := checkShape(top.Stages[l].Name, y, top.Stages[l].Out, r.batch, h, w); err != nil {
			return err
		}
	}
	if r.stages < 4 {
		r.feats, err = gorgonia.ApplyOp(&toNCHWOp{base: newBase()}, y)
		return err
	}
	if r.feats, err = globalAvgPool(y, true); err != nil {
		return err
	}
	fcw := gorgonia.NewMatrix(r.g, tensor.Float32, gorgonia.WithName("fc.weight"), gorgonia.WithValue(m.FC.Weight.Value))
	fcb := gorgonia.NewVector(r.g, tensor.Float32, gorgonia.WithName("fc.bias"), gorgonia.WithValue(m.FC.Bias.Value))
	if r.logit, err = LinearNode(r.feats, fcw, fcb); err != nil {
		return err
	}
	return checkShape("fc", r.logit, r.batch, m.Config.NumClasses)
}

// graphBuilder adds BN-folded layers to a graph; its operators share one workspace.
// Activations between them are CNHW (see convOp): the stem reads the NCHW input and
// writes CNHW, every later layer reads and writes CNHW.
type graphBuilder struct {
	g  *gorgonia.ExprGraph
	ws *workspace
	// noWino: no convolution uses the Winograd weights (Engine.DisableWinograd)
	noWino bool
}

// conv adds a fused CNHW convolution with c's folded weights (constant nodes whose
// values are the model's shared tensors).
func (gb *graphBuilder) conv(x *gorgonia.Node, c *foldedConv, res *gorgonia.Node, relu bool) (*gorgonia.Node, error) {
	return gb.convLayout(x, c, res, relu, true)
}

// stem adds conv1 (+ReLU) reading the NCHW input, then the 3x3/2 max-pool.
func (gb *graphBuilder) stem(x *gorgonia.Node, c *foldedConv) (*gorgonia.Node, error) {
	y, err := gb.convLayout(x, c, nil, true, false)
	if err != nil {
		return nil, err
	}
	return maxPool2d(y, 3, 2, 1, gb.ws.serial)
}

func (gb *graphBuilder) convLayout(x *gorgonia.Node, c *foldedConv, res *gorgonia.Node, relu, inCNHW bool) (*gorgonia.Node, error) {
	w := gorgonia.NewTensor(gb.g, tensor.Float32, 4, gorgonia.WithName(c.name+".weight"), gorgonia.WithValue(c.shape))
	b := gorgonia.NewVector(gb.g, tensor.Float32, gorgonia.WithName(c.name+".bias"), gorgonia.WithValue(c.b))
	proto := convOp{stride: c.stride, pad: c.pad, relu: relu, inCNHW: inCNHW, outCNHW: true, ws: gb.ws, packed: c.packed}
	if s := x.Shape(); !gb.noWino && c.wino != nil && s[1]*((s[2]+1)/2)*((s[3]+1)/2) >= winogradMinTiles {
		proto.wino = c.wino
	}
	return conv2d(x, w, b, res, proto)
}

// bottleneck adds one residual block as arch.Residual lays it out, with the residual
// add and the last ReLU fused into conv3.
func (gb *graphBuilder) bottleneck(x *gorgonia.Node, b *foldedBottleneck) (*gorgonia.Node, error) {
	return arch.Residual(b.spec, x, func(x *gorgonia.Node, c *arch.Conv, res *gorgonia.Node, relu bool) (*gorgonia.Node, error) {
		return gb.conv(x, b.conv(c), res, relu)
	})
}

// checkShape asserts that node n has shape dims ((C,B,H,W) for activations), naming
// stage otherwise.
func checkShape(stage string, n *gorgonia.Node, dims ...int) error {
	if !n.Shape().Eq(tensor.Shape(dims)) {
		return fmt.Errorf("nn: after %s: activation shape %v, want %v", stage, n.Shape(), dims)
	}
	return nil
}

// Batch is the number of images one Forward takes (at most, for a Flexible runner).
func (r *Runner) Batch() int { return r.batch }

// Flexible reports whether Forward also takes fewer images than Batch, from 1 up:
// a data-parallel runner (see DataParallelThreads) does, a single graph does not.
func (r *Runner) Flexible() bool { return r.pool != nil }

// Forward runs the network on x, batch×3×H×W float32 in NCHW order (already
// preprocessed for the model; a Flexible runner takes n×3×H×W for any n from 1 to
// Batch). It returns the pooled features (n×2048) and the raw logits (n×NumClasses,
// before softmax or sigmoid). Both slices belong to the
// Runner and are overwritten by the next Forward: copy what you keep.
func (r *Runner) Forward(x []float32) (features, logits []float32, err error) {
	img := 3 * r.h * r.w
	if r.pool != nil {
		n := len(x) / img
		if n < 1 || n > r.batch || len(x)%img != 0 {
			return nil, nil, fmt.Errorf("nn: Forward: input has %d floats, want 1 to %d images of 3 × %d × %d", len(x), r.batch, r.h, r.w)
		}
		f, l := r.featBuf[:n*FeatureDim], r.logitBuf[:n*r.model.Config.NumClasses]
		if err := r.pool.forward(x, f, l); err != nil {
			return nil, nil, err
		}
		return f, l, nil
	}
	if want := r.batch * img; len(x) != want {
		return nil, nil, fmt.Errorf("nn: Forward: input has %d floats, want %d (batch %d × 3 × %d × %d)", len(x), want, r.batch, r.h, r.w)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("nn: Forward: %v", p)
		}
	}()
	copy(r.input.Float32s(), x)
	r.vm.Reset()
	if err := r.vm.RunAll(); err != nil {
		return nil, nil, fmt.Errorf("nn: Forward: %w", err)
	}
	f, err := dense(r.feats.Value())
	if err != nil {
		return nil, nil, fmt.Errorf("nn: Forward: features missing")
	}
	if r.logit == nil {
		return f.Float32s(), nil, nil
	}
	l, err := dense(r.logit.Value())
	if err != nil {
		return nil, nil, fmt.Errorf("nn: Forward: logits missing")
	}
	return f.Float32s(), l.Float32s(), nil
}

// Close releases the runner's machine.
func (r *Runner) Close() error {
	if r.ownPool {
		r.pool.Close()
	}
	if r.vm != nil {
		return r.vm.Close()
	}
	return nil
}
