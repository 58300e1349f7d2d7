package sfu

// vp8Descriptor is what the engine reads of a VP8 payload descriptor
// (RFC 7741 section 4.2): the fields a forwarder rewrites or filters on.
type vp8Descriptor struct {
	picID    uint16 // picture ID, if picIDLen > 0
	picIDLen uint8  // 0 (absent), 7 or 15 bits
	hasTL0   bool
	tl0      uint8 // TL0PICIDX
	hasTID   bool
	tid      uint8 // temporal layer
	sync     bool  // Y: the frame depends only on temporal layer 0
	start    bool  // S=1 and partition 0: the first packet of a frame
	// Offsets into the payload of the picture ID and TL0PICIDX, for
	// rewriting; 0 when absent.
	picOff, tl0Off uint8
}

// parseVP8 parses the payload descriptor at the start of a VP8 payload.
func parseVP8(p []byte) (d vp8Descriptor, ok bool) {
	if len(p) < 1 {
		return d, false
	}
	b0 := p[0]
	d.start = b0&0x10 != 0 && b0&0x07 == 0
	if b0&0x80 == 0 {
		return d, true
	}
	if len(p) < 2 {
		return d, false
	}
	x := p[1]
	i := 2
	if x&0x80 != 0 { // I
		if len(p) <= i {
			return d, false
		}
		d.picOff = uint8(i)
		if p[i]&0x80 != 0 {
			if len(p) <= i+1 {
				return d, false
			}
			d.picID, d.picIDLen = uint16(p[i]&0x7f)<<8|uint16(p[i+1]), 15
			i += 2
		} else {
			d.picID, d.picIDLen = uint16(p[i]), 7
			i++
		}
	}
	if x&0x40 != 0 { // L
		if len(p) <= i {
			return d, false
		}
		d.hasTL0, d.tl0, d.tl0Off = true, p[i], uint8(i)
		i++
	}
	if x&0x30 != 0 { // T or K
		if len(p) <= i {
			return d, false
		}
		if x&0x20 != 0 {
			d.hasTID, d.tid, d.sync = true, p[i]>>6, p[i]&0x20 != 0
		}
	}
	return d, true
}

// rewriteVP8 rewrites in place the picture ID and TL0PICIDX of a VP8 payload
// whose descriptor is d: out = in - delta, in the field's own width.
func rewriteVP8(p []byte, d *vp8Descriptor, picDelta uint16, tl0Delta uint8) {
	if d.picIDLen == 15 {
		pic := (d.picID - picDelta) & 0x7fff
		p[d.picOff] = 0x80 | byte(pic>>8)
		p[d.picOff+1] = byte(pic)
	} else if d.picIDLen == 7 {
		p[d.picOff] = byte(d.picID-picDelta) & 0x7f
	}
	if d.hasTL0 {
		p[d.tl0Off] = d.tl0 - tl0Delta
	}
}

// vp8KeyframeSize reads the frame size from the first packet of a VP8 key
// frame (RFC 6386 section 9.1), after the payload descriptor.
func vp8KeyframeSize(p []byte) (width, height int, ok bool) {
	i := 1
	if p[0]&0x80 != 0 {
		if len(p) < 2 {
			return 0, 0, false
		}
		x := p[1]
		i = 2
		if x&0x80 != 0 {
			if len(p) <= i {
				return 0, 0, false
			}
			if p[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if x&0x40 != 0 {
			i++
		}
		if x&0x30 != 0 {
			i++
		}
	}
	h := p[min(i, len(p)):]
	if len(h) < 10 || h[0]&0x01 != 0 || h[3] != 0x9d || h[4] != 0x01 || h[5] != 0x2a {
		return 0, 0, false
	}
	width = int(h[6]) | int(h[7]&0x3f)<<8
	height = int(h[8]) | int(h[9]&0x3f)<<8
	return width, height, true
}

// vp8Munger keeps one subscriber's VP8 picture IDs and TL0PICIDX continuous
// when its source changes (a simulcast layer switch) or when it skips whole
// frames (temporal layers filtered out), so that the decoder sees no missing
// picture.
type vp8Munger struct {
	started  bool
	resync   bool   // the next frame comes from another source
	picDelta uint16 // out = in - picDelta (mod 2^15)
	tl0Delta uint8  // out = in - tl0Delta
	lastPic  uint16 // highest output picture ID
	lastTL0  uint8  // highest output TL0PICIDX
	skipped  uint16 // the last picture ID skipped, +1 (0: none)
}

// switchSource records that the next frame comes from another source.
func (m *vp8Munger) switchSource() { m.resync = true }

// forward returns the deltas to apply to a forwarded packet.
func (m *vp8Munger) forward(d *vp8Descriptor) (picDelta uint16, tl0Delta uint8) {
	if d.picIDLen == 0 {
		return 0, 0
	}
	if m.resync || !m.started {
		if m.started {
			m.picDelta = (d.picID - m.lastPic - 1) & 0x7fff
			m.tl0Delta = d.tl0 - m.lastTL0 - 1
		}
		m.started, m.resync = true, false
		m.lastPic = (d.picID - m.picDelta) & 0x7fff
		m.lastTL0 = d.tl0 - m.tl0Delta
		return m.picDelta, m.tl0Delta
	}
	if out := (d.picID - m.picDelta) & 0x7fff; int16((out-m.lastPic)<<1) > 0 {
		m.lastPic = out
	}
	if d.hasTL0 {
		if out := d.tl0 - m.tl0Delta; int8(out-m.lastTL0) > 0 {
			m.lastTL0 = out
		}
	}
	return m.picDelta, m.tl0Delta
}

// skip records a packet of a frame that is not forwarded: later pictures
// are numbered as if it never existed.
func (m *vp8Munger) skip(d *vp8Descriptor) {
	if d.picIDLen == 0 || !m.started || m.skipped == d.picID+1 {
		return
	}
	m.skipped = d.picID + 1
	m.picDelta++
}
