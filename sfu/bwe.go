package sfu

import "time"

// Bandwidth adaptation. A DownTrack watches its subscriber for signs of
// congestion: loss over 10% between two receiver reports, NACKs for over
// 20% of the packets sent in the last half second (a NACK is repeated
// until the packet comes, so random loss of a few percent stays under
// that), or a REMB (the subscriber's own
// delay-based estimate, from the abs-send-time the engine puts on forwarded
// video) falling by over an eighth to below 3/4 of the bitrate of the layer
// sent. At the first sign it caps the video just
// under the bitrate of the layer it forwards, so selectLayer steps down to
// the best layer under the cap at once, or stops the video if none fits;
// it stops forwarding the congested layer at once too, so that the lower
// layer's keyframe finds the bottleneck's queue drained. On the lowest layer
// it takes congestion twice in a row (the second sign at least 2 s after the
// first, with no quiet spell between) to stop the video.
// Signals in the two seconds after that, and after the switch to the lower
// layer (at its keyframe), may still be about the layer left (a receiver
// report covers about a second, NACKs go on until the loss is repaired):
// they are ignored. Now and then (2 s after congestion, doubling after each failed
// attempt up to 30 s) it tries the next layer up beyond the cap (a probe):
// kept, with the cap raised above it, if no sign of congestion comes for
// 3 s; dropped at the first one. Without congestion nothing is capped.
//
// What the subscriber lost because its publisher's link lost it is not
// counted: the holes such loss leaves in the stream forwarded are taken
// from the reports' loss, and NACKs count only for packets the engine has.
//
// Pion's send-side GCC (pion/interceptor pkg/gcc) was not used: it needs a
// pacer and a transport-wide sequence number on every forwarded packet, with
// per-packet allocations in its feedback history; and Chrome's REMB alone
// cannot be the cap, as it grows slowly from a low start and only to about
// 1.5 times what arrives. Subscribers that send neither NACKs nor reports
// are not limited.

const absSendTimeURI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"

const (
	// congestedLoss is the loss (fraction of 256, about 10%) between two
	// receiver reports that counts as congestion.
	congestedLoss = 26
	// nackWindow is the window over which NACKs are counted; congestedNACKs
	// the share of packets sent (percent) NACKed that counts as congestion.
	nackWindow     = 500 * time.Millisecond
	congestedNACKs = 20
	// probeNACKWindow and probeNACKs are the same during a probe.
	probeNACKWindow = 250 * time.Millisecond
	probeNACKs      = 10
	// estimateDrop: a REMB below this share (out of 16) of the previous
	// one counts as congestion.
	estimateDrop = 14
	// quietAfterSwitch is how long after a step down signals are ignored:
	// they may be about the layer before.
	quietAfterSwitch = 2 * time.Second
	// quietBeforeProbe is how long after a probe's start signals are
	// ignored: until the switch, they are about the layer before.
	quietBeforeProbe = 250 * time.Millisecond
	// probeFor is how long a probe lasts before its layer is kept; the
	// copies ramp up to the layer's bitrate over probeRamp.
	probeFor  = 3 * time.Second
	probeRamp = 2 * time.Second
	// probeBackoffMin and probeBackoffMax bound the time from congestion
	// to the next probe; probeAfterKept is the time from a kept probe to
	// the next.
	probeBackoffMin = 4 * time.Second
	probeBackoffMax = time.Minute
	probeAfterKept  = time.Second
)

// absSendTime returns the abs-send-time (6.18 fixed point seconds, 24 bits)
// of the wall-clock time now (ns).
func absSendTime(now int64) uint32 {
	sec, frac := uint64(now/int64(time.Second)), uint64(now%int64(time.Second))
	return uint32(sec<<18|frac<<18/uint64(time.Second)) & 0xffffff
}

// bandwidthEstimate is a DownTrack's view of its subscriber's bandwidth,
// guarded by the DownTrack's mu.
type bandwidthEstimate struct {
	cap     uint64 // bits/s the video may use; 0: no limit
	top     int8   // the highest layer allowed: below the last one congested, until a probe keeps one above
	sending uint64 // bitrate of the layer forwarded
	shed    bool   // congested: stop forwarding the layer left before the switch

	congested  bool  // a sign of congestion not yet acted on
	quietUntil int64 // signals before this are ignored (ns)
	remb       uint64
	loss       lossMark // at the last receiver report
	nacks      uint64   // NACKs for packets the engine has, at windowAt
	packets    uint64   // packets sent at windowAt
	windowAt   int64

	strikes     int   // signs of congestion in a row on the lowest layer
	congestedAt int64 // when (ns) the last sign was acted on

	probe      int8 // layer being probed; -1: none
	probeUntil int64
	probeCap   uint64 // the cap before the probe
	nextProbe  int64
	backoff    time.Duration
}

