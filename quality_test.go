package crossbar_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pion/interceptor"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/client"
	"github.com/crossbar-rtc/crossbar/crossbartest/netem"
	"github.com/crossbar-rtc/crossbar/internal/browsertest"
	"github.com/crossbar-rtc/crossbar/sfu"
)

// frameWatch records, in the page, the frames a subscriber's video element
// presents (requestVideoFrameCallback): their times and sizes, so that tests
// can measure freezes and see layer switches.
const frameWatch = `(() => {
  const v = document.querySelector('.OT_subscriber video');
  window.frames = [];
  const each = (now, meta) => {
    frames.push({t: now, w: meta.width, h: meta.height, n: meta.presentedFrames});
    v.requestVideoFrameCallback(each);
  };
  v.requestVideoFrameCallback(each);
  window.frameStats = (from) => {
    const fs = frames.filter((f) => f.t >= from);
    let gap = 0, lost = 0;
    for (let i = 1; i < fs.length; i++) {
      gap = Math.max(gap, fs[i].t - fs[i - 1].t);
      lost += Math.max(0, fs[i].n - fs[i - 1].n - 1);
    }
    const last = fs[fs.length - 1] || {};
    return {frames: fs.length, maxGap: gap, skipped: lost, width: last.w || 0, height: last.h || 0};
  };
  return true;
})()`

// senderDiag describes, in the page, what the publisher's video sender sends
// per layer and why Chromium limits it.
const senderDiag = `(async () => {
  const s = P.transceivers.find((x) => x.sender.track.kind === 'video').sender;
  const out = [];
  (await s.getStats()).forEach((r) => {
    if (r.type === 'outbound-rtp') out.push({rid: r.rid, w: r.frameWidth, fps: r.framesPerSecond, bps: r.targetBitrate, why: r.qualityLimitationReason, active: r.active});
    if (r.type === 'candidate-pair' && r.nominated) out.push({available: r.availableOutgoingBitrate, rtt: r.currentRoundTripTime});
  });
  return out;
})()`

type frameStats struct {
	Frames  int
	MaxGap  float64
	Skipped int
	Width   int
	Height  int
}

// videoSize returns the size of the frames a page's subscriber presents.
func videoSize(p *browsertest.Page) (w, h int) {
	var size struct{ W, H int }
	p.Eval(`({w: OT.subscribers.find().videoWidth(), h: OT.subscribers.find().videoHeight()})`, &size)
	return size.W, size.H
}

// waitLayers waits until the stream's video layers satisfy ok, and returns
// them. If they do not, it reports what the publisher's page sends.
func waitLayers(t *testing.T, pub *browsertest.Page, st *crossbar.Stream, what string, ok func([]sfu.LayerInfo) bool) []sfu.LayerInfo {
	t.Helper()
	return waitLayersFor(t, mediaWait, pub, st, what, ok)
}

// waitLayersFor is waitLayers waiting up to d.
func waitLayersFor(t *testing.T, d time.Duration, pub *browsertest.Page, st *crossbar.Stream, what string, ok func([]sfu.LayerInfo) bool) []sfu.LayerInfo {
	t.Helper()
	var layers []sfu.LayerInfo
	if !poll(d, func() bool {
		layers = st.Publisher().VideoLayers()
		return len(layers) > 0 && ok(layers)
	}) {
		var diag any
		if err := pub.Try(senderDiag, &diag); err != nil {
			diag = err
		}
		t.Fatalf("waiting for %s: layers %+v; the publisher sends %+v", what, layers, diag)
	}
	return layers
}

// smallAndBig joins two pages to s that subscribe to every stream, one
// preferring 320x180, the other the full size, and waits for their videos
// to play.
func (r *jsRig) smallAndBig(s *crossbar.Session, role crossbar.Role) (small *browsertest.Page, smallID string, big *browsertest.Page, bigID string) {
	r.t.Helper()
	small, smallID = r.join("small", s, role)
	small.Eval(`subscribeAll({preferredResolution: {width: 320, height: 180}})`, nil)
	big, bigID = r.join("big", s, role)
	big.Eval(`subscribeAll()`, nil)
	small.WaitVideos(subscriberVideos, 1, mediaWait)
	big.WaitVideos(subscriberVideos, 1, mediaWait)
	return small, smallID, big, bigID
}

// subscriberOf returns the server's subscriber of a stream for a connection.
func subscriberOf(t *testing.T, s *crossbar.Session, stream, conn string) *crossbar.Subscriber {
	t.Helper()
	st, err := s.Stream(stream)
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range st.Subscribers() {
		if sub.Connection().ID() == conn {
			return sub
		}
	}
	t.Fatalf("no subscriber of %s for %s", stream, conn)
	return nil
}

