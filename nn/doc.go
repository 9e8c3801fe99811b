// Package nn is autotag's neural-network engine: ResNet50 (He et al. 2015, "Deep
// Residual Learning for Image Recognition", arXiv:1512.03385) in the two weight layouts
// we meet in practice, built as a Gorgonia expression graph of custom, fused operators.
//
// Stock Gorgonia runs ResNet50 many times slower than ONNX Runtime (DESIGN.md §3): it
// im2cols every convolution, transposes after each one, broadcasts biases by copying
// and re-allocates every intermediate on every run. The operators here instead
//
//   - fold batch normalisation (Ioffe & Szegedy 2015, arXiv:1502.03167) into the
//     convolution weights and bias once, at Bind, and pack them for the GEMM once;
//   - fuse convolution + bias (+ residual add) + ReLU into one operator;
//   - run 1x1 convolutions as a plain GEMM on the activations (no im2col), 3x3 / 7x7
//     ones through im2col into one scratch buffer reused by every layer, and the
//     stride-1 3x3 ones of layer2-4 by Winograd F(2x2,3x3) (Lavin & Gray 2015), its 16
//     products shared out whole between the threads;
//   - keep a Runner's activations channel-major across the batch, (C,B,H,W) — NCHW
//     itself at batch 1 — so every operator writes the layout the next one reads and a
//     whole batch goes through one GEMM per layer;
//   - own their output buffers, planned by liveness so that layers share them, so a
//     Runner allocates nothing in nn per Forward (Gorgonia's VM makes ~2 small
//     allocations per instruction), while the weights are shared read-only by all
//     runners; the non-GEMM loops run on the GEMM's worker goroutines
//     (gemm.ParallelFor);
//   - run a batch as single-threaded batch-1 runners side by side, one per thread
//     (Engine.DisableDataParallel turns it off), so that the threads never wait for each other inside the
//     network; the runners form a Pool fed from one queue, which several batch
//     runners may share (NewPooledRunner) so that concurrent batches overlap instead
//     of idling a thread at each batch's end, and they yield to the Go scheduler at
//     every convolution so a server's network goroutines are never kept waiting.
//
// Runner.Forward takes NCHW input and returns pooled features and logits. For
// training, Conv2d, GlobalAvgPool and LinearNode implement gorgonia.SDOp, so
// gorgonia.Grad works through them (Gorgonia's own GlobalAveragePool2D has no
// gradient), and ResNet50.Stage builds a stage with BN frozen as a trainable NCHW
// subgraph, fed by a NewTrunkRunner.
//
// The network's topology (names, shapes, where each layout puts a stage's stride, the
// residual structure) and the batch-norm fold are plain data and code in nn/arch,
// which NewResNet50, the Runner's graph and Stage walk here, and which weights' tensor
// check and ONNX exporter and train's fine-tuner walk without linking the engine.
//
// nn never imports the data or weights packages: a model binds a plain
// map[string]*tensor.Dense keyed by torchvision state_dict names.
package nn
