package data

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// cocoFile is the part of a COCO instances JSON (Lin et al. 2014; cocodataset.org
// "Data format") that image-level labels need. Segmentations and boxes are skipped.
type cocoFile struct {
	Images []struct {
		ID       *int64 `json:"id"`
		FileName string `json:"file_name"`
	} `json:"images"`
	Annotations []struct {
		ImageID    *int64 `json:"image_id"`
		CategoryID *int   `json:"category_id"`
	} `json:"annotations"`
	Categories []struct {
		ID   *int   `json:"id"`
		Name string `json:"name"`
	} `json:"categories"`
}

// LoadCOCO reads a COCO instances JSON (2014 or 2017) with its image folder. When the
// categories are COCO's own (ids 1-90, 80 used), they map to the standard contiguous
// 0-79 order of COCOClasses even if the file lists only some of them; other category
// sets map in increasing id order. Images without annotations are kept as
// all-negative (counted as notes); annotations naming an unknown image or category
// are reported and skipped.
func LoadCOCO(annotations, imageDir string, opt LoadOptions) (*Dataset, error) {
	f, err := openRegular(annotations)
	if err != nil {
		return nil, fmt.Errorf("coco annotations: %w", err)
	}
	defer f.Close()
	p, err := parseCOCO(f, annotations)
	if err != nil {
		return nil, err
	}
	return p.build("coco annotations "+annotations, imageDir, opt)
}

// parseCOCO parses a COCO instances JSON stream; src names it in problems.
func parseCOCO(r io.Reader, src string) (*parsed, error) {
	var cf cocoFile
	if err := json.NewDecoder(r).Decode(&cf); err != nil {
		return nil, fmt.Errorf("coco annotations %s: %w", src, err)
	}
	if len(cf.Categories) == 0 {
		return nil, fmt.Errorf("coco annotations %s: no categories", src)
	}
	p := &parsed{report: &Report{}}
	catIndex, classes := cocoCategories(&cf, src, p.report)
	p.classes = classes

	imgIndex := make(map[int64]int, len(cf.Images))
	for i, im := range cf.Images {
		where := fmt.Sprintf("%s:images[%d]", src, i)
		switch {
		case im.ID == nil || strings.TrimSpace(im.FileName) == "":
			p.report.Add(Malformed, where, "image without id or file_name")
			continue
		case imgIndex[*im.ID] != 0:
			p.report.Add(Duplicate, where, "image id %d listed twice; second entry ignored", *im.ID)
			continue
		}
		p.entries = append(p.entries, entry{name: im.FileName, where: where})
		imgIndex[*im.ID] = len(p.entries) // 1-based so 0 means absent
	}
	for i, a := range cf.Annotations {
		where := fmt.Sprintf("%s:annotations[%d]", src, i)
		if a.ImageID == nil || a.CategoryID == nil {
			p.report.Add(Malformed, where, "annotation without image_id or category_id")
			continue
		}
		k, ok := imgIndex[*a.ImageID]
		if !ok {
			p.report.Add(Malformed, where, "image_id %d is not in images", *a.ImageID)
			continue
		}
		c, ok := catIndex[*a.CategoryID]
		if !ok {
			p.report.Add(UnknownClass, where, "category_id %d is not in categories", *a.CategoryID)
			continue
		}
		p.entries[k-1].labels = append(p.entries[k-1].labels, c)
	}
	for _, e := range p.entries {
		if len(e.labels) == 0 {
			p.report.Add(NoLabels, e.where, "%s has no annotations: kept as all-negative", e.name)
		}
	}
	return p, nil
}

// cocoCategories maps category ids to contiguous class indices: COCO's standard 80
// when the file's categories are a subset of them (same id, same name), else the
// file's own categories in increasing id order.
func cocoCategories(cf *cocoFile, src string, rep *Report) (map[int]int, []string) {
	standard := true
	seen := map[int]bool{}
	type cat struct {
		id   int
		name string
	}
	var cats []cat
	for i, c := range cf.Categories {
		where := fmt.Sprintf("%s:categories[%d]", src, i)
		if c.ID == nil || c.Name == "" {
			rep.Add(Malformed, where, "category without id or name")
			continue
		}
		if seen[*c.ID] {
			rep.Add(Duplicate, where, "category id %d listed twice; second ignored", *c.ID)
			continue
		}
		seen[*c.ID] = true
		cats = append(cats, cat{*c.ID, c.Name})
		k := slices.Index(COCOCategoryIDs, *c.ID)
		if k < 0 || !strings.EqualFold(COCOClasses[k], c.Name) {
			standard = false
		}
	}
	index := map[int]int{}
	if standard {
		for k, id := range COCOCategoryIDs {
			if seen[id] {
				index[id] = k
			}
		}
		return index, slices.Clone(COCOClasses)
	}
	slices.SortFunc(cats, func(a, b cat) int { return a.id - b.id })
	names := make([]string, len(cats))
	for k, c := range cats {
		index[c.id] = k
		names[k] = c.name
	}
	return index, names
}
