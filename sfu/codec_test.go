package sfu

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"
)

// TestSubscriberWithoutTheCodec has a subscriber that cannot receive
// H.264 (Firefox in Debian) subscribe to an H.264 camera, video first: the
// video fails alone, and is removed. The first answer carried only that
// video, yet the connection comes up: the audio subscribed to next flows,
// and so does a VP8 stream subscribed to afterwards.
func TestSubscriberWithoutTheCodec(t *testing.T) {
	e := newTestEngine(t)
	h264 := newTestClient(t, e, "h264", clientOptions{videoCodec: webrtc.MimeTypeH264})
	vp8 := newTestClient(t, e, "vp8", clientOptions{})
	firefox := newTestClient(t, e, "firefox", clientOptions{noH264: true})
	hAudio, hVideo := h264.publish()
	vAudio, vVideo := vp8.publish()

	video := firefox.subscribe(hVideo, "h", "h-video")
	firefox.subscribe(hAudio, "h", "h-audio")
	select {
	case f := <-firefox.failed:
		if f.d != video || !errors.Is(f.err, ErrCodecNotNegotiated) || !strings.Contains(f.err.Error(), "H264") {
			t.Errorf("OnSubscribeFailed(%p, %v), want the H.264 video %p and ErrCodecNotNegotiated", f.d, f.err, video)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnSubscribeFailed was not called for the H.264 video")
	}
	if err := firefox.peer.Unsubscribe(video); !errors.Is(err, ErrNotSubscribed) {
		t.Errorf("Unsubscribe of the failed video: %v, want ErrNotSubscribed: it should be gone", err)
	}
	waitReceiving(t, firefox, []string{"h/h-audio"}, 20)

	firefox.subscribe(vAudio, "v", "v-audio")
	firefox.subscribe(vVideo, "v", "v-video")
	waitReceiving(t, firefox, []string{"v/v-audio", "v/v-video"}, 50)
	if r := firefox.track("h/h-video"); r != nil {
		if n, _ := r.counts(); n > 0 {
			t.Errorf("%d H.264 packets reached a subscriber without H.264", n)
		}
	}
	select {
	case f := <-firefox.failed:
		t.Errorf("OnSubscribeFailed(%v) for a subscription that works", f.err)
	default:
	}
}

// TestUnusableAnswerKeepsTheOffer: an answer that cannot be applied is an
// error, and the offer stays outstanding for a proper answer. The same
// answer sent again, or one to another offer, is stale and changes nothing.
func TestUnusableAnswerKeepsTheOffer(t *testing.T) {
	e := newTestEngine(t)
	pub := newTestClient(t, e, "pub", clientOptions{})
	audio, _ := pub.publish()
	offers := make(chan string, 2)
	var number atomic.Uint64
	peer, err := e.NewPeer(PeerConfig{OnSubscriberOffer: func(sdp string, n uint64) {
		number.Store(n)
		offers <- sdp
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := peer.Subscribe(audio, SubscribeOptions{}); err != nil {
		t.Fatal(err)
	}
	var offer string
	select {
	case offer = <-offers:
	case <-time.After(10 * time.Second):
		t.Fatal("no offer")
	}
	n := number.Load()
	if err := peer.SetSubscriberAnswer("v=0 not an answer", n+1); !errors.Is(err, ErrStaleAnswer) {
		t.Fatalf("an answer to offer %d of %d: %v, want ErrStaleAnswer", n+1, n, err)
	}
	if err := peer.SetSubscriberAnswer("v=0 not an answer", n); err == nil || errors.Is(err, ErrNoOffer) {
		t.Fatalf("SetSubscriberAnswer(garbage) = %v, want an error applying it", err)
	}
	client, err := newClientAPI(t, clientOptions{}).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		t.Fatal(err)
	}
	answer, err := client.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	sdp, err := gather(client, answer)
	if err != nil {
		t.Fatal(err)
	}
	if err := peer.SetSubscriberAnswer(sdp, n); err != nil {
		t.Fatalf("the proper answer after a garbage one: %v", err)
	}
	if err := peer.SetSubscriberAnswer(sdp, n); !errors.Is(err, ErrStaleAnswer) {
		t.Fatalf("the same answer again: %v, want ErrStaleAnswer", err)
	}
}
