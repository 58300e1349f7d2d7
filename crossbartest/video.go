package crossbartest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar/client"
)

// Video is what Watch sees of a subscription's video: the frames of
// synthetic video (client.SynthOptions.Tag) that arrive whole, each named
// by its publisher and numbered.
type Video struct {
	streamID string

	mu      sync.Mutex
	stats   VideoStats
	run     frameRun      // the frames of the current tag
	lastAt  time.Time     // when the last whole frame came
	changed chan struct{} // closed, and replaced, at each frame
	partial map[uint32]*frameParts
}

// VideoStats count the marked frames a subscription received.
type VideoStats struct {
	// Frames counts the frames that arrived whole with a mark.
	Frames int
	// From is the tag of the last one (for a participant that joined
	// WithMedia, its connection data, or id), and Last the highest number
	// of its frames.
	From string
	Last uint32
	// Skipped counts the frame numbers missing between those that came:
	// frames lost, or not whole.
	Skipped int
	// LongestGap is the longest time without a frame once the first
	// came: between two, or since the last.
	LongestGap time.Duration
}

// Watch reads a subscription's packets until the test ends or the
// subscription does, and reassembles its VP8 frames to read their marks.
// The subscription's audio is read and dropped.
func Watch(t testing.TB, sub *client.Subscriber) *Video {
	v := &Video{streamID: sub.StreamID(), changed: make(chan struct{}), partial: map[uint32]*frameParts{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			pkt, kind, err := sub.ReadRTP(ctx)
			if err != nil {
				return
			}
			if kind == webrtc.RTPCodecTypeVideo {
				v.add(pkt)
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return v
}

// Stats returns what arrived so far.
func (v *Video) Stats() VideoStats {
	v.mu.Lock()
	defer v.mu.Unlock()
	st := v.stats
	if !v.lastAt.IsZero() {
		st.LongestGap = max(st.LongestGap, time.Since(v.lastAt))
	}
	return st
}

// WaitFrames waits until n marked frames in all have arrived, and returns
// the stats then. Its error says what had arrived.
func (v *Video) WaitFrames(ctx context.Context, n int) (VideoStats, error) {
	for {
		v.mu.Lock()
		frames, changed := v.stats.Frames, v.changed
		v.mu.Unlock()
		if frames >= n {
			return v.Stats(), nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return v.Stats(), fmt.Errorf("crossbartest: stream %s: %d video frames of %d (%w): %+v", v.streamID, frames, n, ctx.Err(), v.Stats())
		}
	}
}

// WaitFreeze waits until no frame has come for d since the last one (or
// since the call, before the first), and returns the stats then.
func (v *Video) WaitFreeze(ctx context.Context, d time.Duration) (VideoStats, error) {
	called := time.Now()
	for {
		v.mu.Lock()
		last, changed := v.lastAt, v.changed
		v.mu.Unlock()
		if last.Before(called) {
			last = called
		}
		timer := time.NewTimer(time.Until(last.Add(d)))
		select {
		case <-timer.C:
			return v.Stats(), nil
		case <-changed:
			timer.Stop()
		case <-ctx.Done():
			timer.Stop()
			return v.Stats(), fmt.Errorf("crossbartest: stream %s: no freeze of %v (%w): %+v", v.streamID, d, ctx.Err(), v.Stats())
		}
	}
}

// frameRun counts the frames of one tag, which may come out of order.
type frameRun struct {
	skippedBefore int    // by the frames of earlier tags
	first, last   uint32 // the lowest and highest numbers
	frames        int
}

// frameParts are the packets of one frame, by sequence number, as they come.
type frameParts struct {
	payloads  map[uint16][]byte
	first     uint16 // of the packet that starts the frame, if seen
	last      uint16 // of the packet with the marker bit, if seen
	hasFirst  bool
	hasLast   bool
	arrivedAt time.Time
}

// maxPartial bounds the frames waiting for packets: older ones are lost.
const maxPartial = 16

// add takes one video packet, and a frame it completes.
func (v *Video) add(pkt *rtp.Packet) {
	var vp8 codecs.VP8Packet
	payload, err := vp8.Unmarshal(pkt.Payload)
	if err != nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	f := v.partial[pkt.Timestamp]
	if f == nil {
		v.dropOldLocked()
		f = &frameParts{payloads: map[uint16][]byte{}, arrivedAt: time.Now()}
		v.partial[pkt.Timestamp] = f
	}
	f.payloads[pkt.SequenceNumber] = append([]byte(nil), payload...)
	if vp8.S == 1 && vp8.PID == 0 {
		f.first, f.hasFirst = pkt.SequenceNumber, true
	}
	if pkt.Marker {
		f.last, f.hasLast = pkt.SequenceNumber, true
	}
	frame, ok := f.assemble()
	if !ok {
		return
	}
	delete(v.partial, pkt.Timestamp)
	tag, n, ok := client.ReadSynthMark(frame)
	if !ok {
		return
	}
	now := time.Now()
	st := &v.stats
	if !v.lastAt.IsZero() {
		st.LongestGap = max(st.LongestGap, now.Sub(v.lastAt))
	}
	if tag != st.From || v.run.frames == 0 {
		v.run = frameRun{skippedBefore: st.Skipped, first: n, last: n}
	}
	v.run.frames++
	v.run.first, v.run.last = min(v.run.first, n), max(v.run.last, n)
	st.Frames++
	st.From, st.Last = tag, v.run.last
	st.Skipped = v.run.skippedBefore + int(v.run.last-v.run.first+1) - v.run.frames
	v.lastAt = now
	close(v.changed)
	v.changed = make(chan struct{})
}

// dropOldLocked forgets the oldest partial frame when too many wait.
func (v *Video) dropOldLocked() {
	if len(v.partial) < maxPartial {
		return
	}
	var oldest uint32
	var at time.Time
	for ts, f := range v.partial {
		if at.IsZero() || f.arrivedAt.Before(at) {
			oldest, at = ts, f.arrivedAt
		}
	}
	delete(v.partial, oldest)
}

// assemble returns the frame once every packet from its first to its last
// has come.
func (f *frameParts) assemble() ([]byte, bool) {
	if !f.hasFirst || !f.hasLast {
		return nil, false
	}
	var frame []byte
	for seq := f.first; ; seq++ {
		p, ok := f.payloads[seq]
		if !ok {
			return nil, false
		}
		frame = append(frame, p...)
		if seq == f.last {
			return frame, true
		}
	}
}
