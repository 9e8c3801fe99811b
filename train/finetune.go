package train

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/autotag/autotag/data"
	"github.com/autotag/autotag/nn"
	"github.com/autotag/autotag/nn/arch"
	"github.com/autotag/autotag/weights"
)

// Fine-tuning the last stage (layer4) with batch norm frozen: BN in inference mode is
// an affine map per channel, so it is folded into the convolution before it
// (arch.FoldBN) and the folded W', b' are what trains. The graph is built by walking
// nn/arch's topology (the one nn's runner walks) with nn's exported, differentiable
// operators (nn.Conv2d, nn.MaxPool2d, nn.GlobalAvgPool) in NCHW; the frozen trunk
// (stem and every stage but the last) runs once per image to give the last stage's
// input activations.

// foldedParam is one BN-folded convolution: W' [out, in, k, k] and b' [out].
type foldedParam struct {
	spec *arch.Conv // names, shape, stride and padding
	w, b []float32
}

// shape is W's shape [out, in, k, k].
func (p *foldedParam) shape() []int { return p.spec.WeightShape() }

// foldedResNet is a ResNet50's topology with its BN-folded convolutions.
type foldedResNet struct {
	top   *arch.ResNet
	convs map[string]*foldedParam // by arch.Conv.Name
}

// last is the stage that fine-tuning trains (layer4).
func (r *foldedResNet) last() *arch.Stage { return &r.top.Stages[len(r.top.Stages)-1] }

// foldConv folds c's batch norm into c from model-file tensors.
func foldConv(ts map[string]*tensor.Dense, c *arch.Conv, eps float64) (*foldedParam, error) {
	get := func(n string, shape ...int) ([]float32, error) {
		t, ok := ts[n]
		if !ok {
			return nil, fmt.Errorf("train: finetune: tensor %s missing", n)
		}
		d, ok := t.Data().([]float32)
		if !ok {
			return nil, fmt.Errorf("train: finetune: tensor %s is not float32", n)
		}
		if !t.Shape().Eq(tensor.Shape(shape)) {
			return nil, fmt.Errorf("train: finetune: tensor %s has shape %v, want %v", n, t.Shape(), shape)
		}
		return d, nil
	}
	w, err := get(c.Name+".weight", c.WeightShape()...)
	if err != nil {
		return nil, err
	}
	gamma, err1 := get(c.BN+".weight", c.Out)
	beta, err2 := get(c.BN+".bias", c.Out)
	mean, err3 := get(c.BN+".running_mean", c.Out)
	variance, err4 := get(c.BN+".running_var", c.Out)
	if err := cmp.Or(err1, err2, err3, err4); err != nil {
		return nil, err
	}
	var bias []float32
	if _, ok := ts[c.Name+".bias"]; ok {
		if bias, err = get(c.Name+".bias", c.Out); err != nil {
			return nil, err
		}
	}
	fw, fb, err := arch.FoldBN(w, bias, gamma, beta, mean, variance, eps)
	if err != nil {
		return nil, fmt.Errorf("train: finetune: %s: %w", c.Name, err)
	}
	return &foldedParam{spec: c, w: fw, b: fb}, nil
}

// foldResNet folds every conv of a ResNet50 state dict in layout (which says where a
// stage's stride sits).
func foldResNet(ts map[string]*tensor.Dense, layout string, eps float64) (*foldedResNet, error) {
	// fc is replaced by the head being trained, so the topology's class count is moot
	top, err := arch.ResNet50(arch.Layout(layout), 1)
	if err != nil {
		return nil, fmt.Errorf("train: finetune: %w", err)
	}
	r := &foldedResNet{top: top, convs: map[string]*foldedParam{}}
	convs := []*arch.Conv{&top.Stem}
	for i := range top.Stages {
		for b := range top.Stages[i].Blocks {
			convs = append(convs, top.Stages[i].Blocks[b].Convs()...)
		}
	}
	for _, c := range convs {
		if r.convs[c.Name], err = foldConv(ts, c, eps); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// convNodes adds p's weight and bias to g: constants of the frozen trunk, or
// trainable nodes sharing p's slices (so optimizer updates are what the next run sees).
func convNodes(g *gorgonia.ExprGraph, p *foldedParam) (w, b *gorgonia.Node) {
	shape := p.shape()
	w = gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(shape...), gorgonia.WithName(p.spec.Name+".w"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(p.w))))
	b = gorgonia.NewVector(g, tensor.Float32, gorgonia.WithShape(shape[0]), gorgonia.WithName(p.spec.Name+".b"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(shape[0]), tensor.WithBacking(p.b))))
	return w, b
}

