package crossbar_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/signaling"
)

var (
	opus = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	vp8  = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
)

// vp8Keyframe is a minimal VP8 RTP payload whose frame tag marks a keyframe:
// a payload descriptor with S=1, then P=0 in the first byte of the frame.
var vp8Keyframe = []byte{0x10, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01}

func TestHostPublishAndRecord(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	watcher := h.connect(s, crossbar.RoleSubscriber, "watcher")

	pub, err := s.Publish(crossbar.PublishOptions{Name: "bot", ConnectionData: "bot", Audio: opus, Video: vp8, Dimensions: crossbar.Dimensions{Width: 320, Height: 240}})
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(t, watcher, signaling.TypeConnectionCreated, signaling.TypeStreamCreated); ev.Type != signaling.TypeConnectionCreated && ev.Connection.Data != "bot" {
		t.Fatalf("first event %+v", ev)
	}
	ev := next(t, watcher, signaling.TypeStreamCreated)
	if ev.Stream.Name != "bot" || !ev.Stream.HasAudio || !ev.Stream.HasVideo || ev.Stream.VideoType != "camera" || ev.Stream.VideoDimensions.Width != 320 {
		t.Fatalf("stream %+v", ev.Stream)
	}

	rec, err := s.Subscribe(pub.Stream().ID(), crossbar.SubscribeOptions{Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	keyframes := 0
	pub.OnKeyframeRequest(func() { keyframes++ })
	// The publisher's sequence numbers wrap; the recorder's stay continuous.
	const n = 50
	for i := range n {
		p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(65530 + i), Timestamp: uint32(i * 3000), SSRC: 1234, Marker: true}, Payload: vp8Keyframe}
		if err := pub.WriteRTP(webrtc.RTPCodecTypeVideo, p); err != nil {
			t.Fatal(err)
		}
		a := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(i), Timestamp: uint32(i * 960), SSRC: 99}, Payload: []byte{0xf8, 0xff, 0xfe}}
		if err := pub.WriteRTP(webrtc.RTPCodecTypeAudio, a); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var last uint16
	for i := range n {
		p, err := rec.ReadRTP(ctx, webrtc.RTPCodecTypeVideo)
		if err != nil {
			t.Fatalf("video packet %d: %v", i, err)
		}
		if i > 0 && p.SequenceNumber != last+1 {
			t.Fatalf("sequence jumps from %d to %d", last, p.SequenceNumber)
		}
		last = p.SequenceNumber
	}
	for i := range n {
		if _, err := rec.ReadRTP(ctx, webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatalf("audio packet %d: %v", i, err)
		}
	}
	if st := rec.Stats(); st.Video.PacketsOut != n || st.Audio.PacketsOut != n {
		t.Fatalf("recorder stats %+v", st)
	}
	if st := pub.Stats(); st.Video.PacketsIn != n || st.Audio.PacketsIn != n {
		t.Fatalf("publisher stats %+v", st)
	}

	// Force mute: the audio stops, everyone is told.
	if err := s.ForceMuteStream(pub.Stream().ID()); err != nil {
		t.Fatal(err)
	}
	ev = next(t, watcher, signaling.TypeStreamPropertyChanged)
	if ev.Change.Property != "hasAudio" || ev.Change.NewValue != false || ev.Stream.HasAudio {
		t.Fatalf("property change %+v %+v", ev.Change, ev.Stream)
	}
	pub.WriteRTP(webrtc.RTPCodecTypeAudio, &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: n, Timestamp: n * 960}, Payload: []byte{1}})
	short, cancelShort := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelShort()
	if p, err := rec.ReadRTP(short, webrtc.RTPCodecTypeAudio); err == nil {
		t.Fatalf("muted audio still forwarded: %v", p)
	}

	if err := pub.Unpublish(); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, watcher, signaling.TypeStreamDestroyed); ev.Reason != "clientUnpublished" {
		t.Fatalf("%+v", ev)
	}
	if ev := next(t, watcher, signaling.TypeConnectionDestroyed); ev.Connection.Data != "bot" {
		t.Fatalf("%+v", ev)
	}
	if _, err := rec.ReadRTP(ctx, webrtc.RTPCodecTypeVideo); !errors.Is(err, io.EOF) {
		t.Fatalf("after unpublish: %v", err)
	}
}

