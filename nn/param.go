package nn

import (
	"gorgonia.org/tensor"
)

// Param is a trainable tensor of a layer, known by its torchvision state_dict name.
// Value is nil until Bind.
type Param struct {
	Name  string
	Shape tensor.Shape
	Value *tensor.Dense
}

// newParam declares a parameter named name with the given shape.
func newParam(name string, shape ...int) *Param {
	return &Param{Name: name, Shape: tensor.Shape(shape)}
}

// Stat is non-trainable running state (batch-norm running mean or variance): bound by
// name like a Param but never touched by an optimiser.
type Stat struct {
	Name  string
	Shape tensor.Shape
	Value *tensor.Dense
}

// newStat declares a running statistic named name with the given shape.
func newStat(name string, shape ...int) *Stat {
	return &Stat{Name: name, Shape: tensor.Shape(shape)}
}

// slot is what Bind sees of a Param or a Stat: a name, a wanted shape, a destination.
type slot struct {
	name  string
	shape tensor.Shape
	dst   **tensor.Dense
}

func (p *Param) slot() slot { return slot{p.Name, p.Shape, &p.Value} }
func (s *Stat) slot() slot  { return slot{s.Name, s.Shape, &s.Value} }
