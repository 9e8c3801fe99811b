// Package autotag tags photos with a ResNet50 (He et al. 2015) built in Gorgonia: the
// embeddable API behind the autotag command and server.
//
// Open a model (a file, or a name in the model cache filled by `autotag weights
// import`), then tag images; a Tagger is safe for concurrent use:
//
//	t, err := autotag.Open(ctx, "")           // "" = the default cached model
//	if err != nil { … }
//	defer t.Close()
//	tags, err := t.Tag(ctx, img)             // []autotag.Tag{{Label: "dog", Score: 0.97}, …}
//
// The pipeline is the model file's own: decode (pixel cap before decoding, EXIF
// orientation), preprocessing from the file's metadata (resize, centre crop, colour
// order, mean/std), the ResNet50 forward pass, softmax (ImageNet) or sigmoid
// (multi-label heads), then Select: label rules, thresholds and top-k.
//
// Label rules (Rules) turn a model's labels into the tags people want. A 1000-class
// ImageNet model gets DefaultRules unless told otherwise: its 118 dog breeds become
// "dog", its cats "cat", its birds "bird", and so on for every COCO category
// ImageNet can express; other labels are kept as they are.
package autotag
