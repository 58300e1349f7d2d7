package crossbartest_test

import (
	"context"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/crossbartest"
	"github.com/crossbar-rtc/crossbar/crossbartest/netem"
)

// mediaWait bounds the waits of tests with real media, which set up
// WebRTC on a machine that may be busy.
const mediaWait = 20 * time.Second

// mediaContext returns a context for one wait of a test with real media.
func mediaContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), mediaWait)
	t.Cleanup(cancel)
	return ctx
}

// TestMediaNamesItsPublisher: a subscriber of a participant that joined
// WithMedia receives its synthetic video, frames named after it and
// numbered, without a freeze.
func TestMediaNamesItsPublisher(t *testing.T) {
	ts := crossbartest.NewServer(t, crossbar.Config{})
	s := ts.NewSession(t, crossbar.SessionOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), mediaWait)
	defer cancel()
	ann := ts.Join(t, s.ID(), ts.Token(t, s.ID(), crossbar.TokenOptions{Data: "ann"}), crossbartest.WithMedia())
	bob := ts.Join(t, s.ID(), ts.Token(t, s.ID(), crossbar.TokenOptions{Data: "bob"}), crossbartest.WithMedia())
	if _, err := ann.Publish(ctx, client.PublishOptions{Audio: true, Video: true}); err != nil {
		t.Fatal(err)
	}
	st, err := bob.WaitStreamCreated(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := bob.Subscribe(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	video := crossbartest.Watch(t, sub)
	stats, err := video.WaitFrames(ctx, 30) // 2 s at 15 frames a second
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bob: %+v", stats)
	if stats.From != "ann" {
		t.Errorf("bob's video is from %q, want ann", stats.From)
	}
	if stats.LongestGap > time.Second {
		t.Errorf("bob's video froze for %v", stats.LongestGap)
	}
}

// TestNetworkImpairsMedia: a publisher's loss and latency are repaired or
// borne (its video still arrives), and a bandwidth cap far under its
// bitrate freezes it, until lifted.
func TestNetworkImpairsMedia(t *testing.T) {
	ts := crossbartest.NewServer(t, crossbar.Config{})
	s := ts.NewSession(t, crossbar.SessionOptions{})
	network := &netem.Shaper{}
	network.Set(netem.Conditions{Loss: 0.05, Latency: 50 * time.Millisecond})
	ann := ts.Join(t, s.ID(), ts.Token(t, s.ID(), crossbar.TokenOptions{Data: "ann"}), crossbartest.WithNetwork(network))
	bob := ts.Join(t, s.ID(), ts.Token(t, s.ID(), crossbar.TokenOptions{Data: "bob"}), crossbartest.WithMedia())
	if _, err := ann.Publish(mediaContext(t), client.PublishOptions{Video: true}); err != nil {
		t.Fatal(err)
	}
	st, err := bob.WaitStreamCreated(mediaContext(t))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := bob.Subscribe(mediaContext(t), st.ID)
	if err != nil {
		t.Fatal(err)
	}
	video := crossbartest.Watch(t, sub)
	lossy, err := video.WaitFrames(mediaContext(t), 30)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("5%% loss, 50 ms: %+v", lossy)
	if lossy.From != "ann" {
		t.Errorf("video from %q, want ann", lossy.From)
	}

	network.Set(netem.Conditions{Rate: 40_000}) // a tenth of the video's 400 kbit/s
	frozen, err := video.WaitFreeze(mediaContext(t), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("capped at 40 kbit/s: %+v", frozen)
	network.Set(netem.Conditions{})
	lifted := time.Now()
	back, err := video.WaitFrames(mediaContext(t), frozen.Frames+15)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cap lifted: 15 frames in %v: %+v", time.Since(lifted).Round(time.Millisecond), back)
}
