// Package train fine-tunes a multi-label head on top of a frozen ResNet50 and measures
// it honestly.
//
// The pipeline (Run, behind `autotag train`):
//
//   - features.go: the frozen backbone runs once per (image, view) and the pooled
//     2048-d features are cached on disk as .npy files, K views per image (view 0 the
//     model's evaluation transform, views 1…K−1 data.Augment crops), keyed by the
//     backbone's sha256, its preprocessing, and for augmented views the augmentation
//     parameters and seed; extraction resumes where it stopped;
//   - head.go, graph.go: a linear or MLP head whose training graph is built in
//     Gorgonia; loss.go: weighted BCE (composed stably from softplus), asymmetric loss
//     (Ridnik et al. 2021) and focal loss (Lin et al. 2017);
//   - optim.go: AdamW with decoupled weight decay (Loshchilov & Hutter 2019) and a
//     cosine schedule with linear warm-up;
//   - loop.go, hooks.go: a training Loop with hooks (log, checkpoint, progress) and
//     early stopping on validation mAP; everything random derives from (seed, epoch),
//     so runs are bit-for-bit reproducible;
//   - checkpoint.go: atomic, rotated, sha256-checked checkpoints; a run killed at any
//     moment and resumed ends with the same weights as an uninterrupted one;
//   - metrics.go, calibrate.go, report.go, plots.go: mAP and per-class AP (as
//     scikit-learn computes them), CP/CR/CF1/OP/OR/OF1, per-label accuracy beside the
//     all-negative predictor's, per-class threshold calibration, text/JSON reports and
//     PNG plots (EvalModel, behind `autotag eval`);
//   - pipeline.go: the model file (DESIGN.md §4): head tensors fc.weight/fc.bias (or
//     fc.0.*, fc.2.*, … for an MLP), classes, thresholds, activation "sigmoid", and
//     backbone_sha256 (or the whole network with --bundle).
package train
