package crossbar_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
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

// waitLayers waits until the stream's video layers satisfy ok, and returns them.
func waitLayers(t *testing.T, st *crossbar.Stream, what string, ok func([]sfu.LayerInfo) bool) []sfu.LayerInfo {
	t.Helper()
	deadline := time.Now().Add(mediaWait)
	for {
		layers := st.Publisher().VideoLayers()
		if len(layers) > 0 && ok(layers) {
			return layers
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: layers %+v", what, layers)
		}
		time.Sleep(100 * time.Millisecond)
	}
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
	var res jsResult
	pub.Eval(`publish({resolution: '1280x720'})`, &res)
	if res.Error != nil {
		t.Fatalf("publish: %+v", res.Error)
	}
	stream := res.ID

	// Three layers arrive.
	st, err := s.Stream(stream)
	if err != nil {
		t.Fatal(err)
	}
	waitLayers(t, st, "three active layers", func(l []sfu.LayerInfo) bool {
		return len(l) == 3 && l[0].Active && l[1].Active && l[2].Active
	})

	small, smallID := r.join("small", s, crossbar.RolePublisher)
	small.Eval(`subscribeAll({preferredResolution: {width: 320, height: 180}})`, nil)
	big, bigID := r.join("big", s, crossbar.RolePublisher)
	big.Eval(`subscribeAll()`, nil)
	small.WaitVideos(subscriberVideos, 1, mediaWait)
	big.WaitVideos(subscriberVideos, 1, mediaWait)
	// The keyframes the subscribers asked for tell the layers' sizes (the
	// publisher may scale them down when its CPU is short).
	layers := waitLayers(t, st, "layer sizes", func(l []sfu.LayerInfo) bool {
		return l[0].Width > 0 && l[1].Width > l[0].Width && l[2].Width > l[1].Width
	})
	t.Logf("layers %+v", layers)
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
	}{{640, 360, 640}, {1280, 720, 1280}, {0, 0, 1280}, {100, 100, 320}} {
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
		var res jsResult
		pages[i].Eval(fmt.Sprintf(`publish({videoSource: null, audioSource: tone, publishAudio: %v})`, i == 0), &res)
		if res.Error != nil {
			t.Fatalf("publish %s: %+v", name, res.Error)
		}
		ids[i] = res.ID
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
