// Package nn is autotag's neural-network engine: ResNet50 (He et al. 2015, "Deep
// Residual Learning for Image Recognition", arXiv:1512.03385) in the two weight layouts
// we meet in practice, built as a Gorgonia expression graph of custom, fused operators.
//
// Stock Gorgonia runs ResNet50 about 20x slower than ONNX Runtime (DESIGN.md §3): it
// im2cols every convolution, transposes after each one, broadcasts biases by copying
// and re-allocates every intermediate on every run. The operators here instead
//
//   - fold batch normalisation (Ioffe & Szegedy 2015, arXiv:1502.03167) into the
//     convolution weights and bias once, at Bind;
//   - fuse convolution + bias (+ residual add) + ReLU into one operator;
//   - run 1x1 convolutions as a plain GEMM on the NCHW activations (no im2col) and the
//     3x3 / 7x7 ones through im2col into one scratch buffer reused by every layer;
//   - write their output in NCHW, the layout the next operator reads;
//   - own their output buffers, so a compiled Runner allocates (almost) nothing per
//     Forward, while the folded weights are shared read-only by all runners.
//
// The convolution, linear and global-average-pool operators implement gorgonia.SDOp, so
// gorgonia.Grad works through them (used to fine-tune the last stage with BN frozen).
//
// nn never imports the data or weights packages: a model binds a plain
// map[string]*tensor.Dense keyed by torchvision state_dict names.
package nn
