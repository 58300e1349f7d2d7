package main

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/crossbar-rtc/crossbar/examples/internal/apptest"
	"github.com/crossbar-rtc/crossbar/internal/browsertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(browsertest.Main(m))
}

const wait = 20 * time.Second

// click clicks the button labelled label in the moderator's table row for id.
func click(t *testing.T, p *browsertest.Page, table, id, label string) {
	t.Helper()
	p.Eval(fmt.Sprintf(`[...document.querySelectorAll('#%s tr[data-id=%q] button')].find((b) => b.textContent === %q).click()`, table, id, label), nil)
}

func ownStream(t *testing.T, p *browsertest.Page) string {
	t.Helper()
	var id string
	p.Eval(`new Promise((resolve) => { const p = OT.publishers.find();
		p.stream ? resolve(p.stream.streamId) : p.on('streamCreated', (e) => resolve(e.stream.streamId)); })`, &id)
	return id
}

func TestModeratorMutesUnpublishesAndDisconnects(t *testing.T) {
	url, _ := apptest.Serve(t, handler)
	b := browsertest.New(t)
	ann := b.Open(t, "Ann", url+"/?room=mod&name=Ann")
	bob := b.Open(t, "Bob", url+"/?room=mod&name=Bob")
	for _, p := range []*browsertest.Page{ann, bob} {
		p.WaitVideos("#grid .OT_subscriber:not(.OT_loading) video", 1, wait)
	}
	annStream, bobStream := ownStream(t, ann), ownStream(t, bob)
	var annID string
	ann.Eval(`OT.sessions.find().connection.connectionId`, &annID)

	mod := b.Open(t, "moderator", url+"/moderator?room=mod")
	mod.Wait("two people and two streams listed",
		`document.querySelectorAll('#connections tr').length === 2 && document.querySelectorAll('#streams tr').length === 2`, wait)

	// Mute: Ann's client turns its audio off and everyone sees it.
	click(t, mod, "streams", annStream, "Mute")
	ann.Wait("Ann told", `document.getElementById('notice').textContent === 'The moderator muted you.'`, wait)
	ann.Wait("Ann's track off", `OT.publishers.find().getAudioSource().enabled === false`, wait)
	bob.Wait("Bob sees Ann muted", fmt.Sprintf(`OT.sessions.find().streams.get(%q).hasAudio === false`, annStream), wait)
	mod.Wait("table shows muted", fmt.Sprintf(`document.querySelector('#streams tr[data-id=%q] td:nth-child(2)').textContent === 'muted'`, annStream), wait)

	// Mute everyone: Bob cannot unmute until the moderator allows it.
	mod.Eval(`document.getElementById('muteall').click()`, nil)
	bob.Wait("Bob told", `document.getElementById('notice').textContent === 'The moderator muted everyone.'`, wait)
	bob.Wait("Bob's track off", `OT.publishers.find().getAudioSource().enabled === false`, wait)
	bob.Eval(`OT.publishers.find().publishAudio(true)`, nil)
	bob.Wait("unmute refused", `OT.publishers.find().getAudioSource().enabled === false`, wait)
	ann.Wait("Ann sees Bob muted", fmt.Sprintf(`OT.sessions.find().streams.get(%q).hasAudio === false`, bobStream), wait)
	mod.Eval(`document.getElementById('unmuteall').click()`, nil)
	bob.Wait("Bob told", `document.getElementById('notice').textContent === 'The moderator allows unmuting again.'`, wait)
	bob.Eval(`OT.publishers.find().publishAudio(true)`, nil)
	ann.Wait("Ann hears Bob again", fmt.Sprintf(`OT.sessions.find().streams.get(%q).hasAudio === true`, bobStream), wait)

	// Stop stream: Bob's publisher goes; Ann loses his video.
	click(t, mod, "streams", bobStream, "Stop stream")
	bob.Wait("Bob told", `document.getElementById('status').textContent === 'The moderator stopped your video.'`, wait)
	bob.Wait("Bob's tile removed", `document.querySelectorAll('#grid .OT_publisher').length === 0`, wait)
	ann.Wait("Ann's subscriber removed", `document.querySelectorAll('#grid .OT_subscriber').length === 0`, wait)
	mod.Wait("one stream listed", `document.querySelectorAll('#streams tr').length === 1`, wait)

	// Disconnect: Ann is out; Bob and the moderator see her go.
	click(t, mod, "connections", annID, "Disconnect")
	ann.Wait("Ann told", `document.getElementById('status').textContent === 'The moderator removed you from the room.'`, wait)
	ann.Wait("Ann's publisher removed", `document.querySelectorAll('#grid .OT_publisher').length === 0`, wait)
	mod.Wait("one person listed", `document.querySelectorAll('#connections tr').length === 1 && document.querySelectorAll('#streams tr').length === 0`, wait)
	bob.Wait("Bob sees Ann go", `OT.sessions.find().connections.length === 2`, wait)
}

func TestOnlyModeratorsModerate(t *testing.T) {
	url, _ := apptest.Serve(t, handler)
	b := browsertest.New(t)
	ann := b.Open(t, "Ann", url+"/?room=perm&name=Ann")
	bob := b.Open(t, "Bob", url+"/?room=perm&name=Bob")
	bob.WaitVideos("#grid .OT_subscriber:not(.OT_loading) video", 1, wait)
	annStream := ownStream(t, ann)
	var annID string
	ann.Eval(`OT.sessions.find().connection.connectionId`, &annID)
	for _, c := range []struct {
		call string
		code int
	}{
		{fmt.Sprintf(`forceDisconnect(%q)`, annID), 1520},
		{fmt.Sprintf(`forceUnpublish(%q)`, annStream), 1530},
		{fmt.Sprintf(`forceMuteStream(%q)`, annStream), 1540},
		{`forceMuteAll()`, 1540},
	} {
		var got struct {
			Name string
			Code int
		}
		bob.Eval(`OT.sessions.find().`+c.call+`.then(() => ({}), (e) => ({name: e.name, code: e.code}))`, &got)
		if got.Code != c.code || got.Name != "OT_PERMISSION_DENIED" {
			t.Errorf("%s by a publisher: %+v, want OT_PERMISSION_DENIED %d", c.call, got, c.code)
		}
	}
	ann.WaitVideos("#grid .OT_subscriber:not(.OT_loading) video", 1, wait)
}
