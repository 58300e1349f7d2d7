package sfu

import (
	"sync/atomic"
	"time"
)

// TrackStats is a snapshot of a Track's counters.
type TrackStats struct {
	PacketsIn uint64 // distinct packets received from the publisher
	BytesIn   uint64 // RTP bytes (header and payload) of those packets
	// PacketsLost is the number of packets expected from the sequence
	// numbers but never received, retransmissions included (RFC 3550 style).
	PacketsLost uint64
	NACKsSent   uint64 // sequence numbers the engine asked the publisher to retransmit
	PLIsSent    uint64 // keyframe requests sent to the publisher
	Bitrate     uint64 // bits per second received over the last measuring window
}

// DownTrackStats is a snapshot of a DownTrack's (or Reader's) counters.
type DownTrackStats struct {
	PacketsOut     uint64 // packets handed to the transport (or to the reader)
	BytesOut       uint64 // RTP bytes of those packets
	PacketsDropped uint64 // packets not sent: queue full, transport not ready, or evicted from the cache before sending
	NACKsReceived  uint64 // sequence numbers the subscriber asked to be retransmitted
	NACKsAnswered  uint64 // of those, retransmissions queued from the Track's cache
	NACKsSkipped   uint64 // of those, cached but not resent: resent within the last RTT, or the queue was over half full
	PLIsReceived   uint64 // keyframe requests (PLI or FIR) from the subscriber
	LayerSwitches  uint64 // changes of the simulcast or spatial layer forwarded
	Congestions    uint64 // layers left because the subscriber's path was congested
	// RTT is the round-trip time computed from the subscriber's latest
	// receiver report; zero until one referring to a sender report arrived.
	RTT time.Duration
	// FractionLost is the loss the subscriber reported in its latest
	// receiver report, between 0 and 1.
	FractionLost float64
	// PacketsLost is the cumulative loss the subscriber reported.
	PacketsLost uint64
}

// bitrateWindow is how long a Track measures before updating its bitrate.
const bitrateWindow = time.Second

// rateMeter measures a rate, in units per second, over consecutive windows
// of bitrateWindow: a bitrate counts bits, a frame rate thousandths of a
// frame. It is updated by one goroutine and read by any.
type rateMeter struct {
	start int64 // window start (ns), writer only
	sum   uint64
	rate  atomic.Uint64
	last  atomic.Int64 // end of the last completed window (ns)
}

// add counts units received at now (ns).
func (m *rateMeter) add(units uint64, now int64) {
	if m.start == 0 {
		m.start = now
	}
	m.sum += units
	if d := now - m.start; d >= int64(bitrateWindow) {
		m.rate.Store(m.sum * uint64(time.Second) / uint64(d))
		m.last.Store(now)
		m.start, m.sum = now, 0
	}
}

// perSecond returns the last measured rate, or zero if nothing was measured
// for two windows.
func (m *rateMeter) perSecond(now int64) uint64 {
	if now-m.last.Load() > 2*int64(bitrateWindow) {
		return 0
	}
	return m.rate.Load()
}

// frameRate returns a frame rate measured in thousandths of a frame.
func (m *rateMeter) frameRate(now int64) float64 {
	return float64(m.perSecond(now)) / 1000
}