func TestJSSimulcastLayersPerSubscriber(t *testing.T) {
	r := newJSRig(t)
	s := r.session()
	pub, _ := r.join("publisher", s, crossbar.RolePublisher)
	stream := publish(t, pub, `{resolution: '1280x720'}`)

	// Three layers arrive; with nobody watching, the publisher is told to
	// pause all but the lowest.
	st, err := s.Stream(stream)
	if err != nil {
		t.Fatal(err)
	}
	waitLayers(t, pub, st, "three layers", func(l []sfu.LayerInfo) bool { return len(l) == 3 })
	const encodings = `P.transceivers.find((x) => x.sender.track.kind === 'video').sender.getParameters().encodings.map((e) => e.active).join()`
	pub.Wait("layers h and f paused", encodings+` === 'true,false,false'`, mediaWait)
	waitLayers(t, pub, st, "h and f stopped", func(l []sfu.LayerInfo) bool { return l[0].Active && !l[1].Active && !l[2].Active })

	small, smallID, big, bigID := r.smallAndBig(s, crossbar.RolePublisher)
	// The big subscriber wants the top layer, which resumes; the middle one
	// stays paused.
	pub.Wait("layer f resumed", encodings+` === 'true,false,true'`, mediaWait)
	layers := waitLayers(t, pub, st, "layer sizes", func(l []sfu.LayerInfo) bool {
		return l[0].Width > 0 && l[2].Width > l[0].Width
	})
	t.Logf("layers %+v", layers)
	// Chromium sends the resumed layer once its bandwidth estimate allows:
	// at once on its own; when the other packages' browser tests load the
	// machine, its estimate may have sunk to the lowest layer's rate while
	// the others were paused, and climbs back at 8 % a second.
	waitLayersFor(t, 2*mediaWait, pub, st, "layer f sent", func(l []sfu.LayerInfo) bool { return l[2].Active })
	small.Wait("320x180 frames", `OT.subscribers.find().videoWidth() === 320`, mediaWait)
	big.Wait("1280x720 frames", `OT.subscribers.find().videoWidth() === 1280`, mediaWait)
	if l := subscriberOf(t, s, stream, smallID).VideoLayer(); l != 0 {
		t.Errorf("small subscriber on layer %d, want 0", l)
	}
	if l := subscriberOf(t, s, stream, bigID).VideoLayer(); l != 2 {
		t.Errorf("big subscriber on layer %d, want 2", l)
	}

	// The small one asks for more, then for less again: each switch is
	// seamless (no freeze over the frame interval's order, no decoder reset).
	small.Eval(frameWatch, nil)
	for _, step := range []struct {
		w, h, wantW int
	}{{640, 360, 640}, {1280, 720, 1280}, {0, 0, 1280}, {100, 100, 320}} { // 640x360 resumes layer h
		var from float64
		small.Eval(`performance.now()`, &from)
		t0 := time.Now()
		small.Eval(fmt.Sprintf(`OT.subscribers.find().setPreferredResolution(%s)`,
			map[bool]string{true: "null", false: fmt.Sprintf("{width: %d, height: %d}", step.w, step.h)}[step.w == 0]), nil)
		small.Wait(fmt.Sprintf("%d wide frames", step.wantW), fmt.Sprintf(`OT.subscribers.find().videoWidth() === %d`, step.wantW), mediaWait)
		took := time.Since(t0)
		time.Sleep(500 * time.Millisecond)
		var fs frameStats
		small.Eval(fmt.Sprintf(`frameStats(%f)`, from), &fs)
		t.Logf("switch to %dx%d: %v to the new size; frames %d, longest gap %.0f ms, frames skipped %d", step.w, step.h, took.Round(time.Millisecond), fs.Frames, fs.MaxGap, fs.Skipped)
		if fs.MaxGap > 1000 {
			t.Errorf("switch to %dx%d: frozen for %.0f ms", step.w, step.h, fs.MaxGap)
		}
	}

	// The Go client's preferences reach the server too.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bot := r.goClient(ctx, s, "bot")
	sub, err := bot.Subscribe(ctx, stream, client.SubscribeOptions{Video: true, PreferredWidth: 320, PreferredHeight: 180})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			if _, _, err := sub.ReadRTP(ctx); err != nil {
				return
			}
		}
	}()
	botSub := subscriberOf(t, s, stream, bot.Connection().ID)
	waitFor(t, mediaWait, "the Go client on layer 0", func() bool { return botSub.VideoLayer() == 0 })
	if err := sub.SetPreferredResolution(ctx, 1280, 720); err != nil {
		t.Fatal(err)
	}
	waitFor(t, mediaWait, "the Go client on layer 2", func() bool { return botSub.VideoLayer() == 2 })
	if got := botSub.PreferredResolution(); got != (crossbar.Dimensions{Width: 1280, Height: 720}) {
		t.Errorf("server-side preference %+v", got)
	}
}

