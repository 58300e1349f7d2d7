package sfu

import (
	"testing"
	"time"
)

// TestTotals checks the engine's Totals against what two clients sent and
// received, and that they keep what a closed subscriber and publisher
// counted.
func TestTotals(t *testing.T) {
	e := newTestEngine(t)
	alice := newTestClient(t, e, "alice", clientOptions{})
	bob := newTestClient(t, e, "bob", clientOptions{})
	audio, video := alice.publish()
	da := bob.subscribe(audio, "s-alice", "audio")
	dv := bob.subscribe(video, "s-alice", "video")
	keys := []string{"s-alice/audio", "s-alice/video"}
	waitReceiving(t, bob, keys, 50)
	alice.stopPublishing()
	received := func() (n uint64) {
		for _, k := range keys {
			p, _ := bob.track(k).counts()
			n += uint64(p)
		}
		return n
	}
	waitFor(t, 5*time.Second, "every forwarded packet to arrive", func() bool {
		return received() == da.Stats().PacketsOut+dv.Stats().PacketsOut
	})
	in := audio.Stats().PacketsIn + video.Stats().PacketsIn
	tot := e.Totals()
	if tot.PacketsOut != received() || tot.PacketsIn != in || tot.BytesOut == 0 || tot.BytesIn == 0 || tot.PLIsSent == 0 {
		t.Fatalf("totals %+v; bob received %d packets, alice's tracks %d", tot, received(), in)
	}
	bob.close()
	alice.close()
	if after := e.Totals(); after.PacketsOut < tot.PacketsOut || after.PacketsIn < tot.PacketsIn || after.BytesOut < tot.BytesOut {
		t.Fatalf("totals went down when the peers closed: %+v, then %+v", tot, after)
	}
	e.tally.mu.Lock()
	defer e.tally.mu.Unlock()
	if n := len(e.tally.live); n != 0 {
		t.Errorf("%d Tracks and DownTracks still tallied after their peers closed", n)
	}
}
