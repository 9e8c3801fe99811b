package spec

import (
	"math"
	"testing"
)

// TestPresetsValid: the presets the importers write validate, and a hostile value in
// any field is refused.
func TestPresetsValid(t *testing.T) {
	for name, p := range map[string]Preprocess{"caffe": Caffe(), "torchvision": Torchvision()} {
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, spoil := range map[string]func(*Preprocess){
		"crop > resize":  func(p *Preprocess) { p.Crop = p.Resize + 1 },
		"huge resize":    func(p *Preprocess) { p.Resize = MaxResize + 1 },
		"NaN mean":       func(p *Preprocess) { p.Mean[1] = float32(math.NaN()) },
		"zero std":       func(p *Preprocess) { p.Std[2] = 0 },
		"tiny std":       func(p *Preprocess) { p.Std[0] = 1e-45 },
		"colour":         func(p *Preprocess) { p.Color = "cmyk" },
		"interpolation":  func(p *Preprocess) { p.Interpolation = "sinc" },
		"infinite scale": func(p *Preprocess) { p.Scale = float32(math.Inf(1)) },
	} {
		p := Torchvision()
		spoil(&p)
		if err := p.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