// stageNode adds the blocks of stage st as arch.Residual lays them out (the residual
// add and last ReLU fused into conv3), collecting their parameter nodes into params
// in the order of arch.Block.Convs.
func stageNode(g *gorgonia.ExprGraph, x *gorgonia.Node, st *arch.Stage, r *foldedResNet, params *[]*gorgonia.Node) (*gorgonia.Node, error) {
	conv := func(in *gorgonia.Node, c *arch.Conv, res *gorgonia.Node, relu bool) (*gorgonia.Node, error) {
		w, b := convNodes(g, r.convs[c.Name])
		*params = append(*params, w, b)
		return nn.Conv2d(in, w, b, res, c.Stride, c.Pad, relu)
	}
	y := x
	for i := range st.Blocks {
		var err error
		if y, err = arch.Residual(&st.Blocks[i], y, conv); err != nil {
			return nil, fmt.Errorf("train: %s: %w", st.Blocks[i].Name, err)
		}
	}
	return y, nil
}

// trunkNode adds the frozen stem and every stage but the last for input x [B,3,H,W].
func trunkNode(g *gorgonia.ExprGraph, x *gorgonia.Node, r *foldedResNet) (*gorgonia.Node, error) {
	var params []*gorgonia.Node
	stem, mp := &r.top.Stem, r.top.MaxPool
	w, b := convNodes(g, r.convs[stem.Name])
	y, err := nn.Conv2d(x, w, b, nil, stem.Stride, stem.Pad, true)
	if err != nil {
		return nil, err
	}
	if y, err = nn.MaxPool2d(y, mp.Kernel, mp.Stride, mp.Pad); err != nil {
		return nil, err
	}
	trunk := r.top.Stages[:len(r.top.Stages)-1]
	for i := range trunk {
		if y, err = stageNode(g, y, &trunk[i], r, &params); err != nil {
			return nil, err
		}
	}
	return y, nil
}

// layer4Node adds the last stage + global average pooling for the trunk's activations
// x, returning the pooled features and the stage's parameter nodes (W, b per conv).
func layer4Node(g *gorgonia.ExprGraph, x *gorgonia.Node, r *foldedResNet) (*gorgonia.Node, []*gorgonia.Node, error) {
	var params []*gorgonia.Node
	y, err := stageNode(g, x, r.last(), r, &params)
	if err != nil {
		return nil, nil, err
	}
	f, err := nn.GlobalAvgPool(y)
	return f, params, err
}

// FinetuneOptions configures FinetuneLayer4.
type FinetuneOptions struct {
	Epochs      int
	Batch       int
	LR          float64
	WeightDecay float64
	Seed        uint64
	Loss        Loss
	PosWeight   []float32
}

// layer3Set is layer3 activations of N images × K views ([N·K, 1024·14·14]) with
// labels [N, classes].
type layer3Set struct {
	X          []float32
	Y          []float32
	N, K, Size int // Size = floats per activation
	Shape      []int
}

// layer4Graph is layer4 + pooling + head for one batch size, with or without
// gradients.
type layer4Graph struct {
	g           *gorgonia.ExprGraph
	x, pos, neg *gorgonia.Node
	logits      *gorgonia.Node
	loss        *gorgonia.Node
	params      []*gorgonia.Node // layer4 W,b… then head W,b…
	vm          gorgonia.VM
	xT          *tensor.Dense
	posT, negT  *tensor.Dense
	grads       [][]float32
}

