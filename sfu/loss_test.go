package sfu

import (
	"testing"
	"time"
)

// TestLossRecoveredByNACK drops 5% of video packets between the publisher
// and the engine and 5% between the engine and the subscriber: the engine
// NACKs the publisher, answers the subscriber's NACKs from the Track's
// cache, and the subscriber ends up with every packet.
func TestLossRecoveredByNACK(t *testing.T) {
	e := newTestEngine(t)
	pub := newTestClient(t, e, "pub", clientOptions{publishLoss: 0.05})
	sub := newTestClient(t, e, "sub", clientOptions{receiveLoss: 0.05})
	_, video := pub.publish()
	d := sub.subscribe(video, "s", "video")
	waitReceiving(t, sub, []string{"s/video"}, 200) // losses on both legs, repaired as they go
	pub.stopPublishing()
	// The last packets' losses cannot be detected, so the publisher sends
	// nothing more; wait for the retransmissions of the others.
	var last uint32
	waitFor(t, 5*time.Second, "the retransmissions", func() bool {
		last = lastSource(t, video)
		return sub.track("s/video").complete(last - tailLoss)
	})
	checkReceived(t, "sub video", sub.track("s/video"), 150, last-tailLoss, true)

	ts, ds := video.Stats(), d.Stats()
	t.Logf("track %+v", ts)
	t.Logf("downtrack %+v", ds)
	if ts.NACKsSent == 0 {
		t.Error("engine sent no NACK to the publisher")
	}
	if ts.PacketsLost > tailLoss {
		t.Errorf("%d packets still lost from the publisher", ts.PacketsLost)
	}
	if ds.NACKsReceived == 0 || ds.NACKsAnswered == 0 {
		t.Error("subscriber NACKs were not answered")
	}
}
