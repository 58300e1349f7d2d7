package crossbar_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/internal/firefoxtest"
)

// A session's video codec is the one its publishers send: Chromium
// publishes H.264 in an H.264 session, VP9 in a VP9 one and VP8 in a
// default one, and another page decodes it.
func TestJSSessionVideoCodec(t *testing.T) {
	r := newJSRig(t)
	for _, tc := range []struct {
		codec crossbar.VideoCodec
		want  string
	}{
		{"", "video/VP8"},
		{crossbar.H264, "video/H264"},
		{crossbar.VP9, "video/VP9"},
	} {
		t.Run(string(tc.want), func(t *testing.T) {
			s, err := r.srv.CreateSession(context.Background(), crossbar.SessionOptions{VideoCodec: tc.codec})
			if err != nil {
				t.Fatal(err)
			}
			pub, _ := r.join("publisher", s, crossbar.RolePublisher)
			var res jsResult
			pub.Eval(`publish()`, &res)
			if res.Error != nil {
				t.Fatalf("publish: %+v", res.Error)
			}
			st, err := s.Stream(res.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Publisher().VideoCodec(); !strings.EqualFold(got, tc.want) {
				t.Fatalf("the stream's video is %q, want %q", got, tc.want)
			}
			sub, _ := r.join("subscriber", s, crossbar.RoleSubscriber)
			sub.Eval(`subscribeAll()`, nil)
			sub.WaitVideos(subscriberVideos, 1, mediaWait)
		})
	}
	if _, err := r.srv.CreateSession(context.Background(), crossbar.SessionOptions{VideoCodec: "AV1"}); err == nil {
		t.Fatal("a session with an unknown codec was created")
	}
}

// In a session whose codec is what every client decodes, Chromium, which
// decodes H.264, publishes H.264 while the clients all decode it. A Go
// client that decodes VP8 alone joins: its subscription to the H.264
// stream fails with 1502, and the next camera published is VP8, which it
// receives. Once it has left, cameras are H.264 again.
func TestJSCommonCodec(t *testing.T) {
	r := newJSRig(t)
	s := r.sessionWith(crossbar.SessionOptions{VideoCodec: crossbar.CommonCodec})
	a, _ := r.join("a", s, crossbar.RolePublisher)
	a.Eval(recordOffers, nil)
	h264Stream := publishCodec(t, a, s, "video/H264")
	var first string
	a.Eval(firstOfferedVideo, &first)
	if first != "H264" {
		t.Errorf("the page offered %s first, not the session's H264", first)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ws := "ws" + strings.TrimPrefix(r.url, "http") + "/crossbar/ws"
	bot, err := client.Connect(ctx, ws, r.token(s, crossbar.RoleSubscriber, "vp8 only"),
		&client.Options{Media: client.MediaOptions{API: noH264API(t), VideoCodecs: []string{"VP8"}}})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range bot.Events() {
		}
	}()
	sub, err := bot.Subscribe(ctx, h264Stream, client.SubscribeOptions{Video: true})
	if err != nil {
		t.Fatal(err)
	}
	waitUnsupportedCodec(ctx, t, sub)

	b, _ := r.join("b", s, crossbar.RolePublisher)
	sub, err = bot.Subscribe(ctx, publishCodec(t, b, s, "video/VP8"), client.SubscribeOptions{Video: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, _, err := sub.ReadRTP(ctx); err != nil {
			t.Fatal(err)
		}
	}

	bot.Disconnect()
	waitFor(t, mediaWait, "the Go client to leave", func() bool { return len(s.Connections()) == 2 })
	c, _ := r.join("c", s, crossbar.RolePublisher)
	publishCodec(t, c, s, "video/H264")
}

// publishCodec has page p publish its camera in session s, checks that the
// stream's video has the MIME type want, and returns the stream id.
func publishCodec(t *testing.T, p tab, s *crossbar.Session, want string) string {
	t.Helper()
	id := publish(t, p, `{resolution: '320x240'}`)
	st, err := s.Stream(id)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Publisher().VideoCodec(); !strings.EqualFold(got, want) {
		t.Fatalf("the stream's video is %q, want %q", got, want)
	}
	return id
}

// In a session whose codec is what every client decodes, Chromium publishes
// H.264 until Firefox, which does not decode it (Debian's has no H.264),
// joins: Firefox's subscription to the H.264 stream fails with 1502, and
// the cameras published after, Firefox's and Chromium's, are VP8, which
// both decode.
func TestFirefoxCommonCodec(t *testing.T) {
	ff := firefoxtest.New(t)
	r := newJSRig(t)
	s := r.sessionWith(crossbar.SessionOptions{VideoCodec: crossbar.CommonCodec})
	a, _ := r.join("a", s, crossbar.RolePublisher)
	h264Stream := publishCodec(t, a, s, "video/H264")

	fox, _ := r.joinFirefox(ff, r.url+"/", "firefox", s)
	var res jsResult
	fox.Eval(fmt.Sprintf(`new Promise((resolve) => S.subscribe(S.streams.get(%q), document.body, {insertMode: 'append'},
		(err) => resolve(err ? failure(err) : {id: 'subscribed'})))`, h264Stream), &res)
	if res.Error == nil || res.Error.Code != 1502 {
		t.Fatalf("firefox: subscribe to H.264: error %+v, want 1502", res.Error)
	}

	fox.Wait("failed subscriber removed", `OT.subscribers.length === 0`, mediaWait)
	publishCodec(t, fox, s, "video/VP8")
	b, _ := r.join("b", s, crossbar.RolePublisher)
	vp8Stream := publishCodec(t, b, s, "video/VP8")
	fox.Wait("b's stream", fmt.Sprintf(`!!S.streams.get(%q)`, vp8Stream), mediaWait) // its streamCreated may still be on its way
	fox.Eval(fmt.Sprintf(`S.subscribe(S.streams.get(%q), document.body, {insertMode: 'append'}) && true`, vp8Stream), nil)
	b.Eval(`subscribeAll()`, nil)
	fox.WaitDecodedVideo(mediaWait)
	b.WaitVideos(subscriberVideos, 2, mediaWait)
}

// recordOffers keeps the page's offers in window.offers.
const recordOffers = `(() => {
  window.offers = [];
  const createOffer = RTCPeerConnection.prototype.createOffer;
  RTCPeerConnection.prototype.createOffer = async function (...args) {
    const o = await createOffer.apply(this, args);
    offers.push(o.sdp);
    return o;
  };
  return true;
})()`

// firstOfferedVideo is the codec name of the first payload type of the
// first video m-section of the page's last offer.
const firstOfferedVideo = `(() => {
  const sdp = offers[offers.length - 1];
  const pt = sdp.match(/m=video \S+ \S+ (\d+)/)[1];
  return sdp.match(new RegExp('a=rtpmap:' + pt + ' ([^/]+)/'))[1];
})()`

// Firefox publishes VP9 in a VP9 session and VP8 in a default one (it has
// no H.264 in Debian), and Chromium decodes it.
func TestFirefoxSessionVideoCodec(t *testing.T) {
	ff := firefoxtest.New(t)
	r := newJSRig(t)
	for _, codec := range []crossbar.VideoCodec{crossbar.VP8, crossbar.VP9} {
		s := r.sessionWith(crossbar.SessionOptions{VideoCodec: codec})
		fox, _ := r.joinFirefox(ff, r.url+"/", "firefox", s)
		publishCodec(t, fox, s, "video/"+string(codec))
		sub, _ := r.join("chromium", s, crossbar.RoleSubscriber)
		sub.Eval(`subscribeAll()`, nil)
		sub.WaitVideos(subscriberVideos, 1, mediaWait)
	}
}
