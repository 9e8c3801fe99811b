package nn

// Conv2D is a 2-D convolution layer (NCHW, weights OIHW as in PyTorch) with square
// kernel, stride and zero padding. Bias is nil in layouts whose convolutions have none.
type Conv2D struct {
	Weight *Param // [out, in, k, k]
	Bias   *Param // [out] or nil
	Kernel int
	Stride int
	Pad    int
}

// newConv2D declares the convolution prefix.weight (and prefix.bias when bias is set).
func newConv2D(prefix string, in, out, kernel, stride, pad int, bias bool) *Conv2D {
	c := &Conv2D{
		Weight: newParam(prefix+".weight", out, in, kernel, kernel),
		Kernel: kernel, Stride: stride, Pad: pad,
	}
	if bias {
		c.Bias = newParam(prefix+".bias", out)
	}
	return c
}

// In and Out are the channel counts.
func (c *Conv2D) In() int  { return c.Weight.Shape[1] }
func (c *Conv2D) Out() int { return c.Weight.Shape[0] }

// OutSize is the spatial output size for an input of size n.
func (c *Conv2D) OutSize(n int) int { return convOutSize(n, c.Kernel, c.Stride, c.Pad) }

// convOutSize is floor((n + 2·pad − k) / stride) + 1.
func convOutSize(n, k, stride, pad int) int { return (n+2*pad-k)/stride + 1 }

func (c *Conv2D) slots() []slot {
	s := []slot{c.Weight.slot()}
	if c.Bias != nil {
		s = append(s, c.Bias.slot())
	}
	return s
}
