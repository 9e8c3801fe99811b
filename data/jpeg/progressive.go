package jpeg

// decodeProgressiveScan decodes one scan of a progressive JPEG.
func (d *decoder) decodeProgressiveScan(s *scan) error {
	return unsupported("progressive JPEG")
}

// reconstructProgressive turns the accumulated coefficients into samples.
func (d *decoder) reconstructProgressive() {}
