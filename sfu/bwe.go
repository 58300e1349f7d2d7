package sfu

import "time"

// Bandwidth adaptation. Each subscriber's browser estimates the bandwidth
// of its subscribing connection from the arrival times of the video it
// receives against their abs-send-time (Chrome's receive-side, delay-based
// estimator, the same filter GCC uses) and reports it in REMB. A DownTrack
// takes its share of the latest REMB as what its video may use, and picks
// the best layer that fits (selectLayer): it steps down as soon as a REMB or
// a receiver report's loss says the layer does not fit. REMB only grows to
// about 1.5 times what arrives, so a higher layer is tried now and then (a
// probe): kept if the estimate does not fall and loss stays low while it
// runs, dropped at once otherwise, with the time to the next probe doubled.
//
// Pion's send-side GCC (pion/interceptor pkg/gcc) needs a pacer and a
// transport-wide sequence number on every forwarded packet, with per-packet
// allocations in its feedback history; Chrome's own estimator costs the
// server nothing per packet. Subscribers that send no REMB (Pion-based Go
// clients by default) are not limited.

const absSendTimeURI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"

const (
	// rembValidFor is how long a REMB counts; after that the subscriber is
	// not limited.
	rembValidFor = 5 * time.Second
	// probeFor is how long a higher layer is tried before it is kept.
	probeFor = 3 * time.Second
	// probeBackoffMin and probeBackoffMax bound the time between probes;
	// each failed probe doubles it, a kept one resets it.
	probeBackoffMin = 2 * time.Second
	probeBackoffMax = 30 * time.Second
	// congestedLoss is the loss (fraction of 256, about 10%) reported in
	// a receiver report that counts as congestion.
	congestedLoss = 26
	// estimateDrop: a REMB below this share (out of 16) of the previous
	// one, or of the one when a probe started, counts as congestion.
	estimateDrop = 14
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
	remb      uint64 // this DownTrack's share of the last REMB, bits/s
	rembAt    int64  // when (ns) it arrived; 0: never
	confirmed uint64 // the bitrate of the last layer a probe kept; 0 after congestion

	probe      int8  // layer being probed; -1: none
	probeUntil int64 // when the probe is kept
	probeREMB  uint64
	probeFail  bool  // congestion during the probe
	nextProbe  int64 // no probe before
	backoff    time.Duration
}

// onREMB takes a subscriber's estimate of its bandwidth, bps for all its
// video, shared equally by its video DownTracks.
func (d *DownTrack) onREMB(bps uint64, now int64) {
	n := uint64(1)
	if d.videoSubs != nil {
		n = max(uint64(d.videoSubs.Load()), 1)
	}
	share := bps / n
	d.mu.Lock()
	defer d.mu.Unlock()
	e := &d.bwe
	if e.rembAt == 0 || share < e.remb*estimateDrop/16 {
		// The first estimate, or congestion: no probe for a while.
		e.confirmed = 0
		e.nextProbe = max(e.nextProbe, now+int64(max(e.backoff, probeBackoffMin)))
	}
	if e.probe >= 0 && share < e.probeREMB*estimateDrop/16 {
		e.probeFail = true
	}
	e.remb, e.rembAt = share, now
	d.reselect = true
}

// limited reports whether a REMB is recent enough to limit the video.
func (e *bandwidthEstimate) limited(now int64) bool {
	if e.rembAt == 0 || now-e.rembAt > int64(rembValidFor) {
		e.probe = -1
		return false
	}
	return true
}

// capBPS returns the bits per second the video may use, given the loss of
// the latest receiver report (fraction of 256).
func (e *bandwidthEstimate) capBPS(fractionLost uint32) uint64 {
	if fractionLost > congestedLoss {
		e.confirmed = 0
		if e.probe >= 0 {
			e.probeFail = true
		}
		return e.remb * (512 - uint64(fractionLost)) / 512
	}
	return max(e.remb, e.confirmed)
}

// runProbe ends, keeps or starts a probe of a layer above the bandwidth
// cap, and returns the layer being probed, or -1. next is the lowest layer
// above those that fit, or -1.
func (e *bandwidthEstimate) runProbe(now int64, next int8, layers []*Track) int8 {
	if e.probe >= 0 && (int(e.probe) >= len(layers) || layers[e.probe] == nil || !layers[e.probe].active(now)) {
		e.probe = -1
	}
	switch {
	case e.probe >= 0 && e.probeFail:
		e.probe, e.probeFail = -1, false
		e.backoff = min(max(2*e.backoff, probeBackoffMin), probeBackoffMax)
		e.nextProbe = now + int64(e.backoff)
	case e.probe >= 0 && now >= e.probeUntil:
		e.confirmed = max(e.confirmed, layers[e.probe].meter.bitrate(now))
		e.probe, e.backoff = -1, probeBackoffMin
		e.nextProbe = now + int64(e.backoff)
	case e.probe < 0 && next >= 0 && now >= e.nextProbe:
		e.probe, e.probeUntil, e.probeREMB, e.probeFail = next, now+int64(probeFor), e.remb, false
	}
	return e.probe
}