func TestMediaRequestsAreChecked(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	relayed, err := h.srv.CreateSession(context.Background(), crossbar.SessionOptions{MediaMode: crossbar.Relayed})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := relayed.Publish(crossbar.PublishOptions{Audio: opus}); !errors.Is(err, crossbar.ErrBadRequest) {
		t.Fatalf("host publish in relayed session: %v", err)
	}
	pub, err := s.Publish(crossbar.PublishOptions{Audio: opus})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Unpublish()
	yes := true
	cases := []struct {
		role crossbar.Role
		msg  *signaling.Message
		code int
	}{
		{crossbar.RoleSubscriber, &signaling.Message{Type: signaling.TypePublish, SDP: "v=0", Stream: &signaling.Stream{}, Tracks: []signaling.Track{{Mid: "0", Kind: "audio"}}}, 1500},
		{crossbar.RolePublisherOnly, &signaling.Message{Type: signaling.TypeSubscribe, StreamID: pub.Stream().ID()}, 1501},
		{crossbar.RolePublisher, &signaling.Message{Type: signaling.TypeForceMuteStream, StreamID: pub.Stream().ID()}, 1540},
		{crossbar.RolePublisher, &signaling.Message{Type: signaling.TypeForceMuteAll}, 1540},
		{crossbar.RolePublisher, &signaling.Message{Type: signaling.TypeSubscribe, StreamID: "nope"}, 1535},
		{crossbar.RolePublisher, &signaling.Message{Type: signaling.TypePublish}, 1011},
		{crossbar.RolePublisher, &signaling.Message{Type: signaling.TypePublish, SDP: "not sdp", Stream: &signaling.Stream{HasAudio: true}, Tracks: []signaling.Track{{Mid: "0", Kind: "audio"}}}, 1011},
		{crossbar.RolePublisher, &signaling.Message{Type: signaling.TypeStreamUpdate, StreamID: pub.Stream().ID(), Audio: &yes}, 1011},
		{crossbar.RolePublisher, &signaling.Message{Type: signaling.TypeAnswer, SDP: "v=0"}, 1011},
		{crossbar.RolePublisher, &signaling.Message{Type: signaling.TypeCandidate}, 1011},
	}
	for _, tc := range cases {
		ws := dialRaw(t, h.ws)
		send(t, ws, &signaling.Message{Type: signaling.TypeConnect, ID: 1, Token: h.token(s, tc.role, "x")})
		read(t, ws)
		tc.msg.ID = 2
		send(t, ws, tc.msg)
		var m *signaling.Message
		for m = read(t, ws); m.Re != 2; m = read(t, ws) {
		}
		if m.Type != signaling.TypeError || m.Error.Code != tc.code {
			t.Errorf("%s %s: got %+v %+v, want code %d", tc.role, tc.msg.Type, m, m.Error, tc.code)
		}
		ws.CloseNow()
	}
}

// TestSubscribeIsOneOffer: the first subscriberOffer of a subscription
// carries both the stream's audio and its video.
func TestSubscribeIsOneOffer(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	pub, err := s.Publish(crossbar.PublishOptions{Audio: opus, Video: vp8})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Unpublish()
	ws := dialRaw(t, h.ws)
	send(t, ws, &signaling.Message{Type: signaling.TypeConnect, ID: 1, Token: h.token(s, crossbar.RoleSubscriber, "x")})
	send(t, ws, &signaling.Message{Type: signaling.TypeSubscribe, ID: 2, StreamID: pub.Stream().ID()})
	m := read(t, ws)
	for ; m.Type != signaling.TypeSubscriberOffer; m = read(t, ws) {
		if m.Type == signaling.TypeError {
			t.Fatalf("%+v", m.Error)
		}
	}
	for _, kind := range []string{"audio", "video"} {
		if !strings.Contains(m.SDP, "\r\nm="+kind+" ") {
			t.Errorf("the subscription's first offer has no %s section:\n%s", kind, m.SDP)
		}
	}
}

func TestForceMuteAll(t *testing.T) {
	h := newHarness(t, crossbar.Config{})
	s := h.session()
	mod := h.connect(s, crossbar.RoleModerator, "mod")
	a, _ := s.Publish(crossbar.PublishOptions{Name: "a", Audio: opus})
	b, _ := s.Publish(crossbar.PublishOptions{Name: "b", Audio: opus})
	defer a.Unpublish()
	defer b.Unpublish()
	next(t, mod, signaling.TypeStreamCreated)
	next(t, mod, signaling.TypeStreamCreated)

	ctx := context.Background()
	if err := mod.ForceMuteAll(ctx, b.Stream().ID()); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, mod, signaling.TypeStreamPropertyChanged); ev.Stream.ID != a.Stream().ID() || ev.Stream.HasAudio {
		t.Fatalf("%+v", ev.Stream)
	}
	if ev := next(t, mod, signaling.TypeMuteForced); ev.Active == nil || !*ev.Active {
		t.Fatalf("%+v", ev)
	}
	// Streams published meanwhile are muted too, before they are
	// announced: no property of theirs changes before they exist.
	c, _ := s.Publish(crossbar.PublishOptions{Name: "c", Audio: opus})
	defer c.Unpublish()
	if ev := next(t, mod, signaling.TypeStreamCreated, signaling.TypeStreamPropertyChanged); ev.Type != signaling.TypeStreamCreated || ev.Stream.HasAudio {
		t.Fatalf("new stream not muted when announced: %s %+v", ev.Type, ev.Stream)
	}
	if !b.Stream().HasAudio() || a.Stream().HasAudio() {
		t.Fatal("exclusion not honoured")
	}
	if err := mod.DisableForceMute(ctx); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, mod, signaling.TypeMuteForced); ev.Active == nil || *ev.Active {
		t.Fatalf("%+v", ev)
	}
}
