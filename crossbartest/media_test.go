package crossbartest_test

import (
	"context"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/crossbartest"
)

// mediaWait bounds the waits of tests with real media, which set up
// WebRTC on a machine that may be busy.
const mediaWait = 20 * time.Second

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
