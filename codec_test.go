package crossbar_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/signaling"
)

var h264 = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
	SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}

// noH264API is the webrtc.API of a client that has Opus and VP8 but no
// H.264, as Firefox in Debian, on loopback only.
func noH264API(t *testing.T) *webrtc.API {
	t.Helper()
	m := &webrtc.MediaEngine{}
	for _, c := range []struct {
		kind  webrtc.RTPCodecType
		codec webrtc.RTPCodecParameters
	}{
		{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: opus}},
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: vp8}},
	} {
		if err := m.RegisterCodec(c.codec, c.kind); err != nil {
			t.Fatal(err)
		}
	}
	r := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, r); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(r), webrtc.WithSettingEngine(se))
}

// feedAV sends a host publisher's video (every packet a keyframe's start)
// and audio every 20 ms until ctx ends; wait for it with wg.
func feedAV(ctx context.Context, wg *sync.WaitGroup, pub *crossbar.Publisher, payload []byte) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			v := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i * 1800), Marker: true}, Payload: payload}
			a := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i * 960)}, Payload: []byte{0xf8, 0xff, 0xfe}}
			if pub.WriteRTP(webrtc.RTPCodecTypeVideo, v) != nil || pub.WriteRTP(webrtc.RTPCodecTypeAudio, a) != nil {
				return
			}
		}
	}()
}

// TestSubscriptionToAnUndecodableCodecFailsAlone: a client without H.264
// subscribes to an H.264 stream. That subscription ends with error 1502,
// the server forgets it, and a stream published afterwards reaches the
// client.
func TestSubscriptionToAnUndecodableCodecFailsAlone(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	var feeders sync.WaitGroup
	defer feeders.Wait()
	defer cancel()
	c, err := client.Connect(ctx, h.ws, h.token(s, crossbar.RoleSubscriber, "firefox"), &client.Options{Media: client.MediaOptions{API: noH264API(t)}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect()
	go func() {
		for range c.Events() {
		}
	}()

	camera, err := s.Publish(crossbar.PublishOptions{Name: "h264", Audio: opus, Video: h264})
	if err != nil {
		t.Fatal(err)
	}
	feedAV(ctx, &feeders, camera, []byte{0x65, 0x88, 0x84, 0x00, 0x33}) // an IDR slice
	sub, err := c.Subscribe(ctx, camera.Stream().ID(), client.SubscribeOptions{Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	waitUnsupportedCodec(ctx, t, sub)
	t.Logf("subscription error: %v", sub.Err())
	if n := len(camera.Stream().Subscribers()); n != 0 {
		t.Errorf("the server still has %d subscribers of the H.264 stream", n)
	}

	later, err := s.Publish(crossbar.PublishOptions{Name: "vp8", Audio: opus, Video: vp8})
	if err != nil {
		t.Fatal(err)
	}
	feedAV(ctx, &feeders, later, vp8Keyframe)
	sub2, err := c.Subscribe(ctx, later.Stream().ID(), client.SubscribeOptions{Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	// Later offers are negotiated: the new stream's audio and video arrive,
	// on the m-sections the failed subscription left free.
	var audio, video int
	for audio < 25 || video < 25 {
		_, kind, err := sub2.ReadRTP(ctx)
		if err != nil {
			t.Fatalf("the stream published afterwards, after %d audio and %d video packets: %v", audio, video, err)
		}
		if kind == webrtc.RTPCodecTypeAudio {
			audio++
		} else {
			video++
		}
	}
}

// waitUnsupportedCodec waits for a subscription to an H.264 stream to end
// with OpenTok's 1502.
func waitUnsupportedCodec(ctx context.Context, t *testing.T, sub *client.Subscriber) {
	t.Helper()
	select {
	case <-sub.Done():
	case <-ctx.Done():
		t.Fatal("the subscription to H.264 did not end")
	}
	var se *signaling.Error
	if err := sub.Err(); !errors.As(err, &se) || se.Code != 1502 || se.Name != "OT_UNSUPPORTED_CODEC" || !errors.Is(err, client.ErrSubscriptionEnded) {
		t.Fatalf("subscription error %v, want 1502 OT_UNSUPPORTED_CODEC", err)
	}
}

// noH264Page makes the page answer offers without H.264 for video, as a
// browser that cannot decode it (Firefox in Debian) does.
const noH264Page = `(() => {
  const createAnswer = RTCPeerConnection.prototype.createAnswer;
  RTCPeerConnection.prototype.createAnswer = function (...args) {
    const codecs = RTCRtpReceiver.getCapabilities('video').codecs.filter((c) => !/h264/i.test(c.mimeType));
    for (const t of this.getTransceivers()) {
      if (t.receiver.track.kind === 'video' && !t.stopped) t.setCodecPreferences(codecs);
    }
    return createAnswer.apply(this, args);
  };
  return true;
})()`

// TestJSSubscriptionToAnUndecodableCodecFailsAlone: a page that cannot
// decode H.264 subscribes to an H.264 stream. The subscribe callback gets
// error 1502 at once, not the media timeout; the page's next subscription,
// to a camera published afterwards, plays.
func TestJSSubscriptionToAnUndecodableCodecFailsAlone(t *testing.T) {
	r := newJSRig(t)
	s := r.session()
	camera, err := s.Publish(crossbar.PublishOptions{Name: "h264", Audio: opus, Video: h264})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := r.join("firefox", s, crossbar.RolePublisher)
	p.Eval(noH264Page, nil)
	start := time.Now()
	var res jsResult
	p.Eval(fmt.Sprintf(`new Promise((resolve) => S.subscribe(S.streams.get(%q), document.body, {insertMode: 'append'},
		(err) => resolve(err ? failure(err) : {id: 'subscribed'})))`, camera.Stream().ID()), &res)
	if res.Error == nil || res.Error.Code != 1502 || res.Error.Name != "OT_UNSUPPORTED_CODEC" {
		t.Fatalf("subscribe to H.264: error %+v, want 1502 OT_UNSUPPORTED_CODEC", res.Error)
	}
	t.Logf("subscribe to H.264 failed after %v: %s", time.Since(start).Round(time.Millisecond), res.Error.Message)
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("the error took %v", elapsed)
	}
	p.Wait("failed subscriber removed", `!document.querySelector('.OT_subscriber') && OT.subscribers.length === 0`, mediaWait)

	pub, _ := r.join("chromium", s, crossbar.RolePublisher)
	p.Eval(`S.on('streamCreated', (e) => S.subscribe(e.stream, document.body, {insertMode: 'append'}))`, nil)
	publish(t, pub, `{resolution: '320x240'}`)
	p.WaitVideos(subscriberVideos, 1, mediaWait)
	p.WaitInboundAudio(mediaWait)
}