func newLayer4Graph(r *foldedResNet, h *Head, loss Loss, b int, shape []int, train bool) (*layer4Graph, error) {
	lg := &layer4Graph{g: gorgonia.NewGraph()}
	g := lg.g
	xs := append([]int{b}, shape...)
	lg.xT = tensor.New(tensor.WithShape(xs...), tensor.WithBacking(make([]float32, tensor.Shape(xs).TotalSize())))
	lg.x = gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(xs...), gorgonia.WithName("layer3"), gorgonia.WithValue(lg.xT))
	f, params, err := layer4Node(g, lg.x, r)
	if err != nil {
		return nil, err
	}
	lg.params = params
	d := h.dims()
	cur := f
	for l := range h.W {
		w := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(d[l], d[l+1]), gorgonia.WithName(fmt.Sprintf("hw%d", l)),
			gorgonia.WithValue(tensor.New(tensor.WithShape(d[l], d[l+1]), tensor.WithBacking(h.W[l]))))
		bias := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(1, d[l+1]), gorgonia.WithName(fmt.Sprintf("hb%d", l)),
			gorgonia.WithValue(tensor.New(tensor.WithShape(1, d[l+1]), tensor.WithBacking(h.B[l]))))
		lg.params = append(lg.params, w, bias)
		mm, err := gorgonia.Mul(cur, w)
		if err != nil {
			return nil, err
		}
		if cur, err = gorgonia.BroadcastAdd(mm, bias, nil, []byte{0}); err != nil {
			return nil, err
		}
		if l+1 < len(h.W) {
			if cur, err = gorgonia.Rectify(cur); err != nil {
				return nil, err
			}
		}
	}
	lg.logits = cur
	if !train {
		lg.vm = gorgonia.NewTapeMachine(g)
		return lg, nil
	}
	lg.posT = tensor.New(tensor.WithShape(b, h.Out), tensor.WithBacking(make([]float32, b*h.Out)))
	lg.negT = tensor.New(tensor.WithShape(b, h.Out), tensor.WithBacking(make([]float32, b*h.Out)))
	lg.pos = gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(b, h.Out), gorgonia.WithName("pos"), gorgonia.WithValue(lg.posT))
	lg.neg = gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(b, h.Out), gorgonia.WithName("neg"), gorgonia.WithValue(lg.negT))
	if lg.loss, err = loss.Build(cur, lg.pos, lg.neg); err != nil {
		return nil, err
	}
	if _, err = gorgonia.Grad(lg.loss, lg.params...); err != nil {
		return nil, fmt.Errorf("train: layer4 gradients: %w", err)
	}
	lg.vm = gorgonia.NewTapeMachine(g, gorgonia.BindDualValues(lg.params...))
	return lg, nil
}

// run executes the graph; with gradients it returns the loss and copies of the
// gradients, zeroing Gorgonia's accumulators (see stepGraph.run).
func (lg *layer4Graph) run() (float32, [][]float32, error) {
	lg.vm.Reset()
	if err := lg.vm.RunAll(); err != nil {
		return 0, nil, err
	}
	if lg.loss == nil {
		return 0, nil, nil
	}
	if lg.grads == nil {
		lg.grads = make([][]float32, len(lg.params))
	}
	for i, p := range lg.params {
		gv, err := p.Grad()
		if err != nil {
			return 0, nil, fmt.Errorf("train: gradient of %s: %w", p.Name(), err)
		}
		d := gv.Data().([]float32)
		if lg.grads[i] == nil {
			lg.grads[i] = make([]float32, len(d))
		}
		copy(lg.grads[i], d)
		clear(d)
	}
	return lg.loss.Value().Data().(float32), lg.grads, nil
}

// extractLayer3 runs the frozen trunk on views of every record (view 0 the
// evaluation transform, views ≥ 1 as the feature cache makes them).
func extractLayer3(ctx context.Context, r *foldedResNet, spec data.Spec, ds *data.Dataset, views int, seed uint64, batch int, prog *progress) (*layer3Set, error) {
	crop := spec.Crop
	g := gorgonia.NewGraph()
	in := tensor.New(tensor.WithShape(batch, 3, crop, crop), tensor.WithBacking(make([]float32, batch*3*crop*crop)))
	x := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(batch, 3, crop, crop), gorgonia.WithName("x"), gorgonia.WithValue(in))
	l3, err := trunkNode(g, x, r)
	if err != nil {
		return nil, err
	}
	vm := gorgonia.NewTapeMachine(g)
	defer vm.Close()
	shape := []int(l3.Shape()[1:])
	size := tensor.Shape(shape).TotalSize()
	n := len(ds.Records)
	set := &layer3Set{Y: ds.Targets(), N: n, K: views, Size: size, Shape: shape, X: make([]float32, n*views*size)}
	opt := ExtractOptions{Mode: ViewsEval, Augment: data.DefaultAugment(crop), Seed: seed}
	per := 3 * crop * crop
	type job struct{ img, view int }
	var jobs []job
	for i := 0; i < n; i++ {
		for v := 0; v < views; v++ {
			jobs = append(jobs, job{i, v})
		}
	}
	buf := in.Data().([]float32)
	for lo := 0; lo < len(jobs); lo += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+batch, len(jobs))
		clear(buf)
		for j := lo; j < hi; j++ {
			rec := ds.Records[jobs[j].img]
			img, err := data.DecodeFile(rec.Path, data.DecodeOptions{})
			if err != nil {
				return nil, fmt.Errorf("train: %s: %w", rec.Path, err)
			}
			id, err := fileID(rec.Path)
			if err != nil {
				return nil, err
			}
			if err := makeView(img, spec, opt, id, jobs[j].view, buf[(j-lo)*per:(j-lo+1)*per]); err != nil {
				return nil, fmt.Errorf("train: %s: %w", rec.Path, err)
			}
		}
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			return nil, fmt.Errorf("train: trunk: %w", err)
		}
		out := l3.Value().Data().([]float32)
		for j := lo; j < hi; j++ {
			row := jobs[j].img*views + jobs[j].view
			copy(set.X[row*size:(row+1)*size], out[(j-lo)*size:(j-lo+1)*size])
		}
		if prog != nil {
			prog.add(hi - lo)
		}
	}
	return set, nil
}

