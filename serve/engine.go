package serve

import (
	"context"
	"image"

	"github.com/autotag/autotag"
)

// Tag, Selection and ModelInfo are the library's own types: the HTTP API returns
// exactly what the Go API does.
type (
	Tag       = autotag.Tag
	Selection = autotag.Selection
	ModelInfo = autotag.ModelInfo
)

// Engine is what the server needs from a model: batched probabilities, the
// thresholds/top-k/label-rules selection, and a description. *autotag.Tagger fits it
// directly; tests use a fast fake.
//
// Probabilities must be safe for concurrent use: the server calls it from several
// batch workers at once.
type Engine interface {
	Probabilities(ctx context.Context, imgs []image.Image) ([][]float32, error)
	Select(probs []float32, sel Selection) []Tag
	Info() ModelInfo
}

// Closer is implemented by engines that hold resources; the server closes an engine
// that a reload replaced, once no batch is using it any more.
type Closer interface{ Close() error }

// Decoder is implemented by engines that decode uploads for themselves, knowing what
// their preprocessing reads: *autotag.Tagger decodes a JPEG only as far as its centre
// crop needs, in the DCT domain at reduced scale when the photo is big (see
// autotag.Tagger.DecodeBytes). The image it returns is only fit for that engine; the
// server decodes again should a reload swap the engine before the image's batch runs.
// Without it, or with Config.Decode set, the server decodes every pixel (data.Decode).
type Decoder interface {
	DecodeBytes(b []byte) (image.Image, error)
}

// Preparer is implemented by engines that preprocess an image ahead of its batch
// (*autotag.Tagger: Prepare and ProbabilitiesOf). The server then preprocesses each
// upload in the goroutine that decoded it, frees the decoded photo at once (its
// decode budget too) and queues the small model input, so a batch is the forward
// pass alone. Should a reload swap the engine first, the server decodes and prepares
// the upload again for the new one.
type Preparer interface {
	Prepare(img image.Image) (*autotag.Input, error)
	ProbabilitiesOf(ctx context.Context, ins []*autotag.Input) ([][]float32, error)
}
