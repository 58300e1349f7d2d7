package crossbar_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/internal/firefoxtest"
	"github.com/crossbar-rtc/crossbar/sfu"
)

// A Firefox page and a Chromium page in one routed session publish their
// cameras; each decodes the other's video and receives its audio, and
// signals go both ways. (Firefox runs inside a network namespace: see
// package firefoxtest.)
func TestFirefoxAndChromiumExchangeMedia(t *testing.T) {
	ff := firefoxtest.New(t)
	r := newJSRig(t)
	s := r.session()
	chrome, chromeID := r.join("chromium", s, crossbar.RolePublisher)
	fox, foxID := r.joinFirefox(ff, r.url+"/", "firefox", s)

	for name, p := range map[string]interface{ Eval(string, any) }{"chromium": chrome, "firefox": fox} {
		var pub jsResult
		p.Eval(`publish()`, &pub)
		if pub.Error != nil {
			t.Fatalf("%s: publish: %+v", name, pub.Error)
		}
		p.Eval(`subscribeAll()`, nil)
	}
	chrome.WaitVideos(subscriberVideos, 1, mediaWait)
	chrome.WaitInboundAudio(mediaWait)
	fox.WaitDecodedVideo(mediaWait)
	fox.WaitInboundAudio(mediaWait)

	fox.Eval(`S.signal({type: 'hello', data: 'from firefox'})`, nil)
	chrome.Wait("firefox's signal", fmt.Sprintf(`log.some((e) => e.type === 'signal:hello' && e.data === 'from firefox' && e.from === %q)`, foxID), 5e9)
	chrome.Eval(`S.signal({type: 'hello', data: 'from chromium'})`, nil)
	fox.Wait("chromium's signal", fmt.Sprintf(`log.some((e) => e.type === 'signal:hello' && e.data === 'from chromium' && e.from === %q)`, chromeID), 5e9)
}

// A Firefox page whose link drops resumes its connection with every signal
// it missed, once and in order, and nobody sees it leave.
func TestFirefoxResumesWithoutLosingOrRepeatingMessages(t *testing.T) {
	ff := firefoxtest.New(t)
	r := newJSRig(t)
	s := r.session()
	px, viaProxy := newProxy(t, r.url)
	fox, _ := r.joinFirefox(ff, viaProxy+"/", "flaky", s)
	other, _ := r.join("steady", s, crossbar.RolePublisher)
	checkResumesPage(t, px, fox, other)
}

// A Firefox page whose signaling link is cut resumes it and restarts ICE
// on both its peer connections; its media carries on, with the same ids.
func TestFirefoxResumeRestartsICE(t *testing.T) {
	ff := firefoxtest.New(t)
	r := newJSRigConfig(t, crossbar.Config{ReconnectGrace: 30 * time.Second, Media: sfu.Config{LoopbackOnly: true}})
	s := r.session()
	px, viaProxy := newProxy(t, r.url)
	fox, _ := r.joinFirefox(ff, viaProxy+"/", "mover", s)
	checkResumeRestartsICE(t, r, s, px, fox)
}

// Firefox publishes its camera in simulcast layers, which the engine
// receives.
func TestFirefoxPublishesSimulcast(t *testing.T) {
	ff := firefoxtest.New(t)
	r := newJSRig(t)
	_, st := foxPublishes(t, ff, r, r.session())
	var layers []sfu.LayerInfo
	if !poll(mediaWait, func() bool {
		layers = st.Publisher().VideoLayers()
		active := 0
		for _, l := range layers {
			if l.Active && l.Bitrate > 0 {
				active++
			}
		}
		return active >= 2
	}) {
		t.Fatalf("layers %+v: want at least two sent", layers)
	}
	t.Logf("Firefox's layers: %+v", layers)
}

// TestFirefoxConnectToFirstFrame measures the time from session.connect to
// the first decoded video frame in Firefox of a stream Chromium publishes,
// over ten pages, and logs the median (TestJSConnectToFirstFrame is
// Chromium's).
func TestFirefoxConnectToFirstFrame(t *testing.T) {
	ff := firefoxtest.New(t)
	r := newJSRig(t)
	s := r.publishedSession(t)
	open := func(name string) tab { return ff.Open(t, name, r.url+"/") }
	checkFirstFrame(t, r.logFirstFrames(t, "Firefox: connect", s, open, connectToFirstFrame))
}

// joinFirefox opens the test page at url in Firefox and connects it to s
// with a publisher token for name; it returns the page and its connection
// id.
func (r *jsRig) joinFirefox(ff *firefoxtest.Browser, url, name string, s *crossbar.Session) (*firefoxtest.Page, string) {
	r.t.Helper()
	p := ff.Open(r.t, name, url)
	var res jsResult
	p.Eval(call("join", s.ID(), r.token(s, crossbar.RolePublisher, name)), &res)
	if res.Error != nil {
		r.t.Fatalf("firefox page %s: connect: %+v", name, res.Error)
	}
	return p, res.ID
}

