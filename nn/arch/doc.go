// Package arch describes ResNet50's topology as plain data, once: every convolution
// with its torchvision state_dict name, its batch norm, channels, kernel, stride and
// padding (where the layout puts a stage's stride), the residual structure of a
// bottleneck block, the expected tensors of a model file, and the batch-norm fold.
//
// Every part of autotag that lays the network out walks this description instead of
// restating it: nn's graph builder and differentiable stages, weights' tensor check
// and ONNX exporter, and train's fine-tuner. It imports only the standard library, so
// weights (which reads model files and must not link the engine) may use it as well
// as nn.
package arch
