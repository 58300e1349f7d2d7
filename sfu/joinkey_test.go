package sfu

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

// ingestAt feeds a packet to a local Track as if it arrived at now.
func ingestAt(t *testing.T, tr *Track, p *rtp.Packet, now time.Time) {
	t.Helper()
	raw, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	tr.ingestMu.Lock()
	wantKeyframes := tr.ingest(raw, now.UnixNano())
	tr.ingestMu.Unlock()
	tr.group.requestLayerKeyframes(wantKeyframes)
}

// framesAt feeds frames of 3 packets from seq, the first one a keyframe if
// key is set, all arriving at now; it returns the next seq and timestamp.
func framesAt(t *testing.T, tr *Track, seq uint16, ts uint32, frames int, key bool, now time.Time) (uint16, uint32) {
	t.Helper()
	for f := 0; f < frames; f++ {
		for i := 0; i < 3; i++ {
			ingestAt(t, tr, vp8(seq, ts, i == 0, key && f == 0, i == 2), now)
			seq++
		}
		ts += 3000
	}
	return seq, ts
}

func TestNewSubscriberStartsFromRecentKeyframe(t *testing.T) {
	tr := NewLocalTrack("v", vp8Codec)
	var keyframeRequests atomic.Int32
	tr.OnKeyframeRequest(func() { keyframeRequests.Add(1) })
	t0 := time.Now()
	seq, ts := framesAt(t, tr, 65530, 1000, 1, true, t0) // keyframe, across the wrap
	seq, ts = framesAt(t, tr, seq, ts, 2, false, t0.Add(60*time.Millisecond))

	rec := &recorder{}
	attach(t, tr, rec, SubscribeOptions{})
	framesAt(t, tr, seq, ts, 1, false, t0.Add(keyframeRequestInterval))
	waitFor(t, time.Second, "12 packets", func() bool { return len(rec.snapshot()) == 12 })
	pkts := rec.snapshot()
	checkContinuous(t, pkts, 12)
	if pkts[0].Payload[0] != 0x10 || pkts[0].Payload[1] != 0 || pkts[0].Payload[2] != byte(65530%256) {
		t.Fatalf("first packet %v is not the cached keyframe", pkts[0].Payload[:3])
	}
	for i := 1; i < len(pkts); i++ {
		if want := uint32(i/3) * 3000; pkts[i].Timestamp-pkts[0].Timestamp != want {
			t.Fatalf("packet %d: timestamp %d after the first, want %d", i, pkts[i].Timestamp-pkts[0].Timestamp, want)
		}
	}
	if n := keyframeRequests.Load(); n != 0 {
		t.Fatalf("%d keyframe requests, want none", n)
	}
}

func TestSubscriberWaitsWhenKeyframeIsOld(t *testing.T) {
	tr := NewLocalTrack("v", vp8Codec)
	var keyframeRequests atomic.Int32
	tr.OnKeyframeRequest(func() { keyframeRequests.Add(1) })
	t0 := time.Now()
	seq, ts := framesAt(t, tr, 100, 1000, 1, true, t0)

	d := idleSubscriber(t, tr, 0)
	framesAt(t, tr, seq, ts, 1, false, t0.Add(keyframeRequestInterval+time.Millisecond))
	if n := len(drain(d)); n != 0 {
		t.Fatalf("%d packets queued, want none before a new keyframe", n)
	}
	if n := keyframeRequests.Load(); n != 1 {
		t.Fatalf("%d keyframe requests, want 1", n)
	}
}

func TestSubscriberWaitsWhenCachedKeyframeWasMuted(t *testing.T) {
	tr := NewLocalTrack("v", vp8Codec)
	d := idleSubscriber(t, tr, 0)
	t0 := time.Now()
	seq, ts := framesAt(t, tr, 100, 1000, 1, true, t0)
	if n := len(drain(d)); n != 3 {
		t.Fatalf("%d packets queued, want 3", n)
	}
	// Muted after a keyframe: on unmute, the subscriber waits for a new one
	// rather than be sent what came before or during the mute.
	tr.SetMuted(true)
	seq, ts = framesAt(t, tr, seq, ts, 1, true, t0.Add(10*time.Millisecond))
	tr.SetMuted(false)
	seq, ts = framesAt(t, tr, seq, ts, 1, false, t0.Add(20*time.Millisecond))
	if n := len(drain(d)); n != 0 {
		t.Fatalf("%d packets queued after unmuting, want none before a new keyframe", n)
	}
	framesAt(t, tr, seq, ts, 1, true, t0.Add(30*time.Millisecond))
	if n := len(drain(d)); n != 3 {
		t.Fatalf("%d packets queued after a new keyframe, want 3", n)
	}
}

func TestResumedSubscriberStartsFromRecentKeyframe(t *testing.T) {
	tr := NewLocalTrack("v", vp8Codec)
	d := idleSubscriber(t, tr, 0)
	t0 := time.Now()
	seq, ts := framesAt(t, tr, 100, 1000, 2, true, t0)
	before := drain(d)
	d.SetPaused(true)
	seq, ts = framesAt(t, tr, seq, ts, 2, true, t0.Add(10*time.Millisecond)) // keyframe while paused
	d.SetPaused(false)
	framesAt(t, tr, seq, ts, 1, false, t0.Add(20*time.Millisecond))
	after := drain(d)
	if len(after) != 9 {
		t.Fatalf("%d packets queued on resuming, want the keyframe and 8 since", len(after))
	}
	if after[0] != before[len(before)-1]+1 {
		t.Fatalf("resumed at seq %d after %d", after[0], before[len(before)-1])
	}
}

func TestH264KeyframeStartsAtParameterSets(t *testing.T) {
	sps := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: 10, Timestamp: 500}, Payload: []byte{0x67, 1, 2}}
	idr := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: 11, Timestamp: 500}, Payload: []byte{0x7c, 0x85, 1}}
	for _, order := range [][]*rtp.Packet{{sps, idr}, {idr, sps}} {
		tr := NewLocalTrack("v", webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000})
		now := time.Now()
		for _, p := range order {
			ingestAt(t, tr, p, now)
		}
		if got := uint16(tr.keyframe.ext); got != 10 {
			t.Fatalf("packets %d then %d: keyframe starts at %d, want 10 (the SPS)",
				order[0].SequenceNumber, order[1].SequenceNumber, got)
		}
	}
}
