package crossbar_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/internal/browsertest"
	"github.com/crossbar-rtc/crossbar/sfu"
)

// inboundVideo is, in a subscriber's page, the size of the last frame its
// video decoder produced and how many it decoded (getStats).
const inboundVideo = `OT.subscribers.find().getRtcStatsReport().then((rep) => {
  let v = {width: 0, height: 0, decoded: 0};
  rep.forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'video') v = {width: r.frameWidth || 0, height: r.frameHeight || 0, decoded: r.framesDecoded || 0};
  });
  return v;
})`

// videoSender describes, in a publisher's page, what its video sender was
// told to send and sends: encodings, scalability mode, codec.
const videoSender = `(async () => {
  const s = P.transceivers.find((x) => x.sender.track.kind === 'video').sender;
  const out = {encodings: s.getParameters().encodings.map((e) => e.scalabilityMode || e.rid || '-').join()};
  (await s.getStats()).forEach((r) => {
    if (r.type === 'outbound-rtp') Object.assign(out, {mode: r.scalabilityMode || '', width: r.frameWidth || 0, encoder: r.encoderImplementation || ''});
    if (r.type === 'codec') Object.assign(out, {codec: r.mimeType, fmtp: r.sdpFmtpLine || ''});
  });
  return out;
})()`

type decoded struct{ Width, Height, Decoded int }

// waitDecoded waits until a subscriber's page decodes frames width wide,
// 10 more of them after the first, and returns how long that took.
func waitDecoded(t *testing.T, p *browsertest.Page, width int) time.Duration {
	t.Helper()
	t0 := time.Now()
	p.Wait(fmt.Sprintf("%d wide frames", width), fmt.Sprintf(`%s.then((v) => v.width === %d)`, inboundVideo, width), mediaWait)
	took := time.Since(t0)
	var v decoded
	p.Eval(inboundVideo, &v)
	p.Wait(fmt.Sprintf("10 more %d wide frames", width), fmt.Sprintf(`%s.then((v) => v.width === %d && v.decoded >= %d)`, inboundVideo, width, v.Decoded+10), mediaWait)
	return took
}

// A Chromium page publishes VP9 in a VP9 session as one SVC encoding of
// three spatial layers (L3T3_KEY); each subscriber gets the spatial layers
// of the size it prefers, and moves up and down when it prefers another.
func TestJSVP9SVCLayersPerSubscriber(t *testing.T) {
	r := newJSRig(t)
	s, err := r.srv.CreateSession(context.Background(), crossbar.SessionOptions{VideoCodec: crossbar.VP9})
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := r.join("publisher", s, crossbar.RolePublisher)
	stream := publish(t, pub, `{resolution: '1280x720'}`)
	st, err := s.Stream(stream)
	if err != nil {
		t.Fatal(err)
	}
	layers := waitLayers(t, pub, st, "three spatial layers", func(l []sfu.LayerInfo) bool {
		return len(l) == 3 && l[0].Width > 0 && l[2].Width == 1280 && l[2].Active
	})
	var sender struct {
		Encodings, Mode, Encoder, Codec, Fmtp string
		Width                                 int
	}
	pub.Wait("the sender's stats", `(`+videoSender+`).then((s) => s.codec !== undefined)`, mediaWait)
	pub.Eval(videoSender, &sender)
	t.Logf("publisher: encodings %s, sends %s %s (%s) in %s, %d wide; layers %+v", sender.Encodings, sender.Codec, sender.Fmtp, sender.Encoder, sender.Mode, sender.Width, layers)
	if sender.Encodings != "L3T3_KEY" || sender.Codec != "video/VP9" {
		t.Fatalf("the publisher sends %+v, want VP9 in one L3T3_KEY encoding", sender)
	}

	small, smallID, big, bigID := r.smallAndBig(s, crossbar.RoleSubscriber)
	waitDecoded(t, small, layers[0].Width)
	waitDecoded(t, big, 1280)
	if l := subscriberOf(t, s, stream, smallID).VideoLayer(); l != 0 {
		t.Errorf("small subscriber on layer %d, want 0", l)
	}
	if l := subscriberOf(t, s, stream, bigID).VideoLayer(); l != 2 {
		t.Errorf("big subscriber on layer %d, want 2", l)
	}

	// The small one asks for more, then for less again.
	for _, step := range []struct {
		pref  string
		width int
	}{{"{width: 1280, height: 720}", 1280}, {"{width: 640, height: 360}", layers[1].Width}, {"{width: 320, height: 180}", layers[0].Width}} {
		small.Eval(`OT.subscribers.find().setPreferredResolution(`+step.pref+`)`, nil)
		took := waitDecoded(t, small, step.width)
		t.Logf("preferring %s: %v to %d wide decoded frames", step.pref, took.Round(time.Millisecond), step.width)
	}
	// The big one still gets the top layer the publisher sends (Chromium
	// drops the top spatial layer when short of CPU or bandwidth).
	var v decoded
	if !poll(mediaWait, func() bool {
		big.Eval(inboundVideo, &v)
		l := st.Publisher().VideoLayers()
		return v.Width == l[len(l)-1].Width
	}) {
		pub.Eval(videoSender, &sender)
		t.Errorf("big subscriber decodes %+v; layers %+v, the publisher sends %+v", v, st.Publisher().VideoLayers(), sender)
	}
}
