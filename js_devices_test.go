package crossbar_test

import (
	"fmt"
	"testing"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/internal/browsertest"
)

// paintTools defines, in a page, painted(colour): a video track of a
// 320x240 canvas repainted in one CSS colour 25 times a second; and
// seen(): the mean [r, g, b] of the middle of the first subscriber's
// current frame.
const paintTools = `(() => {
  window.painted = (colour) => {
    const c = document.createElement('canvas');
    c.width = 320; c.height = 240;
    const x = c.getContext('2d');
    const paint = () => { x.fillStyle = colour; x.fillRect(0, 0, 320, 240); };
    paint();
    setInterval(paint, 40);
    return c.captureStream(25).getVideoTracks()[0];
  };
  window.seen = () => {
    const v = document.querySelector('.OT_subscriber video');
    if (!v || !v.videoWidth) return null;
    const c = document.createElement('canvas');
    c.width = 32; c.height = 24;
    const x = c.getContext('2d');
    x.drawImage(v, 0, 0, 32, 24);
    const d = x.getImageData(8, 6, 16, 12).data;
    const sum = [0, 0, 0];
    for (let i = 0; i < d.length; i += 4) for (let k = 0; k < 3; k++) sum[k] += d[i + k];
    return sum.map((s) => Math.round(s / (d.length / 4)));
  };
})()`

// twoPages joins pages a and b to a new session and runs each of setup
// (JavaScript) in both.
func (r *jsRig) twoPages(setup ...string) (a, b *browsertest.Page) {
	s := r.session()
	a, _ = r.join("a", s, crossbar.RolePublisher)
	b, _ = r.join("b", s, crossbar.RolePublisher)
	for _, js := range setup {
		a.Eval(js, nil)
		b.Eval(js, nil)
	}
	return a, b
}

// colourJS is a condition on seen() that holds when the subscriber shows
// colour (red, green or blue): that channel above 150, the others below
// 100.
func colourJS(colour string) string {
	i := map[string]int{"red": 0, "green": 1, "blue": 2}[colour]
	return fmt.Sprintf(`((c) => c && c.every((v, k) => k === %d ? v > 150 : v < 100))(seen())`, i)
}