// toneTrack makes, in the page, a continuous tone as an audio track:
// Chromium's fake microphone only beeps briefly twice a second.
const toneTrack = `(() => {
  const ctx = new AudioContext();
  const osc = ctx.createOscillator();
  const dst = ctx.createMediaStreamDestination();
  osc.connect(dst);
  osc.start();
  window.tone = dst.stream.getAudioTracks()[0];
  return ctx.resume().then(() => ctx.state);
})()`

func TestJSAudioLevelsAndActiveSpeaker(t *testing.T) {
	r := newJSRig(t)
	s := r.session()
	speakers := make(chan string, 16)
	s.OnActiveSpeakerChanged(func(st *crossbar.Stream) {
		id := ""
		if st != nil {
			id = st.ID()
		}
		speakers <- id
	})
	expect := func(what, want string) {
		t.Helper()
		select {
		case got := <-speakers:
			if got != want {
				t.Fatalf("%s: active speaker %q, want %q", what, got, want)
			}
		case <-time.After(mediaWait):
			t.Fatalf("%s: no active speaker change", what)
		}
	}
	var ids [2]string
	pages := make([]*browsertest.Page, 2)
	for i, name := range []string{"a", "b"} {
		pages[i], _ = r.join(name, s, crossbar.RolePublisher)
		var state string
		pages[i].Eval(toneTrack, &state)
		if state != "running" {
			t.Fatalf("page %s: audio context %s", name, state)
		}
		ids[i] = publish(t, pages[i], fmt.Sprintf(`{videoSource: null, audioSource: tone, publishAudio: %v}`, i == 0))
	}
	expect("a speaks", ids[0])
	pages[0].Eval(`P.publishAudio(false)`, nil)
	pages[1].Eval(`P.publishAudio(true)`, nil)
	expect("b speaks", ids[1])
	if got := s.ActiveSpeaker(); got == nil || got.ID() != ids[1] {
		t.Fatalf("ActiveSpeaker %v, want %s", got, ids[1])
	}
	pages[1].Eval(`P.publishAudio(false)`, nil)
	expect("silence", "")

	// A subscriber reads the levels the server forwards in the header
	// extension, and reports them in audioLevelUpdated.
	pages[1].Eval(`P.publishAudio(true); subscribeAll()`, nil)
	pages[0].Eval(`subscribeAll()`, nil)
	pages[0].WaitInboundAudio(mediaWait)
	pages[0].Wait("level in the synchronization sources", `(() => {
		const ms = document.querySelector('.OT_subscriber video').srcObject;
		const r = S.receiversOf(ms).find((x) => x.track.kind === 'audio');
		return r.getSynchronizationSources().some((x) => x.audioLevel > 0.05);
	})()`, mediaWait)
	var level float64
	pages[0].Eval(`new Promise((resolve) => OT.subscribers.find().on('audioLevelUpdated', (e) => e.audioLevel > 0.05 && resolve(e.audioLevel)))`, &level)
	st, err := s.Stream(ids[1])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tone: level %.2f in the subscriber, %.2f in the server", level, st.Publisher().AudioLevel())
}

// bandwidthLimit picks the limit of TestJSBandwidthAdaptation between a
// lower layer of bitrate low and a top layer of bitrate top: room for the
// lower layer and the audio twice over, if the top layer needs 1.6 times
// as much. Under load the encoder sometimes makes much less of the top
// layer's target (530 kbit/s of 833, with the lower layer at 210); the
// limit then leaves the lower layer room 1.6 times over (less made it
// freeze in trials), if the top layer needs 1.3 times as much; else ok is
// false.
func bandwidthLimit(low, top uint64) (limit uint64, ok bool) {
	if limit = max(2*low+50_000, 250_000); 10*top > 16*limit {
		return limit, true
	}
	limit = max(8*low/5+50_000, 250_000)
	return limit, 10*top > 13*limit
}

// inboundSSRCs returns the SSRCs a page's subscriber receives.
const inboundSSRCs = `(async () => {
  const ms = document.querySelector('.OT_subscriber video').srcObject;
  const out = [];
  for (const r of S.receiversOf(ms)) (await r.getStats()).forEach((s) => s.type === 'inbound-rtp' && out.push(s.ssrc));
  return out;
})()`

