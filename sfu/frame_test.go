package sfu

import (
	"testing"
	"time"
)

// TestVideoWakesWriterPerFrame checks that a video subscriber's writer is
// woken at the end of each frame, not for each packet, unless packets pile up.
func TestVideoWakesWriterPerFrame(t *testing.T) {
	tr := NewLocalTrack("v", vp8Codec)
	d := idleSubscriber(t, tr, 0)
	t0 := time.Now()
	woken := func() bool {
		select {
		case <-d.wake:
			return true
		default:
			return false
		}
	}
	ingestAt(t, tr, vp8(1, 0, true, true, false), t0)
	ingestAt(t, tr, vp8(2, 0, false, false, false), t0)
	if woken() {
		t.Fatal("writer woken before the end of the frame")
	}
	ingestAt(t, tr, vp8(3, 0, false, false, true), t0)
	if !woken() {
		t.Fatal("writer not woken at the end of the frame")
	}
	// A frame larger than frameWakeBatch packets (or one whose last packet
	// was lost) wakes the writer all the same.
	drain(d)
	for seq := uint16(4); seq < 4+frameWakeBatch; seq++ {
		ingestAt(t, tr, vp8(seq, 3000, seq == 4, false, false), t0)
	}
	if !woken() {
		t.Fatalf("writer not woken with %d packets queued", frameWakeBatch)
	}
	// A frame cut short by a pause is written all the same.
	drain(d)
	ingestAt(t, tr, vp8(20, 6000, true, false, false), t0)
	d.SetPaused(true)
	ingestAt(t, tr, vp8(21, 6000, false, false, false), t0)
	if !woken() {
		t.Fatal("writer not woken when the subscriber paused within a frame")
	}
}
