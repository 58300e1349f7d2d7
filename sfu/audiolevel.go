package sfu

import (
	"math"
	"sync/atomic"
	"time"
)

// AudioLevelURI is the RTP header extension carrying the audio level of
// each packet (RFC 6464).
const AudioLevelURI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

// audioLevelWindow is how long a Track averages the levels its packets
// carry.
const audioLevelWindow = 200 * time.Millisecond

// audioLevel averages the audio levels of a track's packets over windows of
// audioLevelWindow. It is written by the Track's ingest (one goroutine) and
// read by any.
type audioLevel struct {
	start int64         // window start (ns), writer only
	sum   uint32        // sum of the window's levels in -dBov, writer only
	count uint32        // packets in the window, writer only
	value atomic.Uint32 // mean of the last window in -dBov + 1; 0 before the first
	last  atomic.Int64  // end of the last window (ns)
}

// add records the level (0..127 -dBov, 127 silence) of a packet received at now.
func (a *audioLevel) add(level uint8, now int64) {
	if a.start == 0 {
		a.start = now
	}
	a.sum += uint32(level)
	a.count++
	if now-a.start >= int64(audioLevelWindow) {
		a.value.Store(a.sum/a.count + 1)
		a.last.Store(now)
		a.start, a.sum, a.count = now, 0, 0
	}
}

// get returns the last window's mean level as a linear amplitude between 0
// and 1; 0 if none was measured within two windows.
func (a *audioLevel) get(now int64) float64 {
	v := a.value.Load()
	if v == 0 || now-a.last.Load() > 2*int64(audioLevelWindow) {
		return 0
	}
	return levelToAmplitude(uint8(v - 1))
}

// levelToAmplitude converts a level in -dBov (127 is silence) to a linear
// amplitude between 0 and 1.
func levelToAmplitude(level uint8) float64 {
	if level >= 127 {
		return 0
	}
	return math.Pow(10, -float64(level)/20)
}

// AudioLevel returns the audio level of an audio Track, averaged over the
// last 200 ms, as a linear amplitude between 0 (silence, or no level
// received) and 1 (full scale). It comes from the audio level header
// extension (RFC 6464) the publisher puts in its packets.
func (t *Track) AudioLevel() float64 {
	return t.level.get(time.Now().UnixNano())
}
