package sfu

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"
)

// negotiationPending reports whether the Peer's subscriber offer awaits its answer
// or a follow-up offer is due.
func (p *Peer) negotiationPending() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.negotiating || p.renegotiate
}

// TestSubscribeTracksOneOffer: a stream's audio and video subscribed to
// together reach the subscriber in one offer, and both flow.
func TestSubscribeTracksOneOffer(t *testing.T) {
	e := newTestEngine(t)
	pub := newTestClient(t, e, "pub", clientOptions{})
	sub := newTestClient(t, e, "sub", clientOptions{})
	audio, video := pub.publish()

	downs, err := sub.peer.SubscribeTracks(
		Subscription{Track: audio, Options: SubscribeOptions{StreamID: "s", TrackID: "audio"}},
		Subscription{Track: video, Options: SubscribeOptions{StreamID: "s", TrackID: "video"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(downs) != 2 || downs[0].Track() != audio || downs[1].Track() != video {
		t.Fatalf("SubscribeTracks returned %v, want the audio and the video DownTrack in order", downs)
	}
	waitReceiving(t, sub, []string{"s/audio", "s/video"}, 50)
	if n := sub.offers.Load(); n != 1 {
		t.Errorf("an audio and video subscription took %d offers, want 1", n)
	}
	if sub.peer.negotiationPending() {
		t.Error("a negotiation is still pending once both tracks flow")
	}
}

// TestSubscribeTracksFolded: two streams subscribed to back to back take
// one offer each, whether or not the second subscription comes while the
// first offer is outstanding (it is then folded into the follow-up offer).
func TestSubscribeTracksFolded(t *testing.T) {
	e := newTestEngine(t)
	alice := newTestClient(t, e, "alice", clientOptions{})
	bob := newTestClient(t, e, "bob", clientOptions{})
	sub := newTestClient(t, e, "sub", clientOptions{})
	var keys []string
	for _, c := range []*testClient{alice, bob} {
		audio, video := c.publish()
		if _, err := sub.peer.SubscribeTracks(
			Subscription{Track: audio, Options: SubscribeOptions{StreamID: c.name, TrackID: "audio"}},
			Subscription{Track: video, Options: SubscribeOptions{StreamID: c.name, TrackID: "video"}},
		); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, c.name+"/audio", c.name+"/video")
	}
	waitReceiving(t, sub, keys, 50)
	if n := sub.offers.Load(); n != 2 {
		t.Errorf("two subscriptions took %d offers, want 2", n)
	}
}

// TestSubscribeTracksAllOrNothing: when one of the Tracks has ended, none
// is subscribed to, no offer is made, and the error says which Track.
func TestSubscribeTracksAllOrNothing(t *testing.T) {
	e := newTestEngine(t)
	sub := newTestClient(t, e, "sub", clientOptions{})
	audio := NewLocalTrack("a", webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2})
	video := NewLocalTrack("v", webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000})
	defer audio.Close()
	video.Close()

	downs, err := sub.peer.SubscribeTracks(Subscription{Track: audio}, Subscription{Track: video})
	if !errors.Is(err, ErrTrackClosed) || !strings.Contains(err.Error(), `"v"`) {
		t.Errorf("SubscribeTracks with an ended Track: %v, want ErrTrackClosed naming it", err)
	}
	if downs != nil {
		t.Errorf("SubscribeTracks with an ended Track returned %v, want none", downs)
	}
	sub.peer.mu.Lock()
	left := len(sub.peer.downTracks)
	sub.peer.mu.Unlock()
	if left != 0 {
		t.Errorf("%d DownTracks left subscribed, want 0", left)
	}
	if sub.peer.negotiationPending() {
		t.Error("SubscribeTracks that subscribed nothing started a negotiation")
	}
	if n := len(*audio.downTracks.Load()); n != 0 {
		t.Errorf("the audio Track still has %d DownTracks", n)
	}
}

// TestSubscribeTracksWithoutTheCodec: in one offer with an H.264 camera's
// audio and video, a subscriber without H.264 fails the video alone; the
// audio flows, and so does a VP8 camera subscribed to alongside.
func TestSubscribeTracksWithoutTheCodec(t *testing.T) {
	e := newTestEngine(t)
	h264 := newTestClient(t, e, "h264", clientOptions{videoCodec: webrtc.MimeTypeH264})
	vp8 := newTestClient(t, e, "vp8", clientOptions{})
	firefox := newTestClient(t, e, "firefox", clientOptions{noH264: true})
	for _, c := range []*testClient{h264, vp8} {
		audio, video := c.publish()
		if _, err := firefox.peer.SubscribeTracks(
			Subscription{Track: audio, Options: SubscribeOptions{StreamID: c.name, TrackID: "audio"}},
			Subscription{Track: video, Options: SubscribeOptions{StreamID: c.name, TrackID: "video"}},
		); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case f := <-firefox.failed:
		if f.d.Track().Codec().MimeType != webrtc.MimeTypeH264 || !errors.Is(f.err, ErrCodecNotNegotiated) {
			t.Errorf("OnSubscribeFailed(%s, %v), want the H.264 video and ErrCodecNotNegotiated", f.d.Track().Codec().MimeType, f.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnSubscribeFailed was not called for the H.264 video")
	}
	waitReceiving(t, firefox, []string{"h264/audio", "vp8/audio", "vp8/video"}, 50)
	select {
	case f := <-firefox.failed:
		t.Errorf("OnSubscribeFailed(%v) for a track that works", f.err)
	default:
	}
}