func TestJSBandwidthAdaptation(t *testing.T) {
	sh := &netem.Shaper{}
	r := newJSRigWith(t, sfu.Config{LoopbackOnly: true, Interceptors: []interceptor.Factory{sh}})
	t.Cleanup(sh.Wait)
	s := r.session()
	pub, _ := r.join("publisher", s, crossbar.RolePublisher)
	stream := publish(t, pub, `{resolution: '640x480'}`)
	st, err := s.Stream(stream)
	if err != nil {
		t.Fatal(err)
	}
	// 640x480 goes in two layers: 320x240 and 640x480.
	waitLayers(t, pub, st, "two active layers", func(l []sfu.LayerInfo) bool {
		return len(l) == 2 && l[0].Active && l[1].Active
	})
	limited, limitedID := r.join("limited", s, crossbar.RolePublisher)
	free, freeID := r.join("free", s, crossbar.RolePublisher)
	for _, p := range []*browsertest.Page{limited, free} {
		p.Eval(`subscribeAll()`, nil)
		p.WaitVideos(subscriberVideos, 1, mediaWait)
	}
	limitedSub, freeSub := subscriberOf(t, s, stream, limitedID), subscriberOf(t, s, stream, freeID)
	waitFor(t, mediaWait, "both subscribers on the top layer", func() bool {
		return limitedSub.VideoLayer() == 1 && freeSub.VideoLayer() == 1
	})
	// The publisher's own bandwidth estimate ramps the top layer up: within
	// a second or two alone, more slowly when the other packages' browser
	// tests load the machine.
	layers := waitLayersFor(t, 2*mediaWait, pub, st, "the top layer at full rate", func(l []sfu.LayerInfo) bool {
		_, ok := bandwidthLimit(l[0].Bitrate, l[1].Bitrate)
		return ok
	})
	t.Logf("layers %+v", layers)
	var ssrcs []uint32
	limited.Eval(inboundSSRCs, &ssrcs)
	limited.Eval(`window.qualityEvents = []; OT.subscribers.find().on('videoDisabled videoEnabled', (e) => qualityEvents.push(e.type + ':' + e.reason))`, nil)
	limited.Eval(frameWatch, nil)

	// A limit that carries the lower layer and the audio with room to spare,
	// and not the top layer (which needs at least 1.3 times as much): the
	// limited subscriber steps down, the free one stays on top.
	lim, _ := bandwidthLimit(layers[0].Bitrate, layers[1].Bitrate)
	limit := int(lim)
	var from float64
	limited.Eval(`performance.now()`, &from)
	t0 := time.Now()
	sh.Set(netem.Conditions{Rate: limit, SSRCs: ssrcs})
	waitFor(t, 10*time.Second, "the limited subscriber below the top layer", func() bool { return limitedSub.VideoLayer() == 0 })
	down := time.Since(t0)
	// Under the limit for 8 s, long enough for a probe of the top layer,
	// which fails.
	time.Sleep(8 * time.Second)
	var fs frameStats
	limited.Eval(fmt.Sprintf(`frameStats(%f)`, from), &fs)
	t.Logf("limit %d kbps: down to layer 0 in %v; over %v: %d frames, longest gap %.0f ms, frames skipped %d",
		limit/1000, down.Round(10*time.Millisecond), time.Since(t0).Round(time.Second), fs.Frames, fs.MaxGap, fs.Skipped)
	// Each step down (at the limit, and when the probe fails) waits for the
	// bottleneck's queue to drain (up to netem.DefaultMaxDelay) and for a keyframe
	// of the lower layer: 100-700 ms here, once 1,070 ms on the 2-core CI
	// machine running the other packages' browser tests. Longer means a
	// step waited for something else (a periodic keyframe, a probe).
	if fs.MaxGap > 1500 {
		t.Errorf("limited subscriber froze for %.0f ms", fs.MaxGap)
	}
	if l := freeSub.VideoLayer(); l != 1 {
		t.Errorf("free subscriber on layer %d, want 1", l)
	}

	// The limit lifted, probes bring the limited subscriber back up.
	t0 = time.Now()
	sh.Set(netem.Conditions{})
	waitFor(t, 30*time.Second, "the limited subscriber back on the top layer", func() bool { return limitedSub.VideoLayer() == 1 })
	t.Logf("limit lifted: back to the top layer in %v", time.Since(t0).Round(10*time.Millisecond))

	// Too little for the lowest layer: audio only, then video again.
	limited.Eval(`qualityEvents = []`, nil)
	t0 = time.Now()
	sh.Set(netem.Conditions{Rate: int(layers[0].Bitrate) / 2, SSRCs: ssrcs})
	limited.Wait("videoDisabled for quality", `qualityEvents.includes('videoDisabled:quality')`, 20*time.Second)
	t.Logf("limit %d kbps: audio only after %v", layers[0].Bitrate/2000, time.Since(t0).Round(10*time.Millisecond))
	limited.WaitInboundAudio(mediaWait)
	t0 = time.Now()
	sh.Set(netem.Conditions{})
	limited.Wait("videoEnabled for quality", `qualityEvents.includes('videoEnabled:quality')`, 30*time.Second)
	t.Logf("limit lifted: video back after %v", time.Since(t0).Round(10*time.Millisecond))
	if l := freeSub.VideoLayer(); l != 1 {
		t.Errorf("free subscriber on layer %d, want 1", l)
	}
}
