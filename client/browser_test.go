package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/internal/browsertest"
)

// browserPage is a page that subscribes with the browser client and reads
// the decoder's statistics.
const browserPage = `<!doctype html>
<meta charset="utf-8">
<script src="/crossbar/crossbar.js"></script>
<body>
<script>
async function join(sid, token) {
  window.S = OT.initSession('ignored', sid);
  await S.connect(token);
}
function subscribe(id) {
  const sub = (stream) => { if (stream.streamId === id) window.SUB = S.subscribe(stream, document.body, { insertMode: 'append' }); };
  S.streams.forEach(sub);
  S.on('streamCreated', (e) => sub(e.stream));
}
async function videoStats() {
  let v = {};
  (await SUB.getRtcStatsReport()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') v = s; });
  return { framesDecoded: v.framesDecoded || 0, keyFramesDecoded: v.keyFramesDecoded || 0, pliCount: v.pliCount || 0,
    framesDropped: v.framesDropped || 0, width: v.frameWidth || 0, height: v.frameHeight || 0, decoder: v.decoderImplementation || '' };
}
</script>
`

// videoStats is the page's videoStats.
type videoStats struct {
	FramesDecoded    int    `json:"framesDecoded"`
	KeyFramesDecoded int    `json:"keyFramesDecoded"`
	PLICount         int    `json:"pliCount"`
	FramesDropped    int    `json:"framesDropped"`
	Width            int    `json:"width"`
	Height           int    `json:"height"`
	Decoder          string `json:"decoder"`
}

// TestSynthPlaysInChromium publishes synthetic media from Go and checks
// that Chromium, subscribed with the browser client, decodes the video,
// interframes included, and receives the audio.
func TestSynthPlaysInChromium(t *testing.T) {
	b := browsertest.New(t)
	srv := newServer(t)
	alice := srv.connect(crossbar.RolePublisher, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub, err := alice.Publish(ctx, client.PublishOptions{Name: "synth", Audio: true, Video: true, Width: 320, Height: 240})
	if err != nil {
		t.Fatal(err)
	}
	synthCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	// Keyframes only when asked for: the frames Chromium shows between
	// them are interframes.
	go func() {
		done <- pub.Synthesize(synthCtx, client.SynthOptions{Width: 320, Height: 240, FrameRate: 15, KeyframeInterval: time.Hour})
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("synthesize: %v", err)
		}
	}()
	if _, err := pub.WaitCreated(ctx); err != nil {
		t.Fatal(err)
	}

	page := b.Open(t, "bob", srv.page)
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	page.Eval(fmt.Sprintf("join(%s, %s)", q(srv.session.ID()), q(srv.token(crossbar.RoleSubscriber, "bob"))), nil)
	page.Eval(fmt.Sprintf("subscribe(%s)", q(pub.StreamID())), nil)
	page.WaitVideos("video", 1, 15*time.Second)
	page.WaitInboundAudio(10 * time.Second)

	var first videoStats
	page.Eval("videoStats()", &first)
	page.Wait("30 more frames decoded", fmt.Sprintf("videoStats().then((s) => s.framesDecoded >= %d)", first.FramesDecoded+30), 15*time.Second)
	var last videoStats
	page.Eval("videoStats()", &last)
	t.Logf("Chromium's video decoder: %+v", last)
	decoded := last.FramesDecoded - first.FramesDecoded
	keyframes := last.KeyFramesDecoded - first.KeyFramesDecoded
	if keyframes > 2 || last.Width != 320 || last.Height != 240 {
		t.Errorf("of %d frames Chromium decoded, %d were keyframes; stats %+v", decoded, keyframes, last)
	}
}
