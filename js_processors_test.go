package crossbar_test

import (
	"strconv"
	"testing"

	"github.com/crossbar-rtc/crossbar/internal/browsertest"
)

// connectorTools defines, in a page, paintConnector(colour): a
// MediaProcessorConnector that ignores its track's pictures and paints
// frames of colour (from a canvas, which every browser has), noting the
// track it got in window.processed; and muteConnector: one whose audio is
// silence.
const connectorTools = `(() => {
  window.paintConnector = (colour) => ({
    setTrack(track) { window.processed = track; return Promise.resolve(painted(colour)); },
    destroy() {},
  });
  window.muteConnector = {
    setTrack(track) {
      const ctx = new AudioContext();
      return Promise.resolve(ctx.createMediaStreamDestination().stream.getAudioTracks()[0]);
    },
    destroy() {},
  };
})()`

// sharpness is the mean difference of horizontally neighbouring pixels'
// green values in the first subscriber's current frame.
const sharpness = `(() => {
  const v = document.querySelector('.OT_subscriber video');
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  const x = c.getContext('2d');
  x.drawImage(v, 0, 0);
  const d = x.getImageData(0, 0, c.width, c.height).data;
  let sum = 0;
  for (let y = 0; y < c.height; y++) for (let i = 0; i < c.width - 1; i++) sum += Math.abs(d[(y * c.width + i) * 4 + 1] - d[(y * c.width + i + 1) * 4 + 1]);
  return sum / (c.height * (c.width - 1));
})()`

// loudest resolves with the highest audioLevelUpdated level of the first
// subscriber over 1.5 s (Chromium's fake microphone beeps twice a second).
const loudest = `new Promise((resolve) => {
  const sub = OT.subscribers.find();
  let max = 0;
  const on = (e) => { max = Math.max(max, e.audioLevel); };
  sub.on('audioLevelUpdated', on);
  setTimeout(() => { sub.off('audioLevelUpdated', on); resolve(max); }, 1500);
})`

// A video connector's frames reach the subscriber, and leave when it is
// removed; an audio connector's silence too. The stream stays.
func TestJSMediaProcessorConnectors(t *testing.T) {
	a, b := newJSRig(t).twoPages(paintTools, connectorTools)
	b.Eval(`subscribeAll()`, nil)
	checkConnectors(t, a, b)
	b.Wait("the beeps", loudest+`.then((l) => l > 0.05)`, mediaWait)
	a.Eval(`P.setAudioMediaProcessorConnector(muteConnector)`, nil)
	b.Wait("silence", loudest+`.then((l) => l < 0.01)`, mediaWait)
	a.Eval(`P.setAudioMediaProcessorConnector(null)`, nil)
	b.Wait("the beeps again", loudest+`.then((l) => l > 0.05)`, mediaWait)
}

// checkConnectors publishes page a's camera at 320x240, which page b
// (subscribed to everything) decodes, then puts a green connector on the
// video and takes it off; it checks that b sees green then the camera, in
// one stream, and that the connector got the camera's track.
func checkConnectors(t *testing.T, a, b tab) {
	t.Helper()
	publish(t, a, `{resolution: '320x240'}`)
	browsertest.WaitDecodedVideo(t, b, "b", mediaWait)
	b.Eval(`window.sub = OT.subscribers.find(); log.length = 0`, nil)
	var bad jsResult
	a.Eval(`P.setVideoMediaProcessorConnector({setTrack: 1}).then(() => ({}), failure)`, &bad)
	if bad.Error == nil || bad.Error.Name != "OT_INVALID_PARAMETER" {
		t.Errorf("a connector without destroy: %+v", bad.Error)
	}
	var got bool
	a.Eval(`P.setVideoMediaProcessorConnector(paintConnector('lime')).then(() => processed === P.getVideoSource().track && P.getVideoSource().type === 'camera')`, &got)
	if !got {
		t.Error("the connector did not get the camera's track")
	}
	browsertest.Wait(t, b, "b", "the connector's green", colourJS("green"), mediaWait)
	a.Eval(`P.setVideoMediaProcessorConnector(null)`, nil)
	browsertest.Wait(t, b, "b", "the camera again", `seen() && !(`+colourJS("green")+`)`, mediaWait)
	var events []string
	b.Eval(`OT.subscribers.length === 1 && OT.subscribers.find() === sub ? types() : ['another subscriber']`, &events)
	if len(events) != 0 {
		t.Errorf("events %v while the connector came and went", events)
	}
}

// checkered is a video track of a 320x240 canvas of 8-pixel black and
// white squares, redrawn 25 times a second.
const checkered = `window.checkered = (() => {
  const c = document.createElement('canvas');
  c.width = 320; c.height = 240;
  const x = c.getContext('2d');
  const paint = () => {
    x.fillStyle = 'white'; x.fillRect(0, 0, 320, 240); x.fillStyle = 'black';
    for (let i = 0; i < 40; i++) for (let j = 0; j < 30; j++) if ((i + j) % 2) x.fillRect(i * 8, j * 8, 8, 8);
  };
  setInterval(paint, 40);
  paint();
  return c.captureStream(25).getVideoTracks()[0];
})()`

// applyVideoFilter's blur reaches the subscriber, whose frames lose most
// of their detail, and clearVideoFilter brings it back; the videoFilter
// property applies it from the start; a background replacement is not
// supported.
func TestJSVideoFilterBlurs(t *testing.T) {
	a, b := newJSRig(t).twoPages()
	b.Eval(`subscribeAll()`, nil)
	a.Eval(checkered, nil)
	publish(t, a, `{videoSource: checkered}`)
	browsertest.WaitDecodedVideo(t, b, "b", mediaWait)
	b.Wait("sharp frames", sharpness+` > 20`, mediaWait)
	var sharp float64
	b.Eval(sharpness, &sharp)
	a.Eval(`P.applyVideoFilter({type: 'backgroundBlur', blurStrength: 'high'})`, nil)
	var filter struct{ Type, BlurStrength string }
	a.Eval(`P.getVideoFilter()`, &filter)
	if filter.Type != "backgroundBlur" || filter.BlurStrength != "high" {
		t.Errorf("getVideoFilter() = %+v", filter)
	}
	b.Wait("blurred frames", sharpness+` < `+jsFloat(sharp/4), mediaWait)
	var blurred float64
	b.Eval(sharpness, &blurred)
	t.Logf("sharpness: %.2f, blurred %.2f", sharp, blurred)
	a.Eval(`P.clearVideoFilter()`, nil)
	b.Wait("sharp frames again", sharpness+` > `+jsFloat(sharp*0.8), mediaWait)
	browsertest.WaitDecodedVideo(t, b, "b", mediaWait)

	// The videoFilter property applies the filter once the camera is
	// captured: its preview shows the blurred track.
	a.Eval(`window.Q = OT.initPublisher(document.body, {insertMode: 'append', audioSource: null, videoFilter: {type: 'backgroundBlur'}})`, nil)
	a.Wait("the videoFilter property applied", `Q.getVideoFilter() && Q.getVideoFilter().blurStrength === 'low' &&
		Q.mediaStream.getVideoTracks()[0] !== Q.getVideoSource().track && Q.getVideoSource().type === 'camera'`, mediaWait)

	var res jsResult
	a.Eval(`P.applyVideoFilter({type: 'backgroundReplacement', backgroundImgUrl: '/x.png'}).then(() => ({}), failure)`, &res)
	if res.Error == nil || res.Error.Name != "OT_NOT_SUPPORTED" {
		t.Errorf("backgroundReplacement: %+v", res.Error)
	}
}

// jsFloat writes f as a JavaScript number.
func jsFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