// onREMB takes the subscriber's estimate of its bandwidth.
func (d *DownTrack) onREMB(bps uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bwe.remb != 0 && bps < d.bwe.remb*estimateDrop/16 && bps < d.bwe.sending*3/4 {
		d.bwe.congested = true
		d.sel.reselect = true
	}
	d.bwe.remb = bps
}

// onLoss takes a receiver report's count of the packets the subscriber
// lost in all (24 bits) and the highest sequence number it got (extended).
// What it lost since the previous report, but for the holes its
// publisher's loss left in the stream meanwhile, over more than
// congestedLoss of what was sent, is congestion: a publisher's bad link is
// not its subscribers'.
func (d *DownTrack) onLoss(totalLost, highest uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	prev := d.bwe.loss
	d.bwe.loss = lossMark{lost: totalLost, highest: highest, holes: d.rw.holes, set: true}
	if !prev.set {
		return
	}
	sent := int64(int32(highest - prev.highest))
	lost := int64(int32((totalLost-prev.lost)<<8)>>8) - (d.rw.holes - prev.holes)
	if sent > 0 && lost*256 > congestedLoss*sent {
		d.bwe.congested = true
		d.sel.reselect = true
	}
}

// lossMark is what the last receiver report said, and the holes then.
type lossMark struct {
	lost, highest uint32
	holes         int64
	set           bool
}

// bandwidthCap returns the bits per second the video may use now (0: no
// limit), the highest layer it may use, and the layer being probed beyond
// them (-1: none). layer is the layer forwarded (-1 if none) and current its
// bitrate; next is the lowest layer above those allowed, or -1. The caller
// holds mu.
func (d *DownTrack) bandwidthCap(now int64, views []layerView, layer, lowest int8, current uint64, next int8) (uint64, int8, int8) {
	e := &d.bwe
	e.sending = current
	window, share := nackWindow, uint64(congestedNACKs)
	if e.probe >= 0 {
		window, share = probeNACKWindow, probeNACKs
	}
	if n, p := d.nacksHeld.Load(), d.packetsOut.Load(); now-e.windowAt >= int64(window) {
		if dp := p - e.packets; dp >= 10 && (n-e.nacks)*100 > dp*share {
			e.congested = true
		}
		e.nacks, e.packets, e.windowAt = n, p, now
	}
	if e.congested && now < e.quietUntil {
		e.congested = false
	}
	switch {
	case e.congested && e.probe >= 0: // the probe does not fit
		e.cap, e.probe = e.probeCap, -1
		e.backoff = min(max(2*e.backoff, probeBackoffMin), probeBackoffMax)
		e.nextProbe = now + int64(e.backoff)
		e.quietUntil = now + int64(quietAfterSwitch)
	case e.congested && current > 0 && layer == lowest && e.congestedAt != 0 && now-e.congestedAt > 2*int64(quietAfterSwitch):
		e.strikes = 1 // the last sign is old: this one is a first
		e.congestedAt = now
		e.quietUntil = now + int64(quietAfterSwitch)
	case e.congested && current > 0 && layer == lowest && e.strikes == 0:
		e.strikes = 1
		e.congestedAt = now
		e.quietUntil = now + int64(quietAfterSwitch)
	case e.congested && current > 0:
		e.strikes, e.congestedAt = 0, now
		if c := current * 7 / 8; e.cap == 0 || c < e.cap {
			e.cap = c
		}
		e.top = min(e.top, layer-1)
		e.shed = true
		d.congestions.Add(1)
		e.nacks, e.packets, e.windowAt = d.nacksHeld.Load(), d.packetsOut.Load(), now
		e.backoff = max(e.backoff, probeBackoffMin)
		e.nextProbe = max(e.nextProbe, now+int64(e.backoff))
		e.quietUntil = now + int64(quietAfterSwitch)
	case e.probe >= 0 && now >= e.probeUntil: // the probe held: keep it
		e.cap = max(e.cap, rateOf(views, e.probe)*5/4)
		e.top = max(e.top, e.probe)
		e.probe, e.backoff = -1, probeBackoffMin
		e.nextProbe = now + int64(probeAfterKept)
	case e.probe < 0 && e.cap != 0 && next >= 0 && now >= e.nextProbe:
		e.probe, e.probeUntil, e.probeCap = next, now+int64(probeFor), e.cap
		e.quietUntil = now + int64(quietBeforeProbe)
	}
	e.congested = false
	return e.cap, e.top, e.probe
}
