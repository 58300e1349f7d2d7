package crossbar_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/crossbar-rtc/crossbar"
	"github.com/crossbar-rtc/crossbar/internal/firefoxtest"
	"github.com/crossbar-rtc/crossbar/sfu"
)

// watchCaptions is the page code that subscribes to every stream and logs
// the captionReceived events of its subscribers; with captions, it asks
// for them as opentok.js's pages do, with subscribeToCaptions(true).
const watchCaptions = `(captions) => {
  window.caps = [];
  window.subscribedToCaptions = [];
  S.on('streamCreated', async (e) => {
    const sub = S.subscribe(e.stream, document.body, { insertMode: 'append' });
    sub.on('captionReceived', (c) => caps.push({ streamId: c.streamId, caption: c.caption, isFinal: c.isFinal }));
    if (captions) await sub.subscribeToCaptions(true);
    subscribedToCaptions.push(sub.isSubscribedToCaptions());
  });
}`

// captionsPage is a Chromium or Firefox test page.
type captionsPage interface {
	Eval(js string, out any)
	Wait(what, js string, timeout time.Duration)
	WaitInboundAudio(timeout time.Duration)
}

// mark sends page p a signal from the host and waits until it arrived:
// what the server sent p before has arrived too.
func mark(t *testing.T, s *crossbar.Session, p captionsPage, data string) {
	t.Helper()
	var conn string
	p.Eval(`S.connection.connectionId`, &conn)
	if err := s.Signal(crossbar.SignalOptions{To: conn, Type: "mark", Data: data}); err != nil {
		t.Fatal(err)
	}
	p.Wait("signal "+data, fmt.Sprintf(`log.some((e) => e.type === 'signal:mark' && e.data === %q)`, data), mediaWait)
}

// A Chromium page publishes its fake microphone with captions; while the
// session has captions, a page subscribed to them gets the fixed
// transcript's lines in order, as captionReceived events, only while the
// publisher publishes captions; a page that did not ask gets none.
func TestJSCaptions(t *testing.T) {
	stt := &countingSTT{}
	r := newJSRigConfig(t, crossbar.Config{Media: sfu.Config{LoopbackOnly: true}, Captions: stt.stt()})
	s := r.session()
	reader, _ := r.join("reader", s, crossbar.RoleSubscriber)
	deaf, _ := r.join("deaf", s, crossbar.RoleSubscriber)
	speaker, _ := r.join("speaker", s, crossbar.RolePublisher)
	checkCaptions(t, r, s, stt, speaker, reader, deaf)
}

// TestFirefoxCaptions is TestJSCaptions with a Firefox page speaking and
// another reading.
func TestFirefoxCaptions(t *testing.T) {
	ff := firefoxtest.New(t)
	stt := &countingSTT{}
	r := newJSRigConfig(t, crossbar.Config{Media: sfu.Config{LoopbackOnly: true}, Captions: stt.stt()})
	s := r.session()
	reader, _ := r.joinFirefox(ff, r.url+"/", "reader", s)
	deaf, _ := r.join("deaf", s, crossbar.RoleSubscriber)
	speaker, _ := r.joinFirefox(ff, r.url+"/", "speaker", s)
	checkCaptions(t, r, s, stt, speaker, reader, deaf)
}

// checkCaptions has speaker publish with captions, reader subscribe to
// them and deaf not, and checks what they get.
func checkCaptions(t *testing.T, r *jsRig, s *crossbar.Session, stt *countingSTT, speaker tab, reader, deaf captionsPage) {
	reader.Eval(`(`+watchCaptions+`)(true)`, nil)
	deaf.Eval(`(`+watchCaptions+`)(false)`, nil)
	stream := publish(t, speaker, `{publishCaptions: true, resolution: '320x240'}`)
	reader.Wait("subscribed to captions", `subscribedToCaptions[0] === true && S.streams.find().hasCaptions === true`, mediaWait)
	deaf.Wait("not subscribed to captions", `subscribedToCaptions[0] === false`, mediaWait)
	reader.WaitInboundAudio(mediaWait)

	if _, err := r.srv.StartCaptions(context.Background(), s.ID(), crossbar.CaptionsOptions{}); err != nil {
		t.Fatal(err)
	}
	reader.Wait("4 captions", `caps.length >= 4`, mediaWait)
	type caption struct {
		StreamID string `json:"streamId"`
		Caption  string `json:"caption"`
		IsFinal  bool   `json:"isFinal"`
	}
	var caps []caption
	reader.Eval(`caps`, &caps)
	for i, want := range transcriptLines {
		if c := caps[i]; c.Caption != want || !c.IsFinal || c.StreamID != stream {
			t.Errorf("caption %d: %+v, want %q final of %s", i, c, want, stream)
		}
	}
	if n := stt.packets.Load(); n < 40 {
		t.Errorf("the recognizer got %d audio packets for 800 ms of captions, want at least 40", n)
	}
	// Whatever the server sent the deaf page is in by the mark.
	mark(t, s, deaf, "deaf")
	var deafCaps int
	deaf.Eval(`caps.length`, &deafCaps)
	if deafCaps != 0 {
		t.Errorf("a page not subscribed to captions got %d", deafCaps)
	}

	// publishCaptions(false): the recognizer closes and the captions
	// stop; back on, a new one starts from the first line.
	reader.Eval(`S.on('streamPropertyChanged', (e) => { if (e.changedProperty === 'hasCaptions' && !e.newValue) window.capsAtOff = caps.length; })`, nil)
	speaker.Eval(`P.publishCaptions(false)`, nil)
	reader.Wait("hasCaptions false", `window.capsAtOff !== undefined && S.streams.find().hasCaptions === false`, mediaWait)
	waitFor(t, mediaWait, "the recognizer to close", func() bool { return stt.closed.Load() == 1 })
	mark(t, s, reader, "off")
	var atOff, now int
	reader.Eval(`capsAtOff`, &atOff)
	reader.Eval(`caps.length`, &now)
	if now != atOff {
		t.Errorf("%d captions came after publishCaptions(false)", now-atOff)
	}
	speaker.Eval(`P.publishCaptions(true)`, nil)
	reader.Wait("captions again", `caps.length > capsAtOff`, mediaWait)
	var first string
	reader.Eval(`caps[capsAtOff].caption`, &first)
	if first != transcriptLines[0] {
		t.Errorf("first caption after publishCaptions(true): %q, want %q", first, transcriptLines[0])
	}

	// Unpublishing ends the stream's transcription.
	speaker.Eval(`S.unpublish(P)`, nil)
	waitFor(t, mediaWait, "the recognizer to close", func() bool { return stt.closed.Load() == 2 })
}
