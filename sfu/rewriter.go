package sfu

import "time"

// rewriter maps the sequence numbers and timestamps of a source onto one
// subscriber's output stream so that the output stays continuous when
// packets are deliberately not forwarded (pause, mute, waiting for a
// keyframe) or when the source changes (a simulcast layer switch).
//
// Output is produced in segments. Within a segment the mapping is a fixed
// offset, so reordered packets keep their order and retransmissions map back
// to the source. A new segment starts after a gap or a source switch: its
// first packet gets the sequence number following the last one sent, and a
// timestamp that keeps the source's own timeline (same source) or advances
// by the wall-clock time since the last packet (new source).
type rewriter struct {
	clockRate uint32

	started   bool // at least one packet has been rewritten
	resync    bool // the next packet starts a new segment
	newSource bool // the next segment comes from a different source

	seqDelta uint16 // out = in - seqDelta
	tsDelta  uint32 // out = in - tsDelta
	segLen   uint16 // lastIn - first source seq of the current segment, saturating at maxSegLen
	lastIn   uint16 // highest source sequence number of the current segment

	// holes counts the source sequence numbers a segment skipped because
	// the source never had them (its publisher's loss), less those filled
	// late (a retransmission from the publisher): the subscriber counts
	// them lost, though its own path lost nothing.
	holes int64

	lastSeq  uint16 // highest output sequence number
	lastTS   uint32 // output timestamp of lastSeq
	lastTime int64  // wall clock (ns) when lastSeq was produced

	// The segments before the current one, of the same source, for
	// sourceRecent: a ring, newest at past[(pastAt-1)%len], pastLen valid.
	past            [pastSegments]segment
	pastAt, pastLen int
}

// pastSegments is how many earlier segments a rewriter remembers: with
// the upper layers of a VP9 SVC stream left out, two a picture, about 8
// pictures, a quarter of a second at 30 frames a second.
const pastSegments = 16

// segment is the mapping of an earlier segment: output sequence numbers
// first to last, out = in - seqDelta.
type segment struct {
	first, last uint16
	seqDelta    uint16
	tsDelta     uint32
}

// newRewriter returns a rewriter whose first output packet carries firstSeq
// and firstTS.
func newRewriter(clockRate uint32, firstSeq uint16, firstTS uint32) rewriter {
	if clockRate == 0 {
		clockRate = 90000
	}
	return rewriter{
		clockRate: clockRate,
		resync:    true,
		newSource: true,
		lastSeq:   firstSeq - 1,
		lastTS:    firstTS,
	}
}

// gap records that a packet of the source was not forwarded: the next
// forwarded packet starts a new segment right after the last one sent.
func (r *rewriter) gap() { r.resync = true }

// switchSource records that the next packet comes from another source with
// unrelated sequence numbers and timestamps.
func (r *rewriter) switchSource() {
	r.resync = true
	r.newSource = true
}

// maxSegLen caps rewriter.segLen: half the sequence number space, beyond
// which older and newer cannot be told apart anyway.
const maxSegLen = 1 << 15

// rewrite returns the output sequence number and timestamp of a source
// packet received at now (ns), or ok=false if the packet predates the
// current segment and must be dropped.
func (r *rewriter) rewrite(seq uint16, ts uint32, now int64) (outSeq uint16, outTS uint32, ok bool) {
	if r.resync {
		r.startSegment(seq, ts, now)
	}
	newer := int16(seq - r.lastIn)
	if newer <= 0 && uint16(-int32(newer)) > r.segLen {
		return 0, 0, false
	}
	outSeq, outTS = seq-r.seqDelta, ts-r.tsDelta
	switch {
	case newer > 1:
		r.holes += int64(newer - 1)
	case newer < 0 && r.holes > 0:
		r.holes--
	}
	if newer > 0 {
		r.segLen = min(r.segLen+uint16(newer), maxSegLen)
		r.lastIn, r.lastSeq, r.lastTS, r.lastTime = seq, outSeq, outTS, now
	}
	return outSeq, outTS, true
}

func (r *rewriter) startSegment(seq uint16, ts uint32, now int64) {
	outSeq := r.lastSeq + 1
	outTS := r.lastTS
	if r.started {
		sameTimeline := ts - r.tsDelta
		if !r.newSource && int32(sameTimeline-r.lastTS) > 0 {
			outTS = sameTimeline
		} else {
			outTS = r.lastTS + r.ticksSince(now)
		}
	}
	switch {
	case r.newSource:
		r.pastLen = 0
	case r.started:
		r.past[r.pastAt] = segment{first: r.lastIn - r.segLen - r.seqDelta, last: r.lastSeq, seqDelta: r.seqDelta, tsDelta: r.tsDelta}
		r.pastAt = (r.pastAt + 1) % pastSegments
		r.pastLen = min(r.pastLen+1, pastSegments)
	}
	r.seqDelta, r.tsDelta = seq-outSeq, ts-outTS
	r.segLen, r.lastIn = 0, seq
	r.lastSeq, r.lastTS, r.lastTime = outSeq, outTS, now
	r.started, r.resync, r.newSource = true, false, false
}

// ticksSince converts the wall-clock time since the last output packet into
// RTP ticks, at least one so that timestamps always advance.
func (r *rewriter) ticksSince(now int64) uint32 {
	d := now - r.lastTime
	if d <= 0 {
		return 1
	}
	sec, frac := uint64(d/int64(time.Second)), uint64(d%int64(time.Second))
	ticks := sec*uint64(r.clockRate) + frac*uint64(r.clockRate)/uint64(time.Second)
	if ticks == 0 {
		return 1
	}
	return uint32(ticks)
}

// source maps an output sequence number back to the source sequence number
// and the timestamp offset that was applied, for answering NACKs. Only packets
// of the current segment can be mapped.
func (r *rewriter) source(outSeq uint16) (seq uint16, tsDelta uint32, ok bool) {
	if !r.started {
		return 0, 0, false
	}
	seq = outSeq + r.seqDelta
	if back := int16(r.lastIn - seq); back < 0 || uint16(back) > r.segLen {
		return 0, 0, false
	}
	return seq, r.tsDelta, true
}

// sourceRecent is source for the current segment and the ones before it of
// the same source (up to pastSegments): a packet whose deltas are the same
// ever since it was sent (no VP8 picture IDs rewritten), as with a VP9 SVC
// stream whose upper layers are left out.
func (r *rewriter) sourceRecent(outSeq uint16) (seq uint16, tsDelta uint32, ok bool) {
	if seq, tsDelta, ok = r.source(outSeq); ok {
		return seq, tsDelta, true
	}
	for i := 1; i <= r.pastLen; i++ {
		s := r.past[(r.pastAt-i+pastSegments)%pastSegments]
		if int16(outSeq-s.first) >= 0 && int16(s.last-outSeq) >= 0 {
			return outSeq + s.seqDelta, s.tsDelta, true
		}
	}
	return 0, 0, false
}
