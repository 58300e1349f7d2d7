package sfu

import "github.com/pion/rtp/codecs"

// vp9Descriptor is what the engine reads of a VP9 payload descriptor
// (RFC 9628 section 4.2): the layers of a packet, and where its frame
// starts and ends, for forwarding some of the layers of an SVC stream.
type vp9Descriptor struct {
	layered  bool  // the layer indices are present (L)
	sid, tid uint8 // spatial and temporal layer
	start    bool  // B: the first packet of a layer frame
	end      bool  // E: the last packet of a layer frame
	switchUp bool  // U: higher temporal layers may be added from this frame on
}

// vp9Parser reads VP9 payload descriptors with Pion's parser, whose buffers
// it reuses: once they have grown to a stream's scalability structure,
// parsing does not allocate.
type vp9Parser struct {
	pkt codecs.VP9Packet
}

// vp9Structure is what the engine reads of a scalability structure (SS):
// how many spatial layers a stream has (0: no SS in the packet) and their
// frame sizes, lowest first, if given.
type vp9Structure struct {
	layers          int
	widths, heights []uint16
}

// parse reads the descriptor at the start of a VP9 payload, and the
// scalability structure if it has one (its sizes are valid until the next
// parse).
func (v *vp9Parser) parse(payload []byte) (d vp9Descriptor, ss vp9Structure, ok bool) {
	p := &v.pkt
	// Pion appends to these across calls; start them empty each time.
	p.PDiff, p.PGTID, p.PGU = p.PDiff[:0], p.PGTID[:0], p.PGU[:0]
	if _, err := p.Unmarshal(payload); err != nil {
		return d, ss, false
	}
	d = vp9Descriptor{layered: p.L, sid: p.SID, tid: p.TID, start: p.B, end: p.E, switchUp: p.U}
	if p.V {
		ss.layers = int(p.NS) + 1
		if p.Y {
			ss.widths, ss.heights = p.Width[:ss.layers], p.Height[:ss.layers]
		}
	}
	return d, ss, true
}
