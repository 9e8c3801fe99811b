// Package data turns bytes into model inputs and datasets into training batches:
// decoding with a pixel cap, EXIF orientation, preprocessing driven by a model's
// metadata, datasets (COCO, Kaggle, YOLO, CSV), leakage-safe splits, the
// repeat-factor sampler and augmentation. Images reach the network one way: train's
// feature extraction decodes and preprocesses the next batch while the backbone runs
// the current one (train.ExtractFeatures).
//
// JPEGs decode with data/jpeg, bit-identical with image/jpeg and more than twice as
// fast; given the preprocessing an image is for (DecodeOptions.For), only the blocks
// its centre crop reads are reconstructed, and, with Reduce, a big JPEG is decoded at
// a reduced scale in the DCT domain.
package data

import "github.com/autotag/autotag/data/spec"

// Spec is a model's preprocessing (spec.Preprocess), which Preprocess applies.
type Spec = spec.Preprocess
