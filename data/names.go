package data

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/autotag/autotag/internal/safedoc"
)

// COCOClasses are the 80 COCO object categories in the standard contiguous order 0-79
// (category ids 1-90 sorted; Lin et al. 2014), as used by YOLO label files and
// multi-label COCO benchmarks.
var COCOClasses = []string{
	"person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
	"traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
	"horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
	"handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
	"baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
	"wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
	"broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
	"bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
	"microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
	"teddy bear", "hair drier", "toothbrush",
}

// COCOCategoryIDs are the COCO instances-JSON category ids (1-90, 11 unused) of
// COCOClasses, index for index.
var COCOCategoryIDs = []int{
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28,
	31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55,
	56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84,
	85, 86, 87, 88, 89, 90,
}

// Limits on a class-name file (a names list or a YOLO data yaml). ImageNet-21k's
// names are well under a megabyte; a file beyond these is refused before it is read.
const (
	MaxNamesBytes = 16 << 20 // largest names file, bytes
	MaxNamesDepth = 32       // deepest YAML nesting of sequences and mappings
	MaxNamesNodes = 1 << 21  // most YAML nodes, aliases counted as what they expand to
	maxClassID    = MaxClasses - 1
)

// MaxClasses bounds the classes of a dataset, from its names file, its categories,
// its tags or its largest class id. A model learns a row of weights per class (and
// training allocates several copies of them), so a dataset naming millions of classes
// would exhaust memory long after loading; real label sets (ImageNet-21k, Open Images)
// are well under it.
const MaxClasses = 1 << 16

var namesLimits = safedoc.Limits{MaxBytes: MaxNamesBytes, MaxDepth: MaxNamesDepth, MaxNodes: MaxNamesNodes}

// ReadNames reads a class-name list: either a plain list (one name per line, as
// darknet's coco.names or YOLO's classes.txt; blank lines and # comments skipped) or a
// YOLO data yaml whose `names:` is a list (`- person`, or `[person, bicycle]`) or a
// mapping from class id to name (`0: person`). The file must be a regular file of at
// most MaxNamesBytes.
func ReadNames(path string) ([]string, error) {
	b, err := safedoc.ReadFile(path, MaxNamesBytes)
	if err != nil {
		return nil, fmt.Errorf("class names: %w", err)
	}
	var names []string
	if strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml") || yamlNamesKey(b) {
		names, err = parseYAMLNames(b)
	} else {
		names, err = parseNamesList(b)
	}
	if err != nil {
		return nil, fmt.Errorf("class names %s: %w", path, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("class names %s: no names", path)
	}
	return names, nil
}

func yamlNamesKey(b []byte) bool {
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "names:") {
			return true
		}
	}
	return false
}

func parseNamesList(b []byte) ([]string, error) {
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		names = append(names, s)
	}
	return names, sc.Err()
}

// parseYAMLNames reads the top-level `names:` key of a YOLO data yaml (other keys are
// ignored) within namesLimits.
func parseYAMLNames(b []byte) ([]string, error) {
	root, err := safedoc.ParseYAML(b, namesLimits)
	if err != nil {
		return nil, err
	}
	root = resolveAlias(root)
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping with a names: key", root.Line)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k := resolveAlias(root.Content[i]); k.Kind == yaml.ScalarNode && k.Value == "names" {
			return yamlNames(resolveAlias(root.Content[i+1]))
		}
	}
	return nil, fmt.Errorf("no top-level names: key")
}

// yamlNames reads a names: value, a list of names or an id → name mapping whose ids
// are 0..N-1 without gaps.
func yamlNames(v *yaml.Node) ([]string, error) {
	name := func(n *yaml.Node) (string, error) {
		n = resolveAlias(n)
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || strings.TrimSpace(n.Value) == "" {
			return "", fmt.Errorf("line %d: a class name must be a non-empty scalar", n.Line)
		}
		return strings.TrimSpace(n.Value), nil
	}
	switch v.Kind {
	case yaml.SequenceNode:
		names := make([]string, 0, len(v.Content))
		for _, item := range v.Content {
			s, err := name(item)
			if err != nil {
				return nil, err
			}
			names = append(names, s)
		}
		return names, nil
	case yaml.MappingNode:
		byID := map[int]string{}
		maxID := -1
		for i := 0; i+1 < len(v.Content); i += 2 {
			k := resolveAlias(v.Content[i])
			id, err := strconv.Atoi(k.Value)
			if k.Kind != yaml.ScalarNode || err != nil || id < 0 || id > maxClassID {
				return nil, fmt.Errorf("line %d: class id %q is not an integer in 0..%d", k.Line, truncate(k.Value, 20), maxClassID)
			}
			if _, dup := byID[id]; dup {
				return nil, fmt.Errorf("line %d: class id %d given twice", k.Line, id)
			}
			s, err := name(v.Content[i+1])
			if err != nil {
				return nil, err
			}
			byID[id] = s
			maxID = max(maxID, id)
		}
		names := make([]string, maxID+1)
		for id := range names {
			n, ok := byID[id]
			if !ok {
				return nil, fmt.Errorf("line %d: names: class id %d missing (ids must be 0..%d)", v.Line, id, maxID)
			}
			names[id] = n
		}
		return names, nil
	}
	return nil, fmt.Errorf("line %d: names: want a list or an id: name mapping", v.Line)
}

// resolveAlias follows YAML aliases to the node they name; ParseYAML has checked that
// every alias resolves.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}