// In a VP9 session Firefox, which cannot send spatial layers, publishes
// VP9 in simulcast layers, which a Chromium page decodes.
func TestFirefoxPublishesVP9(t *testing.T) {
	ff := firefoxtest.New(t)
	r := newJSRig(t)
	s, err := r.srv.CreateSession(context.Background(), crossbar.SessionOptions{VideoCodec: crossbar.VP9})
	if err != nil {
		t.Fatal(err)
	}
	fox, st := foxPublishes(t, ff, r, s)
	var svc any
	fox.Eval(`navigator.mediaCapabilities.encodingInfo({type: 'webrtc', video: {contentType: 'video/VP9', width: 1280, height: 720, bitrate: 1e6, framerate: 30, scalabilityMode: 'L3T3_KEY'}}).then((r) => JSON.stringify(r), (e) => 'error: ' + e)`, &svc)
	sub, _ := r.join("chromium", s, crossbar.RoleSubscriber)
	sub.Eval(`subscribeAll()`, nil)
	sub.WaitVideos(subscriberVideos, 1, mediaWait)
	var sender struct{ Encodings, Codec, Fmtp string }
	fox.Eval(`(async () => {
  const s = P.transceivers.find((x) => x.sender.track.kind === 'video').sender;
  const out = {encodings: s.getParameters().encodings.map((e) => e.scalabilityMode || e.rid || '-').join()};
  (await s.getStats()).forEach((r) => {
    if (r.type === 'codec') Object.assign(out, {codec: r.mimeType, fmtp: r.sdpFmtpLine || ''});
  });
  return out;
})()`, &sender)
	layers := st.Publisher().VideoLayers()
	t.Logf("Firefox: L3T3_KEY encodingInfo %v; encodings %s, codec %s %s; layers %+v", svc, sender.Encodings, sender.Codec, sender.Fmtp, layers)
	if sender.Encodings != "q,h,f" || sender.Codec != "video/VP9" {
		t.Errorf("Firefox sends %+v, want VP9 in simulcast layers q, h, f", sender)
	}
	if len(layers) < 2 || layers[0].Width == 0 {
		t.Errorf("layers %+v: want simulcast layers of known sizes", layers)
	}
}

// foxPublishes opens a Firefox page that joins s and publishes its camera
// at 1280x720, and returns the page and the stream.
func foxPublishes(t *testing.T, ff *firefoxtest.Browser, r *jsRig, s *crossbar.Session) (*firefoxtest.Page, *crossbar.Stream) {
	t.Helper()
	fox, _ := r.joinFirefox(ff, r.url+"/", "firefox", s)
	var pub jsResult
	fox.Eval(`publish({resolution: '1280x720'})`, &pub)
	if pub.Error != nil {
		t.Fatalf("firefox: publish: %+v", pub.Error)
	}
	st, err := s.Stream(pub.ID)
	if err != nil {
		t.Fatal(err)
	}
	return fox, st
}

// Firefox switches its published video from one track of the app's to
// another, and through a MediaProcessorConnector, which a Chromium page
// shows in one stream; it has no MediaStreamTrackProcessor, so
// applyVideoFilter is not supported, and says so beforehand.
func TestFirefoxSwitchesSourcesAndConnectors(t *testing.T) {
	ff := firefoxtest.New(t)
	r := newJSRig(t)
	s := r.session()
	chrome, _ := r.join("chromium", s, crossbar.RolePublisher)
	fox, _ := r.joinFirefox(ff, r.url+"/", "firefox", s)
	for _, p := range []interface{ Eval(string, any) }{chrome, fox} {
		p.Eval(paintTools, nil)
		p.Eval(connectorTools, nil)
	}
	var f featureCheck
	fox.Eval(features, &f)
	t.Logf("Firefox: %+v", f)
	if f.System != 1 || !f.E2EE || f.Processors || !slices.Contains(f.Codecs.VideoEncoders, "VP8") {
		t.Errorf("Firefox's checks %+v: want WebRTC, E2EE and VP8 without media processors", f)
	}

	chrome.Eval(`subscribeAll()`, nil)
	publish(t, fox, `{videoSource: painted('red')}`)
	chrome.Wait("Firefox's red", colourJS("red"), mediaWait)
	chrome.Eval(`window.sub = OT.subscribers.find(); log.length = 0`, nil)
	fox.Eval(`P.setVideoSource(painted('blue'))`, nil)
	chrome.Wait("Firefox's blue", colourJS("blue"), mediaWait)
	fox.Eval(`P.setVideoMediaProcessorConnector(paintConnector('lime'))`, nil)
	chrome.Wait("Firefox's connector's green", colourJS("green"), mediaWait)
	fox.Eval(`P.setVideoMediaProcessorConnector(null)`, nil)
	chrome.Wait("Firefox's blue again", colourJS("blue"), mediaWait)
	var events []string
	chrome.Eval(`OT.subscribers.length === 1 && OT.subscribers.find() === sub ? types() : ['another subscriber']`, &events)
	if len(events) != 0 {
		t.Errorf("events %v while Firefox switched", events)
	}

	var res jsResult
	fox.Eval(`P.applyVideoFilter({type: 'backgroundBlur'}).then(() => ({}), failure)`, &res)
	if res.Error == nil || res.Error.Name != "OT_NOT_SUPPORTED" {
		t.Errorf("Firefox's applyVideoFilter: %+v", res.Error)
	}
	var outputs any
	fox.Eval(`OT.getAudioOutputDevices().then((list) => OT.setAudioOutputDevice('no-such-output').then(() => ({list}), (err) => ({list, error: err.name})))`, &outputs)
	t.Logf("Firefox's audio outputs: %v", outputs)
}
