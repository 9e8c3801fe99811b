package jpeg

// Precheck applies o.Limits to a JPEG without decoding it, for a caller that hands
// a file Decode refused as ErrUnsupported to another decoder (such as image/jpeg,
// which can be neither bounded nor cancelled once it starts). It walks the marker segments, skips each scan's
// entropy-coded data to the next marker, and charges every scan header against the
// frame header's geometry exactly as Decode does, failing with ErrLimit when the
// file asks for too much. Structural errors are left to the decoder that follows:
// Precheck returns nil for anything it cannot make sense of. It stops early, with
// the context's error, when o.Context is done. Its cost is one pass over the bytes.
func Precheck(data []byte, o Options) error {
	meter := newWorkMeter(o.Limits, len(data))
	cancel := newCanceller(o.Context)
	var g precheckFrame
	seenSOF := false
	return segments(data, func(marker byte, seg []byte) (bool, error) {
		switch {
		case isSOF(marker):
			if seenSOF || !g.parse(seg) {
				return false, nil
			}
			seenSOF = true
			g.process = marker
		case marker == sosMarker:
			if !seenSOF || len(seg) < 1 {
				return false, nil
			}
			ns := int(seg[0])
			if ns < 1 || ns > maxComponents || len(seg) < 1+2*ns+3 {
				return false, nil
			}
			var cis []int
			for i := 0; i < ns; i++ {
				ci := g.index(seg[1+2*i])
				if ci < 0 {
					return false, nil
				}
				cis = append(cis, ci)
			}
			zs, ze := 0, 63
			if g.progressive() {
				zs, ze = int(seg[1+2*ns]), int(seg[2+2*ns])
				if zs > ze || ze > 63 {
					return false, nil
				}
			}
			if err := cancel.err(); err != nil {
				return false, err
			}
			if err := meter.charge(&g.frameGeometry, cis, zs, ze); err != nil {
				return false, err
			}
		}
		return true, nil
	})
}

// CoefficientBytes is the memory Decode keeps for a progressive JPEG's coefficients
// until its last scan (64 int32 per block of every component, padded to whole
// MCUs), read from the frame header without decoding; 0 for a sequential JPEG or
// anything it cannot read. A caller budgeting decoded images adds it to the
// image's own size: for a 4:4:4 progressive photo it is three times that size.
func CoefficientBytes(data []byte) int64 {
	var n int64
	segments(data, func(marker byte, seg []byte) (bool, error) {
		if !isSOF(marker) {
			return marker != sosMarker, nil
		}
		g := precheckFrame{process: marker}
		if g.parse(seg) && g.progressive() {
			for ci := 0; ci < g.nComp; ci++ {
				n += 64 * 4 * g.blocks(ci)
			}
		}
		return false, nil
	})
	return n
}

// segments calls fn with each marker segment of a JPEG (its marker and body) in
// order, skipping fill bytes, standalone markers and each scan's entropy-coded
// data, until EOI, the end of the data, a malformed length, fn returning false,
// or fn's error, which it returns.
func segments(data []byte, fn func(marker byte, seg []byte) (bool, error)) error {
	if len(data) < 2 || data[0] != 0xff || data[1] != soiMarker {
		return nil
	}
	pos := 2 // after SOI
	for pos+1 < len(data) {
		if data[pos] != 0xff {
			pos++ // junk between segments, which image/jpeg skips
			continue
		}
		marker := data[pos+1]
		switch {
		case marker == 0xff:
			pos++ // fill byte
			continue
		case marker == 0 || rst0Marker <= marker && marker <= rst7Marker || marker == 0x01:
			pos += 2
			continue
		case marker == eoiMarker:
			return nil
		}
		if pos+4 > len(data) {
			return nil
		}
		n := int(data[pos+2])<<8 | int(data[pos+3]) - 2
		body := pos + 4
		if n < 0 || body+n > len(data) {
			return nil
		}
		pos = body + n
		more, err := fn(marker, data[body:pos])
		if err != nil || !more {
			return err
		}
		if marker == sosMarker {
			pos = skipEntropyData(data, pos)
		}
	}
	return nil
}

// precheckFrame is a frame header as Precheck reads it: any SOFn, one to four
// components, the identifiers scans refer to.
type precheckFrame struct {
	frameGeometry
	process byte // the SOF marker
	ids     [maxComponents]byte
}

// progressive reports whether the frame is progressive (SOF2, or the SOF6, SOF10,
// SOF14 variants Decode refuses), whose scans carry a spectral band.
func (g *precheckFrame) progressive() bool {
	m := g.process
	return m == sof2Marker || m == 0xc6 || m == 0xca || m == 0xce
}

// isSOF reports whether marker is one of the SOFn markers (T.81 Table B.1).
func isSOF(marker byte) bool {
	return 0xc0 <= marker && marker <= 0xcf && marker != dhtMarker && marker != 0xc8 && marker != dacMarker
}

// parse reads a SOF segment's body; false when it is malformed.
func (g *precheckFrame) parse(seg []byte) bool {
	if len(seg) < 6 {
		return false
	}
	g.height = int(seg[1])<<8 | int(seg[2])
	g.width = int(seg[3])<<8 | int(seg[4])
	g.nComp = int(seg[5])
	if g.nComp < 1 || g.nComp > maxComponents || len(seg) < 6+3*g.nComp {
		return false
	}
	for i := 0; i < g.nComp; i++ {
		g.ids[i] = seg[6+3*i]
		hv := seg[7+3*i]
		g.h[i], g.v[i] = max(int(hv>>4), 1), max(int(hv&0x0f), 1)
		if g.nComp == 1 {
			g.h[i], g.v[i] = 1, 1
		}
	}
	return true
}

// index is the component with identifier id, or -1.
func (g *precheckFrame) index(id byte) int {
	for i := 0; i < g.nComp; i++ {
		if g.ids[i] == id {
			return i
		}
	}
	return -1
}

// skipEntropyData returns the position of the first marker at or after pos that
// ends a scan's entropy-coded data: 0xff followed by neither a stuffed zero, a
// restart marker nor another fill byte.
func skipEntropyData(data []byte, pos int) int {
	for pos+1 < len(data) {
		if data[pos] != 0xff {
			pos++
			continue
		}
		m := data[pos+1]
		if m == 0 || rst0Marker <= m && m <= rst7Marker {
			pos += 2
			continue
		}
		if m == 0xff {
			pos++
			continue
		}
		return pos
	}
	return len(data)
}