// A publisher switches its video from one track of the app's to another,
// to a camera, to the next camera, and its audio to a track of the app's:
// the stream keeps its id, the subscriber keeps decoding, with no stream
// events but the new size's, and shows what the new source paints. The
// video content hint goes with each source sent.
func TestJSPublisherSwitchesSources(t *testing.T) {
	a, b := newJSRig(t).twoPages(paintTools)
	b.Eval(`subscribeAll()`, nil)
	stream := publish(t, a, `{videoSource: painted('red'), videoContentHint: 'detail'}`)
	b.Wait("red frames", colourJS("red"), mediaWait)
	b.Eval(`window.sub = OT.subscribers.find(); log.length = 0`, nil)
	hints := func() (h struct{ Track, Publisher string }) {
		a.Eval(`({track: P.getVideoSource().track.contentHint, publisher: P.getVideoContentHint()})`, &h)
		return h
	}
	if h := hints(); h.Track != "detail" || h.Publisher != "detail" {
		t.Errorf("content hint %+v after videoContentHint 'detail'", h)
	}

	a.Eval(`P.setVideoSource(painted('blue'))`, nil)
	b.Wait("blue frames", colourJS("blue"), mediaWait)
	var typ string
	a.Eval(`P.getVideoSource().type`, &typ)
	if typ != "custom" {
		t.Errorf("video source type %q after a track, want custom", typ)
	}
	if h := hints(); h.Track != "detail" {
		t.Errorf("content hint %+v of the new source, want detail", h)
	}
	var bad jsResult
	a.Eval(`(() => { try { P.setVideoContentHint('text'); P.setVideoContentHint('sharp'); return {}; } catch (e) { return failure(e); } })()`, &bad)
	if h := hints(); bad.Error == nil || bad.Error.Name != "OT_INVALID_PARAMETER" || h.Track != "text" || h.Publisher != "text" {
		t.Errorf("setVideoContentHint('text') then ('sharp'): %+v, hints %+v; want OT_INVALID_PARAMETER and text", bad.Error, h)
	}

	// A camera by its id, then the next camera: Chromium's one fake camera
	// again. (Its second fake camera, with device-count=2, sends depth
	// frames, which no encoder takes.)
	var cams []string
	a.Eval(`OT.getDevices().then((ds) => ds.filter((d) => d.kind === 'videoInput').map((d) => d.deviceId))`, &cams)
	if len(cams) == 0 {
		t.Fatal("no camera")
	}
	a.Eval(call("P.setVideoSource", cams[0]), nil)
	b.Wait("the camera's frames", `!(`+colourJS("blue")+`)`, mediaWait)
	var cam struct {
		Type, DeviceID string
	}
	a.Eval(`({type: P.getVideoSource().type, deviceId: P.getVideoSource().deviceId})`, &cam)
	if cam.Type != "camera" || cam.DeviceID != cams[0] {
		t.Errorf("video source %+v, want camera %s", cam, cams[0])
	}
	var next struct{ DeviceID string }
	a.Eval(`P.cycleVideo()`, &next)
	if want := cams[1%len(cams)]; next.DeviceID != want {
		t.Errorf("cycleVideo resolved with %q, want %q", next.DeviceID, want)
	}
	browsertest.WaitDecodedVideo(t, b, "b", mediaWait)

	// The audio: a tone of the app's, which the subscriber hears.
	var swapped bool
	a.Eval(`window.tone = (() => {
		const ctx = new AudioContext();
		const osc = ctx.createOscillator();
		const dst = ctx.createMediaStreamDestination();
		osc.connect(dst);
		osc.start();
		return dst.stream.getAudioTracks()[0];
	})(); P.setAudioSource(tone).then(() => P.getAudioSource() === tone && P.mediaStream.getAudioTracks()[0] === tone)`, &swapped)
	if !swapped {
		t.Error("the tone is not the audio source after setAudioSource")
	}
	b.WaitInboundAudio(mediaWait)

	var after struct {
		Same   bool
		Events []string
		Stream string
	}
	b.Eval(`({same: OT.subscribers.length === 1 && OT.subscribers.find() === sub, stream: sub.stream.streamId,
		events: log.filter((e) => e.prop !== 'videoDimensions').map((e) => e.type)})`, &after)
	if !after.Same || len(after.Events) != 0 || after.Stream != stream {
		t.Errorf("subscriber after the switches: same %v, session events %v, stream %s (want %s)", after.Same, after.Events, after.Stream, stream)
	}

	// Bad sources fail with OpenTok's errors; the stream goes on.
	for _, c := range []struct {
		src  string
		code int
		name string
	}{
		{`'no-such-camera'`, 1040, "OT_SET_VIDEO_SOURCE_FAILURE"},
		{`42`, 1041, "OT_INVALID_VIDEO_SOURCE"},
		{`tone`, 1041, "OT_INVALID_VIDEO_SOURCE"},
	} {
		var res jsResult
		a.Eval(`P.setVideoSource(`+c.src+`).then(() => ({}), failure)`, &res)
		if res.Error == nil || res.Error.Code != c.code || res.Error.Name != c.name {
			t.Errorf("setVideoSource(%s): %+v, want %d %s", c.src, res.Error, c.code, c.name)
		}
	}
	browsertest.WaitDecodedVideo(t, b, "b", mediaWait)
}

// The audio output: subscribers play on the device chosen, those made
// later too; an unknown device is refused.
func TestJSAudioOutputDevice(t *testing.T) {
	a, b := newJSRig(t).twoPages()
	publish(t, a, `{resolution: '320x240'}`)
	var outputs []struct{ DeviceID, Label string }
	b.Eval(`OT.getAudioOutputDevices()`, &outputs)
	t.Logf("audio outputs: %+v", outputs)
	var res jsResult
	b.Eval(`OT.setAudioOutputDevice('no-such-output').then(() => ({}), failure)`, &res)
	if res.Error == nil || res.Error.Name != "OT_INVALID_PARAMETER" {
		t.Errorf("setAudioOutputDevice of an unknown device: %+v", res.Error)
	}
	if len(outputs) == 0 {
		t.Fatal("no audio output to choose")
	}
	chosen := outputs[len(outputs)-1].DeviceID
	b.Eval(`subscribeAll()`, nil)
	b.WaitInboundAudio(mediaWait)
	b.Eval(call("OT.setAudioOutputDevice", chosen), nil)
	var active struct{ DeviceID string }
	b.Eval(`OT.getActiveAudioOutputDevice()`, &active)
	if active.DeviceID != chosen {
		t.Errorf("active output %q, want %q", active.DeviceID, chosen)
	}
	// The subscriber of a stream published later plays on it too.
	publish(t, a, `{resolution: '320x240'}`)
	b.Wait("both subscribers play on the chosen output", fmt.Sprintf(`[...document.querySelectorAll('.OT_subscriber video')].length === 2 &&
		[...document.querySelectorAll('.OT_subscriber video')].every((v) => v.sinkId === %q)`, chosen), mediaWait)
	b.WaitInboundAudio(mediaWait)
}