// layer4Params lists the trainable slices in graph order (the last stage's W,b… in
// arch.Block.Convs order, then the head), with the decay mask (weights yes, biases no).
func layer4Params(r *foldedResNet, h *Head) ([][]float32, []bool) {
	var ps [][]float32
	for _, blk := range r.last().Blocks {
		for _, c := range blk.Convs() {
			p := r.convs[c.Name]
			ps = append(ps, p.w, p.b)
		}
	}
	for l := range h.W {
		ps = append(ps, h.W[l], h.B[l])
	}
	return ps, decayMask(len(ps))
}

// snapshot copies slices.
func snapshot(ps [][]float32) [][]float32 {
	out := make([][]float32, len(ps))
	for i, p := range ps {
		out[i] = append([]float32(nil), p...)
	}
	return out
}

// FinetuneResult is the outcome of FinetuneLayer4.
type FinetuneResult struct {
	History []EpochStats
	BestMAP float64
	Best    int
	Tensors map[string]*tensor.Dense // the backbone's layer4 tensors to replace (BN as identity)
	Head    *Head
	ValProb []float32 // validation probabilities of the best epoch
}

// FinetuneLayer4 trains layer4 (BN frozen, folded) and the head jointly, starting
// from head (a trained linear probe: "LP-FT", Kumar et al. 2022), on layer3
// activations of K views per training image; early stopping on validation mAP.
func FinetuneLayer4(ctx context.Context, bbPath string, trainDS, valDS *data.Dataset, head *Head, views int, o FinetuneOptions, progOut io.Writer, log *slog.Logger) (*FinetuneResult, error) {
	m, err := weights.Load(bbPath)
	if err != nil {
		return nil, err
	}
	r, err := foldResNet(m.Tensors, m.Meta.Layout, m.Meta.BNEps)
	if err != nil {
		return nil, err
	}
	spec := m.Meta.Preprocess
	total := len(trainDS.Records) * views
	if valDS != nil {
		total += len(valDS.Records)
	}
	prog := newProgress(progOut, total, "layer3 activations", log)
	tr, err := extractLayer3(ctx, r, spec, trainDS, views, o.Seed, 4, prog)
	if err != nil {
		return nil, err
	}
	var va *layer3Set
	if valDS != nil {
		if va, err = extractLayer3(ctx, r, spec, valDS, 1, o.Seed, 4, prog); err != nil {
			return nil, err
		}
	}
	prog.finish()
	h := head.Clone()
	b := o.Batch
	graphs := map[int]*layer4Graph{}
	defer func() {
		for _, g := range graphs {
			g.vm.Close()
		}
	}()
	getGraph := func(n int, train bool) (*layer4Graph, error) {
		key := n
		if !train {
			key = -n
		}
		if g, ok := graphs[key]; ok {
			return g, nil
		}
		g, err := newLayer4Graph(r, h, o.Loss, n, tr.Shape, train)
		if err == nil {
			graphs[key] = g
		}
		return g, err
	}
	params, mask := layer4Params(r, h)
	var sizes []int
	for _, p := range params {
		sizes = append(sizes, len(p))
	}
	opt := NewAdamW(sizes, o.WeightDecay)
	spe := (tr.N + b - 1) / b
	sched := CosineSchedule{Base: o.LR, Warmup: spe / 2, Total: spe * o.Epochs}
	res := &FinetuneResult{BestMAP: math.Inf(-1)}
	var best [][]float32
	c := h.Out
	evalVal := func() ([]float32, error) {
		probs := make([]float32, va.N*c)
		for lo := 0; lo < va.N; lo += b {
			hi := min(lo+b, va.N)
			g, err := getGraph(b, false)
			if err != nil {
				return nil, err
			}
			x := g.xT.Data().([]float32)
			clear(x)
			copy(x, va.X[lo*va.Size:hi*va.Size])
			if _, _, err := g.run(); err != nil {
				return nil, err
			}
			lg := g.logits.Value().Data().([]float32)
			for i := 0; i < (hi-lo)*c; i++ {
				probs[lo*c+i] = float32(sigmoid(float64(lg[i])))
			}
		}
		return probs, nil
	}
	step := 0
	for e := 0; e < o.Epochs; e++ {
		order := rand.New(rand.NewPCG(o.Seed, uint64(e)+1)).Perm(tr.N)
		vr := rand.New(rand.NewPCG(o.Seed^0x7669657773, uint64(e)+1))
		var sum float64
		for lo := 0; lo < tr.N; lo += b {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			hi := min(lo+b, tr.N)
			g, err := getGraph(hi-lo, true)
			if err != nil {
				return nil, err
			}
			x := g.xT.Data().([]float32)
			y := make([]float32, (hi-lo)*c)
			for j := lo; j < hi; j++ {
				img := order[j]
				row := img*tr.K + vr.IntN(tr.K)
				copy(x[(j-lo)*tr.Size:], tr.X[row*tr.Size:(row+1)*tr.Size])
				copy(y[(j-lo)*c:], tr.Y[img*c:(img+1)*c])
			}
			o.Loss.Coefficients(y, o.PosWeight, c, g.posT.Data().([]float32), g.negT.Data().([]float32))
			loss, grads, err := g.run()
			if err != nil {
				return nil, err
			}
			opt.Step(sched.At(step), params, grads, mask)
			step++
			sum += float64(loss) * float64(hi-lo)
		}
		st := EpochStats{Epoch: e + 1, TrainLoss: sum / float64(tr.N), ValLoss: math.NaN(), ValMAP: math.NaN(), LR: sched.At(step - 1)}
		if va != nil {
			probs, err := evalVal()
			if err != nil {
				return nil, err
			}
			st.ValMAP, _ = MeanAP(probs, va.Y, c)
			if st.ValMAP > res.BestMAP {
				res.BestMAP, res.Best, best, res.ValProb = st.ValMAP, e+1, snapshot(params), probs
			}
		} else {
			res.Best, best = e+1, snapshot(params)
		}
		res.History = append(res.History, st)
		if log != nil {
			log.Info("finetune epoch", "epoch", e+1, "train_loss", round4(st.TrainLoss), "val_mAP", round4(st.ValMAP), "best_epoch", res.Best)
		}
	}
	for i := range params {
		copy(params[i], best[i])
	}
	res.Head = h
	res.Tensors = layer4Tensors(r, m.Tensors, m.Meta.BNEps)
	return res, nil
}

