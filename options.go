package autotag

import (
	"fmt"

	"github.com/autotag/autotag/nn"
)

// Option configures Open.
type Option func(*options) error

// options are the settings Open collects; zero values mean "the default".
type options struct {
	threshold *float64
	topK      int
	workers   int
	batch     int
	maxPixels int
	maxBytes  int64
	rules     *Rules
	rulesSet  bool // WithRules or WithoutRules was given
	fast      bool // WithFastDecode was given
	engine    nn.Engine
}

// DefaultWorkers is the number of forward passes a Tagger runs at once unless
// WithWorkers says otherwise. One is right for most machines: the engine already
// spreads each forward pass over all cores, and every worker holds its own
// activation buffers.
const DefaultWorkers = 1

// Default thresholds, used when neither the caller, a rule nor the model file gives
// one: a softmax spreads probability over many classes, so a lower bar is meaningful
// there than for independent sigmoid outputs.
const (
	DefaultSoftmaxThreshold = 0.1
	DefaultSigmoidThreshold = 0.5
)

// WithThreshold sets the minimum score of a reported tag, overriding per-tag
// thresholds from rules and the model file. It must be in [0,1].
func WithThreshold(th float64) Option {
	return func(o *options) error {
		if !(th >= 0 && th <= 1) {
			return fmt.Errorf("threshold %v is outside [0,1]", th)
		}
		o.threshold = &th
		return nil
	}
}

// WithTopK reports at most k tags per image (the best ones); 0 means no limit (the
// default: thresholds alone decide).
func WithTopK(k int) Option {
	return func(o *options) error {
		if k < 0 {
			return fmt.Errorf("top-k %d is negative", k)
		}
		o.topK = k
		return nil
	}
}

// WithWorkers sets how many forward passes may run at once (default DefaultWorkers).
// Each worker owns compiled graphs and their buffers (tens of MB per image of batch).
func WithWorkers(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 256 {
			return fmt.Errorf("workers %d: want 1 to 256", n)
		}
		o.workers = n
		return nil
	}
}

// WithBatchSize lets TagBatch and Probabilities run up to n images per forward pass
// (default 1). Every worker then also holds a graph for batch size n.
func WithBatchSize(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 1024 {
			return fmt.Errorf("batch size %d: want 1 to 1024", n)
		}
		o.batch = n
		return nil
	}
}

// WithMaxPixels caps the pixels of an image TagReader will decode (width × height,
// checked from the header before decoding); 0 means data.DefaultMaxPixels.
func WithMaxPixels(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("max pixels %d is negative", n)
		}
		o.maxPixels = n
		return nil
	}
}

// WithMaxBytes caps the encoded size of an image TagReader and DecodeBytes accept;
// 0 means data.DefaultMaxBytes. TagReader checks a file's size (and its header's
// pixel count) before reading it.
func WithMaxBytes(n int64) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("max bytes %d is negative", n)
		}
		o.maxBytes = n
		return nil
	}
}

// WithRules maps the model's labels through r (see Rules) instead of the default.
// A nil r is the same as WithoutRules.
func WithRules(r *Rules) Option {
	return func(o *options) error {
		o.rules, o.rulesSet = r, true
		return nil
	}
}

// WithoutRules reports the model's own labels, even for an ImageNet model that would
// get DefaultRules.
func WithoutRules() Option {
	return func(o *options) error {
		o.rules, o.rulesSet = nil, true
		return nil
	}
}

// WithFastDecode lets TagReader and DecodeBytes decode a JPEG whose shorter side is
// at least four times the model's resize (1024 pixels for a 256-pixel resize; a
// 12-megapixel phone photo decodes at 1/4) at 1/2, 1/4 or 1/8 scale in the DCT
// domain (data.DecodeOptions.Reduce), keeping it at least twice the resize. That skips most of the
// inverse DCT, colour and resampling work of big photos; the probabilities are then
// close to, not identical with, those of a full decode: on the shared photos (at
// half the scale) they move as much as downscaling the photo 2× with an exact box
// filter first would, top-1 classes almost always kept, and about twice as much as
// re-encoding it at JPEG quality 90 (TestReducedDecodeAgreement measures both). Off by
// default. Either way only the part of the photo the centre crop reads is
// reconstructed, which changes nothing.
func WithFastDecode() Option {
	return func(o *options) error {
		o.fast = true
		return nil
	}
}

// WithEngine chooses the engine's kernels for this Tagger's network (see nn.Engine;
// the default, the zero Engine, has every optimisation on). Results agree to float32
// rounding whichever kernels run; it exists for measurements and for CPUs where an
// optimisation does not pay.
func WithEngine(e nn.Engine) Option {
	return func(o *options) error {
		o.engine = e
		return nil
	}
}