// layer4Tensors writes the (trained) folded layer4 back under the model file's
// names: each conv holds W' (and b' as its bias when the layout has conv biases),
// each batch norm becomes the identity (γ 1, β 0 or b', μ 0, σ² 1−ε).
func layer4Tensors(r *foldedResNet, orig map[string]*tensor.Dense, eps float64) map[string]*tensor.Dense {
	out := map[string]*tensor.Dense{}
	vec := func(n int, v float32) *tensor.Dense {
		d := make([]float32, n)
		for i := range d {
			d[i] = v
		}
		return tensor.New(tensor.WithShape(n), tensor.WithBacking(d))
	}
	for _, blk := range r.last().Blocks {
		for _, c := range blk.Convs() {
			p := r.convs[c.Name]
			n := c.Out
			out[c.Name+".weight"] = tensor.New(tensor.WithShape(p.shape()...), tensor.WithBacking(append([]float32(nil), p.w...)))
			beta := tensor.New(tensor.WithShape(n), tensor.WithBacking(append([]float32(nil), p.b...)))
			if _, ok := orig[c.Name+".bias"]; ok {
				out[c.Name+".bias"] = beta
				beta = vec(n, 0)
			}
			out[c.BN+".weight"] = vec(n, 1)
			out[c.BN+".bias"] = beta
			out[c.BN+".running_mean"] = vec(n, 0)
			out[c.BN+".running_var"] = vec(n, float32(1-eps))
		}
	}
	return out
}
